"""Read-ahead: the first bytes of the next files are read in threads while one is parsed.

It must change nothing but the timing (same outcomes, in order, for real reports, generated
images and reports and broken files), and an image header must cost one read call. (The threads
start only where a first read is slow, ``slow_read_s``; these tests force them on.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from builders.corpus import CORPUS

from xrf_assets.core.dicom import elements
from xrf_assets.core.ingest import read_file
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.read_file import ReaderContext, read_many, read_one
from xrf_assets.synth import GroundTruth

PRIVACY = PrivacySettings("pseudonymize", b"read-ahead test key, not secret")


def _tree(tmp_path: Path, small_corpus: tuple[Path, GroundTruth]) -> tuple[Path, list[str]]:
    """The small generated corpus, the real reports, an empty file and a path that vanished."""
    root, _ = small_corpus
    tree = tmp_path / "tree"
    shutil.copytree(root / "dicom", tree / "synth")
    real = sorted(CORPUS.glob("*.dcm")) if CORPUS.is_dir() else []
    (tree / "real").mkdir()
    for p in real:
        shutil.copy(p, tree / "real" / p.name)
    (tree / "empty.dcm").write_bytes(b"")
    paths = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    return tree, [*paths, "gone/missing.dcm"]


def test_read_ahead_gives_the_same_outcomes(
    tmp_path: Path, small_corpus: tuple[Path, GroundTruth]
) -> None:
    tree, paths = _tree(tmp_path, small_corpus)
    plain = [read_one(ReaderContext(tree, PRIVACY, read_ahead=0), p) for p in paths]
    ahead = read_many(ReaderContext(tree, PRIVACY, read_ahead=4, slow_read_s=0.0), paths)
    assert [o.path for o in ahead] == paths
    assert ahead == plain
    by_path = {o.path: o for o in ahead}
    assert by_path["empty.dcm"].reason == "empty file (0 bytes)"
    assert by_path["gone/missing.dcm"].status == "rejected"
    assert by_path["gone/missing.dcm"].reason.startswith("cannot read file")
    kinds = {o.kind for o in ahead if o.status == "ok"}
    assert kinds == {"image", "dose_report"}


def test_fast_storage_reads_without_threads(small_corpus: tuple[Path, GroundTruth]) -> None:
    """From the page cache the first read takes microseconds: no thread pool is started."""
    root, truth = small_corpus
    images = truth.images["source_path"].to_list()[:10]
    ctx = ReaderContext(root / "dicom", PRIVACY, read_ahead=3, slow_read_s=10.0)
    out = read_many(ctx, images)
    assert [o.status for o in out] == ["ok"] * len(images)
    assert 3 not in read_file._READ_AHEAD


def test_an_image_header_costs_one_read(
    small_corpus: tuple[Path, GroundTruth], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read ahead or not, one ``pread`` of at most 64 KB per image, and nothing else read."""
    root, truth = small_corpus
    images = truth.images["source_path"].to_list()[:20]
    calls: list[int] = []
    real_pread = os.pread

    def counted(fd: int, n: int, offset: int) -> bytes:
        calls.append(n)
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", counted)
    for read_ahead in (0, 4):
        calls.clear()
        ctx = ReaderContext(root / "dicom", PRIVACY, read_ahead=read_ahead, slow_read_s=0.0)
        out = read_many(ctx, images)
        assert [o.status for o in out] == ["ok"] * len(images)
        assert calls == [elements.CHUNK] * len(images)
        assert elements.CHUNK == 64 * 1024
