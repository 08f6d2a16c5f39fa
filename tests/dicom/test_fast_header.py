"""read_fast: the fast header path gives exactly what pydicom's reader gives, or None.

Differential: every file is read both ways and compared value by value (sequences item by item),
raw element by raw element (deferred or not, value position) and by what extraction makes of it;
read_header must give the same dataset or the same refusal with and without the fast path. The
fast path must also actually be taken for the generated images and reports and the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from builders.corpus import CORPUS
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from xrf_assets.core.dicom import read as dicom_read
from xrf_assets.core.dicom.fast_header import read_fast
from xrf_assets.core.dicom.read import DEFER_SIZE, read_header, sop_class_uid
from xrf_assets.core.dicom.sop_classes import IMAGE_SOP_CLASSES
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import extract_report, is_dose_report
from xrf_assets.core.extract.images import extract_image
from xrf_assets.synth import SynthConfig, generate

XA = "1.2.840.10008.5.1.4.1.1.12.1"
ENHANCED_XA = "1.2.840.10008.5.1.4.1.1.12.1.1"
EVENT_UID = "1.2.826.0.1.3680043.10.2.77"


def fast(path: Path) -> FileDataset | None:
    with open(path, "rb") as fp:
        return read_fast(fp, DEFER_SIZE)


def slow(path: Path) -> FileDataset:
    """What read_header's pydicom path reads."""
    return pydicom.dcmread(path, stop_before_pixels=True, defer_size=DEFER_SIZE, force=True)


def values(ds: Dataset) -> dict[int, Any]:
    """Every converted value; sequences item by item (deferred values are read)."""
    return {int(e.tag): [values(item) for item in e.value] if e.VR == "SQ" else e.value for e in ds}


def layout(ds: Dataset) -> dict[int, tuple[int, bool, bool]]:
    """Per top-level element as read: (value position, left on disk, undefined length)."""
    out = {}
    for tag in list(ds.keys()):
        e = ds.get_item(tag, keep_deferred=True)
        if isinstance(e, RawDataElement):
            out[int(tag)] = (e.value_tell, e.value is None, e.length == 0xFFFFFFFF)
        else:  # pydicom parses undefined-length sequences as it reads
            out[int(tag)] = (e.file_tell, False, e.is_undefined_length)
    return out


def outcome(extract: Callable[..., Any], ds: Dataset) -> Any:
    try:
        return extract(ds)
    except ExtractionError as exc:
        return ("refused", exc.reason)


def image_row(ds: Dataset) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    return extract_image(ds, "a/b.dcm", problems), problems


def report(ds: Dataset) -> Any:
    return extract_report(ds, "a/b.dcm")


def same_as_pydicom(path: Path) -> bool:
    """Compare the fast read of ``path`` with pydicom's; False if the fast path declined.

    Each dataset is used once, unconverted, as in the pipeline: the layout of its raw elements
    first, then extraction (which converts sequences lazily), then every value.
    """
    new = fast(path)
    if new is None:
        return False
    old = slow(path)
    assert layout(new) == layout(old), path
    if sop_class_uid(old) in IMAGE_SOP_CLASSES:
        assert outcome(image_row, new) == outcome(image_row, old), path
    elif is_dose_report(old):
        assert outcome(report, new) == outcome(report, old), path
    assert values(new) == values(old), path
    assert values(new.file_meta) == values(old.file_meta), path
    assert type(new.file_meta) is FileMetaDataset
    attrs = ("preamble", "original_encoding", "original_character_set", "filename", "timestamp")
    assert [getattr(new, a) for a in attrs] == [getattr(old, a) for a in attrs], path
    assert new.fileobj_type is old.fileobj_type
    assert new.file_meta.original_encoding == old.file_meta.original_encoding
    return True


def header_outcome(path: Path) -> Any:
    """read_header's dataset as read (raw elements, file meta), or its refusal."""
    try:
        ds = read_header(path)
    except ExtractionError as exc:
        return ("refused", exc.reason)
    return layout(ds), values(ds.file_meta), ds.original_encoding


def assert_read_header_unchanged(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_header gives the same dataset, or the same refusal, without the fast path."""
    with_fast = header_outcome(path)
    with monkeypatch.context() as m:
        m.setattr(dicom_read, "read_fast", lambda fp, defer_size, head=None: None)
        assert header_outcome(path) == with_fast, path


@pytest.mark.parametrize(
    "config",
    [SynthConfig.small(seed=11), SynthConfig.demo(seed=4).scaled(1)],
    ids=["small", "demo-scaled"],
)
def test_generated_corpus(
    config: SynthConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = generate(tmp_path, config)
    root = tmp_path / "dicom"
    taken = {p: same_as_pydicom(root / p) for p in truth.files["path"]}
    for path in truth.files["path"]:
        assert_read_header_unchanged(root / path, monkeypatch)
    plain = truth.files.filter(truth.files["kind"].is_in(["image", "dose_report"]))
    plain = plain.filter(plain["status"] == "ok")
    assert plain.height > 20
    assert [p for p in plain["path"] if not taken[p]] == []  # else the speed-up is fictional
    broken = truth.files.filter(truth.files["kind"] == "unknown")["path"]
    assert broken.len() and not any(taken[p] for p in broken)


def _real_reports() -> list[Any]:
    """One case per real report; the two largest (1-3 MB of SR content) are marked slow."""
    if not CORPUS.is_dir():
        reason = f"real corpus not found at {CORPUS.resolve()}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [
        pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.stat().st_size > 1e6 else [])
        for p in sorted(CORPUS.glob("*.dcm"))
    ]


@pytest.mark.parametrize("path", _real_reports())
def test_real_reports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert same_as_pydicom(path)  # all are Explicit or Implicit VR Little Endian
    assert_read_header_unchanged(path, monkeypatch)


def test_real_corpus_notes_are_refused_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"real corpus not found at {CORPUS.resolve()}")
    assert len(list(CORPUS.glob("*.dcm"))) >= 10
    assert fast(CORPUS / "SOURCES.md") is None
    assert_read_header_unchanged(CORPUS / "SOURCES.md", monkeypatch)


def _item(**attrs: Any) -> Dataset:
    item = Dataset()
    for keyword, value in attrs.items():
        setattr(item, keyword, value)
    return item


def _undefined(seq: Sequence) -> Sequence:
    for item in seq:
        item.is_undefined_length_sequence_item = True
    return seq


def xa_image() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]  # multi-valued
    ds.SOPClassUID = XA
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.2.1"
    ds.StudyDate, ds.StudyTime = "20260914", "101500.25"
    ds.Modality = "XA"
    ds.Manufacturer = "Siemens"
    ds.StationName = "CATHLAB1"
    ds.InstitutionName = "Hôpital Saint-Éloi"  # non-ASCII, ISO_IR 100
    ds.PatientName = "Müller^Jürgen"
    ds.PatientID = "P1"
    ds.KVP = "82.5"
    ds.XRayTubeCurrent = 410
    ds.ExposureTime = 6
    ds.PixelSpacing = ["0.154", "0.154"]
    ds.add_new(0x00083010, "UI", EVENT_UID)
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.2.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.2.3"
    ds.ReferencedStudySequence = _undefined(
        Sequence(
            [
                _item(
                    ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
                    ReferencedSOPInstanceUID="1.2.3.4",
                )
            ]
        )
    )
    ds["ReferencedStudySequence"].is_undefined_length = True
    ds.add_new(0x00290010, "LO", "SIEMENS MED")  # private block with a private sequence
    ds.add_new(0x00291001, "SQ", Sequence([_item(StationName="PRIVATE")]))
    ds.add_new(0x00291010, "OB", b"\1" * (DEFER_SIZE + 2))  # a private blob, deferred
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 4, 4, 8, 8, 7
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelRepresentation, ds.NumberOfFrames = 0, 1
    ds.PixelData = b"\0" * 16
    return ds


def enhanced_xa(frames: int) -> Dataset:
    """Enhanced XA: geometry and events in functional groups, nested undefined lengths."""
    ds = xa_image()
    ds.SOPClassUID = ENHANCED_XA
    del ds[0x00083010]
    ds.NumberOfFrames = frames
    shared = _item(
        XRayAcquisitionDoseSequence=_undefined(
            Sequence([_item(KVP="70", XRayTubeCurrentInmA=5.5)])
        ),
    )
    ds.SharedFunctionalGroupsSequence = _undefined(Sequence([shared]))
    ds["SharedFunctionalGroupsSequence"].is_undefined_length = True
    shared["XRayAcquisitionDoseSequence"].is_undefined_length = True
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        [
            _item(
                IrradiationEventIdentificationSequence=Sequence(
                    [_item(IrradiationEventUID=f"{EVENT_UID}.{i % 3}")]
                ),
                FrameContentSequence=Sequence([_item(FrameAcquisitionNumber=i)]),
            )
            for i in range(frames)
        ]
    )
    ds.PixelData = b"\0" * (16 * frames)
    return ds


def write(ds: Dataset, path: Path, syntax: str = ExplicitVRLittleEndian, **meta: Any) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    for keyword, value in meta.items():
        setattr(ds.file_meta, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def iso2022_image() -> Dataset:
    ds = xa_image()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎"
    ds.InstitutionName = "Hospital"
    return ds


def jpeg_image() -> Dataset:
    ds = xa_image()
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


PLAIN: dict[str, Callable[[Path], Path]] = {
    "explicit": lambda p: write(xa_image(), p),
    "implicit": lambda p: write(xa_image(), p, ImplicitVRLittleEndian),
    "enhanced-explicit": lambda p: write(enhanced_xa(4), p),
    "enhanced-implicit": lambda p: write(enhanced_xa(4), p, ImplicitVRLittleEndian),
    "enhanced-deferred-frames": lambda p: write(enhanced_xa(200), p),
    "iso2022": lambda p: write(iso2022_image(), p),
    "meta-extra": lambda p: write(
        xa_image(), p, ImplementationVersionName="FAST_1", SourceApplicationEntityTitle="CATH"
    ),
    "jpeg-baseline": lambda p: write(jpeg_image(), p, JPEGBaseline8Bit),
}


@pytest.mark.parametrize("build", PLAIN.values(), ids=PLAIN.keys())
def test_plain_files_take_the_fast_path(
    build: Callable[[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = build(tmp_path / "f.dcm")
    assert same_as_pydicom(path)
    assert_read_header_unchanged(path, monkeypatch)


def test_sequences_convert_as_pydicom_reads_them(tmp_path: Path) -> None:
    path = write(enhanced_xa(200), tmp_path / "f.dcm")
    ds = fast(path)
    assert ds is not None
    assert ds[0x52009229].is_undefined_length
    shared = ds.SharedFunctionalGroupsSequence[0].XRayAcquisitionDoseSequence[0]
    assert (shared.KVP, shared.XRayTubeCurrentInmA) == (70.0, 5.5)
    assert ds.get_item(0x52009230, keep_deferred=True).value is None  # > 16 KB: left on disk
    frames = ds.PerFrameFunctionalGroupsSequence
    events = [f.IrradiationEventIdentificationSequence[0].IrradiationEventUID for f in frames]
    assert events == [f"{EVENT_UID}.{i % 3}" for i in range(200)]
    assert frames[199].FrameContentSequence[0].FrameAcquisitionNumber == 199
    assert ds.InstitutionName == "Hôpital Saint-Éloi"
    assert ds[0x00291001].value[0].StationName == "PRIVATE"


def _cut_pixels(p: Path) -> Path:
    data = write(xa_image(), p).read_bytes()
    p.write_bytes(data[:-8])
    return p


def _trailing(p: Path) -> Path:
    write(_without_pixels(), p)
    with open(p, "ab") as out:
        out.write(b"\0\0\0")
    return p


def _without_pixels() -> Dataset:
    ds = xa_image()
    del ds.PixelData
    return ds


def _no_pixels(p: Path) -> Path:
    return write(_without_pixels(), p)


def _no_preamble(p: Path) -> Path:
    data = write(xa_image(), p).read_bytes()
    p.write_bytes(data[128:])
    return p


def _odd_length(p: Path) -> Path:
    data = bytearray(write(xa_image(), p).read_bytes())
    at = data.index(b"\x08\x00\x60\x00CS")  # Modality, "XA": length 2 -> 3
    data[at + 6] = 3
    p.write_bytes(bytes(data))
    return p


def _implicit_private_undefined_sq(p: Path) -> Path:
    ds = xa_image()
    ds[0x00291001].is_undefined_length = True
    return write(ds, p, ImplicitVRLittleEndian)


DECLINED: dict[str, Callable[[Path], Path]] = {
    "big-endian": lambda p: write(xa_image(), p, ExplicitVRBigEndian),
    "deflated": lambda p: write(xa_image(), p, DeflatedExplicitVRLittleEndian),
    "cut-pixel-data": _cut_pixels,
    "bytes-after-last-element": _trailing,
    "image-without-pixel-data": _no_pixels,
    "no-preamble": _no_preamble,
    "odd-length": _odd_length,
    "implicit-private-undefined-sq": _implicit_private_undefined_sq,
}


@pytest.mark.parametrize("build", DECLINED.values(), ids=DECLINED.keys())
def test_unusual_files_go_to_pydicom(
    build: Callable[[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = build(tmp_path / "f.dcm")
    assert fast(path) is None
    assert_read_header_unchanged(path, monkeypatch)


def test_refusals_keep_their_reasons(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="Pixel Data \\(7FE0,0010\\) states"):
        read_header(_cut_pixels(tmp_path / "a.dcm"))
    with pytest.raises(ExtractionError, match="ends before its Pixel Data"):
        read_header(_no_pixels(tmp_path / "b.dcm"))
    with pytest.raises(ExtractionError, match="3 bytes after element"):
        read_header(_trailing(tmp_path / "c.dcm"))
