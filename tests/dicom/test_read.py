"""read_header: the one way a file is opened; header only, and a reason for every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.corpus import CORPUS
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from xrf_assets.core.dicom.read import DEFER_SIZE, read_header
from xrf_assets.core.errors import ExtractionError

XA = "1.2.840.10008.5.1.4.1.1.12.1"
RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
PIXELS = 4096


def image(sop_class: str = XA) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.2.9"
    ds.Modality = "XA"
    ds.StationName = "CATHLAB1"
    ds.add_new(0x00291010, "OB", b"\1" * (DEFER_SIZE + 2))  # a private blob, deferred
    ds.KVP = "80"
    return ds


def part10(ds: Dataset, path: Path, pixels: bytes | None = b"\0" * PIXELS) -> Path:
    if pixels is not None:
        ds.add_new(0x7FE00010, "OB", pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path


def cut(path: Path, size: int) -> Path:
    out = path.with_name(f"cut-{size}.dcm")
    out.write_bytes(path.read_bytes()[:size])
    return out


def refused(path: Path) -> str:
    with pytest.raises(ExtractionError) as info:
        read_header(path)
    return info.value.reason


def test_reads_the_header_and_stops_before_pixel_data(tmp_path: Path) -> None:
    ds = read_header(part10(image(), tmp_path / "a.dcm"))
    assert (ds.SOPClassUID, ds.KVP, "PixelData" in ds) == (XA, 80.0, False)
    assert ds.get_item(0x00291010, keep_deferred=True).value is None  # left on disk
    assert ds[0x00291010].value == b"\1" * (DEFER_SIZE + 2)  # and read on demand


def test_reads_a_bare_implicit_dataset_without_preamble(tmp_path: Path) -> None:
    ds = image()
    ds.add_new(0x7FE00010, "OW", b"\0" * PIXELS)
    ds.save_as(tmp_path / "bare.dcm", implicit_vr=True, little_endian=True)
    assert read_header(tmp_path / "bare.dcm").StationName == "CATHLAB1"


BIG_REPORT = "RF-Pat-Orientation-Modifier-Missing.dcm"  # 3.3 MB, 316 events: seconds in pydicom


def _real_reports() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"real corpus not found at {CORPUS}")
    return sorted(CORPUS.glob("*.dcm"))


def test_reads_every_real_dose_report() -> None:
    paths = [p for p in _real_reports() if p.name != BIG_REPORT]
    classes = [read_header(p).SOPClassUID for p in paths]
    assert len(classes) == 16
    assert classes.count(RDSR) == 15
    assert classes.count("1.2.840.10008.5.1.4.1.1.88.22") == 1  # Siemens Varic Enhanced SR


@pytest.mark.slow
def test_reads_the_largest_real_dose_report() -> None:
    path = next(p for p in _real_reports() if p.name == BIG_REPORT)
    assert read_header(path).SOPClassUID == RDSR


@pytest.mark.parametrize(
    "content",
    [b"", b"Patient list, not DICOM\n" * 20, bytes(range(256)) * 40, b"\0" * 128 + b"DICM"],
    ids=["empty", "text", "binary", "preamble-only"],
)
def test_non_dicom_content_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(content)
    assert refused(path) == "not a DICOM instance: no valid SOP Class UID (0008,0016)"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path / "gone.dcm") == "cannot read file: No such file or directory"


def test_file_meta_without_transfer_syntax_is_refused(tmp_path: Path) -> None:
    ds = image()
    ds.add_new(0x7FE00010, "OB", b"\0" * PIXELS)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(XA)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta = meta
    ds.save_as(tmp_path / "nots.dcm", implicit_vr=False, little_endian=True)
    assert "Transfer Syntax UID (0002,0010)" in refused(tmp_path / "nots.dcm")


def test_cut_files_are_refused(tmp_path: Path) -> None:
    full = part10(image(), tmp_path / "a.dcm")
    data = full.read_bytes()
    pixel_tag = data.index(b"\xe0\x7f\x10\x00")
    blob = data.index(b"\x29\x00\x10\x10")
    assert refused(cut(full, blob + 100)) == ("truncated file: it ends inside element (0029,1010)")
    assert refused(cut(full, pixel_tag)) == (
        "truncated file: an XA/XRF image that ends before its Pixel Data (7FE0,0010)"
    )
    assert refused(cut(full, pixel_tag + 5)) == (
        "truncated file: 5 bytes after element (0029,1010) are not a whole element"
    )
    assert refused(cut(full, pixel_tag + 12 + 1000)) == (
        f"truncated file: Pixel Data (7FE0,0010) states {PIXELS} bytes, the file holds 1000"
    )
    assert read_header(cut(full, len(data))).KVP == 80.0  # the whole file is fine


def test_report_cut_inside_its_content_sequence_is_refused(tmp_path: Path) -> None:
    report = image(RDSR)
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = "x" * 200
    report.ContentSequence = Sequence([item, item])
    full = part10(report, tmp_path / "sr.dcm", pixels=None)
    assert read_header(full).ContentSequence[1].TextValue == "x" * 200
    assert refused(cut(full, full.stat().st_size - 150)).startswith("truncated file: ")
