"""A large image corpus for the first-run benchmarks, built fast from a header template.

The demo corpus (seed 42: 2,540 XA/RF images and 315 dose reports, ``make demo``'s) gives the
templates. Each template image is given what a real vendor's XA header carries on top of the
standard attributes (a private block: a private sequence of nested items, short private values
and a 2 KB private blob), so a header is 5-7 KB, as real Siemens/Philips XA headers are, not the
generator's lean 1.7 KB. Copies then differ only in SOP Instance UID (0008,0018) and Media Storage
SOP Instance UID (0002,0003), patched in the bytes with a UID of the same length: every file is a
distinct instance, so nothing is a duplicate, and building 40,000 files takes seconds. The demo's
dose reports are copied once, so linking and the monthly audit have events to work on (every copy
of an image links to its template's event). Pixel data stays the generator's 16 x 16 frames: both
sides of a comparison stop before pixels.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from xrf_assets.synth import SynthConfig, generate

KEY = "benchmark key, not a secret one"  # XRF_PSEUDONYM_KEY of the benchmark runs
_CREATOR = "XRF BENCH PRIVATE"


@dataclass(frozen=True)
class Corpus:
    root: Path  # the input tree
    paths: list[str]  # every file, relative
    images: int
    reports: int
    header_bytes_mean: float


def _vendor_block(ds: Dataset, seed: int) -> None:
    """Private elements as a vendor writes them: (0029,xx) with a creator, a sequence of
    nested items, short values and a blob."""
    block = ds.private_block(0x0029, _CREATOR, create=True)
    items = []
    for i in range(6):
        item = Dataset()
        item.add_new(0x00291010, "LO", f"FRAME GROUP {i}")
        item.add_new(0x00291011, "DS", [f"{seed % 97 + i}.5", "0.25", "-12.75"])
        item.add_new(0x00291012, "US", [i, 2 * i, 3 * i])
        nested = Dataset()
        nested.add_new(0x00291013, "SH", f"POS{i:02d}")
        nested.add_new(0x00291014, "FD", [0.1 * i, 0.2 * i])
        item.add_new(0x00291015, "SQ", Sequence([nested]))
        items.append(item)
    block.add_new(0x10, "SQ", Sequence(items))
    block.add_new(0x11, "LO", "ACQUISITION PROGRAM CARD 3 FPS")
    block.add_new(0x12, "OB", bytes((seed + i) % 251 for i in range(2048)))
    block.add_new(0x13, "UL", [seed, 7, 11, 13])
    ds.add_new(0x00181155, "CS", "GIP")  # Radiation Setting, as real XA sends
    ds.add_new(0x00181156, "CS", "COLUMN")


def _template(path: Path, seed: int) -> tuple[bytes, bytes]:
    ds = pydicom.dcmread(path)
    _vendor_block(ds, seed)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), str(ds.SOPInstanceUID).encode()


def _uid_variant(uid: bytes, copy: int) -> bytes:
    """``uid`` of the same length with its last digits replaced by ``copy``: a distinct UID."""
    tail = str(copy).encode()
    if copy == 0:
        return uid
    width = len(tail) + 1
    body = uid[:-width]
    assert body.count(b".") == uid.count(b".") and uid[-width - 1 : -width] != b".", uid
    return body + b"9" + tail.rjust(width - 1, b"0")


def build(out: Path, images: int) -> Corpus:
    """``images`` image files and the demo's dose reports under ``out / 'tree'`` (reused when it
    is already complete)."""
    synth = out / "synth"
    if not (synth / "truth" / "studies.parquet").exists():
        generate(synth, SynthConfig.preset("demo", seed=42))
    dicom = synth / "dicom"
    files = sorted(p for p in dicom.rglob("*") if p.is_file())
    image_files, report_files = [], []
    for p in files:
        try:
            modality = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["Modality"])
        except Exception:
            continue  # the demo's broken files are not part of this corpus
        kind = str(modality.get("Modality", ""))
        if kind in ("XA", "RF"):
            image_files.append(p)
        elif kind == "SR":
            report_files.append(p)
    tree = out / "tree"
    marker = tree / f".complete-{images}"
    paths: list[str] = []
    header_bytes = 0
    templates = [_template(p, i) for i, p in enumerate(image_files)]
    for i in range(images):
        t = i % len(templates)
        copy = i // len(templates)
        data, uid = templates[t]
        rel = image_files[t].relative_to(dicom).with_suffix("").as_posix() + f"_{copy:03d}.dcm"
        paths.append(rel)
        if not marker.exists():
            target = tree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.replace(uid, _uid_variant(uid, copy)))
        header_bytes += data.rfind(b"\xe0\x7f\x10\x00")
    for p in report_files:
        rel = p.relative_to(dicom).as_posix()
        paths.append(rel)
        if not marker.exists():
            target = tree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes())
    marker.touch()
    return Corpus(tree, sorted(paths), images, len(report_files), header_bytes / images)


def warm(corpus: Corpus) -> int:
    """Read every file once, so that every pass sees a warm page cache; the bytes on disk."""
    total = 0
    for p in corpus.paths:
        with open(corpus.root / p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
    return total


def env_for_run(dagster_home: Path | None) -> dict[str, str]:
    """The environment of an ``xrf-dose run`` as a user starts it: pseudonymized with a key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRF_", "DAGSTER_HOME"))}
    env["XRF_PSEUDONYM_KEY"] = KEY
    env["XRF_FIRST_MONTH"] = "2026-09"
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    return env
