"""Shards of the ingest: a stable shard function, shard walks that together are the whole walk,
tables equal to the single-step run's whatever the layout, and staging re-keyed (not read again)
when the shard settings change, safely if the re-key is killed."""

from __future__ import annotations

import logging
import os
import shutil
import zlib
from pathlib import Path

import polars as pl
import pytest
from builders.corpus import CORPUS
from polars.testing import assert_frame_equal

from xrf_assets.core.ingest import shards
from xrf_assets.core.ingest.discovery import discover
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.publish import SORT_KEYS
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import (
    TABLES,
    IngestSettings,
    IngestSummary,
    ingest_shard,
    run_ingest,
)
from xrf_assets.core.ingest.shards import SHARDS_DIR, ShardLayout, staged_layout
from xrf_assets.core.ingest.staging import STATE_DIR, StateError
from xrf_assets.core.store import TableStore

KEYED = PrivacySettings("pseudonymize", b"shard test key, sixteen bytes+")
# Real reports, each in its own room folder; the Siemens report and its copy re-filed under
# another study (SOURCES.md: same SOP Instance UID) sit in folders of different shards in every
# layout used here.
REPORTS = {
    "ROOM-A/2019/RF-RDSR-Siemens-Zee.dcm": "RF-RDSR-Siemens-Zee.dcm",
    "ROOM-D/2019/RF-RDSR-Siemens-Zee_adjusted.dcm": "RF-RDSR-Siemens-Zee_adjusted.dcm",
    "ROOM-C/2016/RF-RDSR-Philips_Allura.dcm": "RF-RDSR-Philips_Allura.dcm",
    "ROOM-B/2018/Dual-RDSR-RF.dcm": "Dual-RDSR-RF.dcm",
    "ROOM-E/2020/DX-RDSR-Carestream_DRXEvolution.dcm": "DX-RDSR-Carestream_DRXEvolution.dcm",
    "ROOM-F/2017/RF-RDSR-GE.dcm": "RF-RDSR-GE.dcm",
    "README.txt": None,
}
LAYOUTS = [ShardLayout(3, 1), ShardLayout(2, 2), ShardLayout(4, 1)]


def test_the_shard_of_a_path_is_a_crc32_of_its_leading_folders() -> None:
    # the same on every machine and process (Python's own hash() is salted per process)
    layout = ShardLayout(4, 2)
    path = "CATHLAB1/202609/ACC1/IMG0001.dcm"
    assert layout.shard_of(path) == zlib.crc32(b"CATHLAB1/202609") % 4 == 3
    assert layout.shard_of("CATHLAB1/202609/ACC2/SR01.dcm") == 3  # one folder, one shard
    assert ShardLayout(4, 1).shard_of(path) == zlib.crc32(b"CATHLAB1") % 4 == 0
    assert ShardLayout(4, 2).shard_of("README.txt") == zlib.crc32(b"README.txt") % 4
    assert ShardLayout(1).shard_of(path) == 0
    keep = ShardLayout(4, 2).keeps(2)
    assert keep is not None and keep("CATHLAB1", True)  # above the depth: walked by every shard
    assert not keep("CATHLAB1/202609", True)
    with pytest.raises(ValueError, match="at least 1"):
        ShardLayout(0)


@pytest.fixture(scope="module")
def linked_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rooms in different shards of two, with folder links into another shard, to the root, and
    to a folder of the same shard."""
    base = tmp_path_factory.mktemp("links")
    root = base / "in"
    layout = ShardLayout(2, 1)
    assert layout.shard_of("A") != layout.shard_of("D")
    assert layout.shard_of("A") == layout.shard_of("C")
    for rel in ("A/1/x.dcm", "D/2/y.dcm", "C/z.dcm"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"not read by discovery")
    os.symlink("../D/2", root / "A" / "to_d")  # into the other shard
    os.symlink("..", root / "A" / "to_root")
    os.symlink("../../C", root / "A" / "1" / "to_c")  # into its own shard
    os.symlink("../A/1", root / "D" / "to_a")
    return root


def test_the_shards_walks_together_are_the_whole_walk(linked_tree: Path) -> None:
    whole = discover(linked_tree)
    layout = ShardLayout(2, 1)
    parts = [discover(linked_tree, layout.keeps(k)) for k in range(2)]
    assert sorted((f for p in parts for f in p.files), key=lambda f: f.path) == list(whole.files)
    assert sorted((u for p in parts for u in p.unreadable), key=lambda u: u.path) == list(
        whole.unreadable
    )
    reasons = {u.path: u.reason_naming(str) for u in whole.unreadable}
    assert "'D/2', already walked" in reasons["A/to_d"]  # the real folder, walked by shard D


def copy_reports(root: Path) -> None:
    for rel, name in REPORTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if name is None:
            (root / rel).write_text("not DICOM")
        else:
            shutil.copy2(CORPUS / name, root / rel)


@pytest.fixture(scope="module")
def real_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS}")
    root = tmp_path_factory.mktemp("real") / "in"
    copy_reports(root)
    for layout in LAYOUTS:
        a, b = (layout.shard_of(p) for p in list(REPORTS)[:2])
        assert a != b, layout
    return root


def ingest(root: Path, out: Path, layout: ShardLayout, **kw: object) -> IngestSummary:
    settings = IngestSettings(root, RoomDirectory(), KEYED, workers=1, shards=layout, **kw)
    return run_ingest(settings, TableStore(out), logging.getLogger("shards"))


def tables(output: Path) -> dict[str, pl.DataFrame]:
    store = TableStore(output)
    return {t: store.read(t).sort(SORT_KEYS[t], nulls_last=True) for t in TABLES}


@pytest.fixture(scope="module")
def single_step(real_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "out"
    ingest(real_tree, out, ShardLayout())
    return out


def test_each_layout_gives_the_single_step_tables_and_a_copy_is_a_duplicate_across_shards(
    real_tree: Path, single_step: Path, tmp_path: Path
) -> None:
    reference = tables(single_step)
    zee = reference["dicom_files"].filter(pl.col("sop_instance_uid").is_duplicated())
    # Zee_adjusted: the Zee report under another study, with the same SOP Instance UID
    assert sorted(zee.get_column("status")) == ["duplicate", "ok"]
    assert (
        "differ in Study Instance UID" in zee.filter(pl.col("status") == "duplicate")["reason"][0]
    )
    for layout in LAYOUTS:
        out = tmp_path / f"{layout.count}x{layout.depth}"
        summary = ingest(real_tree, out, layout)
        assert summary.files_read == len(REPORTS)
        got = tables(out)
        for t in TABLES:
            assert_frame_equal(got[t], reference[t], check_row_order=True)


def test_a_changed_layout_is_re_keyed_without_reading_and_old_folders_go(
    real_tree: Path, single_step: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    assert ingest(real_tree, out, ShardLayout()).files_read == len(REPORTS)
    reference = tables(single_step)
    for layout in [*LAYOUTS, ShardLayout()]:
        with caplog.at_level(logging.WARNING):
            summary = ingest(real_tree, out, layout)
        assert summary.files_read == 0, layout
        assert summary.files_unchanged == len(REPORTS)
        assert staged_layout(out).key == layout.key
        got = tables(out)
        for t in TABLES:
            assert_frame_equal(got[t], reference[t], check_row_order=True)
        folders = {p.relative_to(out).as_posix() for p in out.glob("_*/**") if p.is_dir()}
        if layout.count == 1:
            assert STATE_DIR in folders and not any(f.startswith(f"{SHARDS_DIR}/") for f in folders)
        else:
            assert not (out / STATE_DIR).exists()
            owned = {f"{SHARDS_DIR}/{layout.count}x{layout.depth}"}
            assert {f.rsplit("/", 1)[0] for f in folders if f.count("/") == 2} == owned
    assert "re-keyed from 4 shard(s) of depth 1 to 1" in caplog.text


def test_a_re_key_killed_before_its_switch_leaves_the_old_layout(
    real_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    ingest(real_tree, out, ShardLayout(3, 1))
    before = tables(out)

    def killed(root: Path, layout: ShardLayout) -> None:
        raise KeyboardInterrupt  # as a kill between writing the new layout and naming it

    monkeypatch.setattr(shards, "_switch", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(real_tree, out, ShardLayout(2, 2))
    assert staged_layout(out).key == (3, 1)
    assert (out / SHARDS_DIR / "2x2").is_dir()  # the half-done new layout
    monkeypatch.undo()

    assert ingest(real_tree, out, ShardLayout(3, 1)).files_read == 0  # the old one still serves
    assert not (out / SHARDS_DIR / "2x2").exists()
    assert ingest(real_tree, out, ShardLayout(2, 2)).files_read == 0
    got = tables(out)
    for t in TABLES:
        assert_frame_equal(got[t], before[t], check_row_order=True)


def test_a_shard_step_refuses_staging_in_another_layout(real_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest(real_tree, out, ShardLayout(3, 1))
    stale = IngestSettings(real_tree, RoomDirectory(), KEYED, workers=1, shards=ShardLayout(2))
    with pytest.raises(StateError, match="in 3 shard\\(s\\) of depth 1, this step expects 2"):
        ingest_shard(stale, TableStore(out), 0, logging.getLogger("shards"))
