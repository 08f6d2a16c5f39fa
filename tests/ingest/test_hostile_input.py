"""Every kind of bad input a PACS export can hold: each gets a status, a reason and a log line,
and the run goes on."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pydicom
import pytest
from builders.corpus import CORPUS
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from xrf_assets.core.dicom.sop_classes import XA_IMAGE
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.read_file import FileOutcome, ReaderContext, read_one
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import IngestSettings, run_ingest
from xrf_assets.core.store import TableStore

REPORT = CORPUS / "Dual-RDSR-DX.dcm"  # 1 event, DAP 2.39e-6 Gy.m2 (122130, unit "Gym2")
KEY = b"hostile input test key"
pytestmark = pytest.mark.skipif(not REPORT.exists(), reason=f"real corpus not found at {CORPUS}")


def xa_image(uid: str = "1.2.3.4.1", pixels: bool = True, **attrs: object) -> Dataset:
    """A minimal XA image: enough header for ``images``, 8x8 pixels of one byte."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = XA_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = XA_IMAGE, uid
    ds.StudyDate, ds.Modality, ds.Manufacturer = "20260901", "XA", "Siemens"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Hostile^Harry", "PID-77", "19600102"
    ds.KVP = "80"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.9", "1.2.3.9.1"
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    if pixels:
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 8, 8, 7
        ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = bytes(64)
    return ds


def save(ds: Dataset, path: Path, **kw: object) -> bytes:
    """Write Part 10 (preamble, DICM, File Meta Information) unless ``kw`` says otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, **{"enforce_file_format": True, **kw})
    return path.read_bytes()


def report_with(path: Path, change: Callable[[Dataset], None]) -> None:
    ds = pydicom.dcmread(REPORT)
    change(ds)
    save(ds, path)


def _unit_of_dap(ds: Dataset) -> None:
    """Replace the unit of every Dose Area Product (122130) with one nobody knows."""

    def walk(items: list[Dataset]) -> None:
        for item in items:
            concept = item.get("ConceptNameCodeSequence")
            if concept and concept[0].CodeValue == "122130":
                item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "furlong"
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)


def nested_sequence_bytes(depth: int) -> bytes:
    """(0040,0275) nested ``depth`` levels deep, undefined lengths, explicit VR little endian."""
    open_ = struct.pack("<HH2sHL", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF) + struct.pack(
        "<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF
    )
    close = struct.pack("<HHL", 0xFFFE, 0xE00D, 0) + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    return open_ * depth + close * depth


def meta_end(part10: bytes) -> int:
    """Offset of the data set: preamble, DICM, (0002,0000) element, then the group length."""
    return 132 + 12 + struct.unpack("<L", part10[140:144])[0]


def build_tree(root: Path) -> None:
    """One file per hostile case (names say which); see the expectations in ``EXPECTED``."""
    save(xa_image("1.2.3.4.1"), root / "good.dcm")
    (root / "empty.dcm").write_bytes(b"")
    (root / "notes.txt").write_text("not a DICOM file\n")
    whole = save(xa_image("1.2.3.4.2"), root / "tmp_whole.dcm")
    (root / "tmp_whole.dcm").unlink()
    (root / "no_preamble.dcm").write_bytes(whole[132:])
    raw = xa_image("1.2.3.4.3")
    raw.file_meta = FileMetaDataset()
    save(
        raw,
        root / "bare_dataset.dcm",
        implicit_vr=True,
        little_endian=True,
        enforce_file_format=False,
    )
    (root / "truncated_header.dcm").write_bytes(whole[:400])
    (root / "truncated_pixels.dcm").write_bytes(whole[:-20])
    wrong = xa_image("1.2.3.4.4")
    wrong.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # the data set stays explicit
    explicit = save(xa_image("1.2.3.4.4"), root / "wrong_ts.dcm")
    implicit = save(wrong, root / "tmp.dcm")
    (root / "tmp.dcm").unlink()
    wrong_bytes = implicit[: meta_end(implicit)] + explicit[meta_end(explicit) :]
    (root / "wrong_ts.dcm").write_bytes(wrong_bytes)
    no_ts = xa_image("1.2.3.4.5")
    del no_ts.file_meta.TransferSyntaxUID
    no_ts.preamble = bytes(128)
    save(
        no_ts,
        root / "missing_ts.dcm",
        implicit_vr=False,
        little_endian=True,
        enforce_file_format=False,
    )
    report_with(root / "sr/broken_tree.dcm", lambda ds: delattr(ds, "ContentSequence"))
    report_with(root / "sr/unknown_units.dcm", _unit_of_dap)
    no_uid = xa_image("1.2.3.4.6")
    del no_uid.SOPInstanceUID
    save(no_uid, root / "no_sop_instance_uid.dcm")
    save(xa_image("1.2.3.4.1"), root / "copies/same_uid_older.dcm")
    os.utime(root / "copies/same_uid_older.dcm", ns=(0, 1_000_000_000))
    deep = save(xa_image("1.2.3.4.7"), root / "deeply_nested.dcm")
    pixel_element = len(deep) - 12 - 64  # (7FE0,0010) OB: 12 bytes of header, 64 of pixels
    (root / "deeply_nested.dcm").write_bytes(
        deep[:pixel_element] + nested_sequence_bytes(5000) + deep[pixel_element:]
    )
    huge = xa_image("1.2.3.4.8")
    item = Dataset()
    item.RequestedProcedureID = "RP1"
    huge.RequestAttributesSequence = [item] * 20000
    save(huge, root / "huge_sequence.dcm")
    save(
        xa_image(
            "1.2.3.4.9",
            SpecificCharacterSet=["", "ISO 2022 IR 87"],
            PatientName="Yamada^Tarou=山田^太郎=やまだ^たろう",
        ),
        root / "charset_jis.dcm",
    )
    save(
        xa_image("1.2.3.4.10", SpecificCharacterSet="ISO_IR 192", PatientName="Müller^Jürgen"),
        root / "charset_utf8.dcm",
    )
    save(
        xa_image("1.2.3.4.12", SpecificCharacterSet="ISO_IR 100", PatientName="Gérard^Zoë"),
        root / "charset_latin1.dcm",
    )
    with warnings.catch_warnings():  # pydicom warns (and logs the value) on writing it too
        warnings.simplefilter("ignore")
        save(xa_image("1.2.3.4.13", PatientBirthDate="1960-01-02"), root / "bad_birth_date.dcm")
        save(xa_image("1.2.3.4.x15"), root / "odd_uid.dcm")
    (root / "loop").mkdir()
    (root / "loop" / "back").symlink_to(root)


# path -> (kind, status, words in the reason or None for no reason)
EXPECTED: dict[str, tuple[str, str, str | None]] = {
    "good.dcm": ("image", "ok", None),
    "empty.dcm": ("unknown", "rejected", "empty file (0 bytes)"),
    "notes.txt": ("unknown", "rejected", "not a DICOM instance"),
    "no_preamble.dcm": ("image", "ok", None),
    "bare_dataset.dcm": ("image", "ok", None),
    "truncated_header.dcm": ("image", "rejected", "truncated"),
    "truncated_pixels.dcm": ("image", "rejected", "Pixel Data (7FE0,0010)"),
    "wrong_ts.dcm": ("image", "rejected", "it says implicit VR, the data set is encoded explicit"),
    "missing_ts.dcm": ("image", "rejected", "Transfer Syntax UID (0002,0010)"),
    "sr/broken_tree.dcm": ("dose_report", "rejected", None),
    "sr/unknown_units.dcm": ("dose_report", "ok", None),
    "no_sop_instance_uid.dcm": ("image", "rejected", "SOP Instance UID (0008,0018) missing"),
    "copies/same_uid_older.dcm": ("image", "duplicate", "same SOP Instance UID as 'good.dcm'"),
    "deeply_nested.dcm": ("image", "rejected", "RecursionError"),
    "huge_sequence.dcm": ("image", "ok", None),
    "charset_jis.dcm": ("image", "ok", None),
    "charset_utf8.dcm": ("image", "ok", None),
    "charset_latin1.dcm": ("image", "ok", None),
    "bad_birth_date.dcm": ("image", "ok", None),
    "odd_uid.dcm": ("image", "ok", None),
    "loop/back": ("unknown", "ignored", "already walked"),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "in"
    build_tree(root)
    return root


def run(
    root: Path, out: Path, privacy: PrivacySettings, caplog: pytest.LogCaptureFixture
) -> dict[str, pl.DataFrame]:
    with caplog.at_level(logging.INFO, logger="hostile"):
        settings = IngestSettings(root, RoomDirectory(), privacy, workers=1)
        run_ingest(settings, TableStore(out), logging.getLogger("hostile"))
    store = TableStore(out)
    return {t: store.read(t) for t in ("dicom_files", "images", "irradiation_events")}


def test_every_hostile_file_has_a_status_reason_and_log_line(
    hostile: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    got = run(hostile, tmp_path / "out", PrivacySettings("identified"), caplog)
    files = {r["path"]: r for r in got["dicom_files"].iter_rows(named=True)}
    lines = [line for m in caplog.messages for line in m.splitlines()]
    assert set(files) == set(EXPECTED)
    for path, (kind, status, words) in EXPECTED.items():
        row = files[path]
        assert (path, row["kind"], row["status"]) == (path, kind, status)
        if status == "ok":
            assert row["reason"] is None, path
        else:
            assert row["reason"], path
            assert words is None or words in row["reason"], (path, row["reason"])
            if status in ("rejected", "duplicate", "ignored"):
                assert any(path in ln and row["reason"] in ln for ln in lines), path
    names = dict(got["images"].select("source_path", "patient_name").iter_rows())
    assert names["charset_utf8.dcm"] == "Müller^Jürgen"
    assert names["charset_latin1.dcm"] == "Gérard^Zoë"
    kept = got["images"].filter(pl.col("sop_instance_uid") == "1.2.3.4.1")
    assert kept["source_path"].to_list() == ["good.dcm"]
    event = got["irradiation_events"].row(0, named=True)
    assert event["source_path"] == "sr/unknown_units.dcm"
    assert event["dap_gy_m2"] is None and "furlong" in event["unit_issues"]
    assert event["dose_rp_gy"] == pytest.approx(3.5e-5)
    assert "furlong" in files["sr/unknown_units.dcm"]["issues"]
    # pydicom's own warnings become issues, their quoted values blanked
    assert files["odd_uid.dcm"]["issues"].startswith("pydicom: Invalid value for VR UI: '…'.")
    assert "x15" not in files["odd_uid.dcm"]["issues"]
    for m in caplog.messages:  # every logger, pydicom's included
        for identity in ("Hostile", "PID-77", "Müller", "1960-01-02", "19600102"):
            assert identity not in m, m


def test_non_ascii_names_are_hashed_as_decoded(
    hostile: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    privacy = PrivacySettings("pseudonymize", KEY)
    got = run(hostile, tmp_path / "out", privacy, caplog)
    names = dict(got["images"].select("source_path", "patient_name").iter_rows())
    file_id = privacy.file_id  # paths are published as keyed file ids
    assert names[file_id("charset_utf8.dcm")] == privacy.pseudonym("patient_name", "Müller^Jürgen")
    assert names[file_id("charset_latin1.dcm")] == privacy.pseudonym("patient_name", "Gérard^Zoë")
    # ISO 2022 (multi-valued Specific Character Set) is 7-bit: its bytes are all ASCII, yet they
    # must be decoded through the escape sequences, not read as ASCII.
    jis = got["images"].filter(pl.col("source_path") == file_id("charset_jis.dcm"))["patient_name"][
        0
    ]
    assert jis == privacy.pseudonym("patient_name", "Yamada^Tarou=山田^太郎=やまだ^たろう")


# The interpreter lives under /root (mode 0700): import and warm up everything first, then drop
# to user nobody for the one read under test.
_READ_AS_NOBODY = """
import json, os, sys
from pathlib import Path
from xrf_assets.core.ingest.read_file import ReaderContext, read_one
from xrf_assets.core.ingest.privacy import PrivacySettings
ctx = ReaderContext(Path(sys.argv[1]), PrivacySettings("identified"))
warm = read_one(ctx, "open.dcm")
os.setgid(65534)
os.setuid(65534)
out = read_one(ctx, "locked.dcm")
print(json.dumps([warm.status, out.kind, out.status, out.reason]))
"""


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX user ids")
def test_file_unreadable_for_permissions_is_rejected() -> None:
    """Root ignores file modes, so the read runs in a subprocess dropped to user nobody."""
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs root; as a normal user chmod alone works")
    folder = Path(tempfile.mkdtemp(prefix="xrf-perm-"))
    try:
        folder.chmod(0o755)
        save(xa_image("1.2.3.4.11"), folder / "locked.dcm")
        save(xa_image("1.2.3.4.12"), folder / "open.dcm")
        (folder / "locked.dcm").chmod(0o000)
        result = subprocess.run(
            [sys.executable, "-c", _READ_AS_NOBODY, str(folder)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        warm, kind, status, reason = json.loads(result.stdout.strip().splitlines()[-1])
        assert (warm, kind, status) == ("ok", "unknown", "rejected")
        assert "Permission denied" in reason
    finally:
        shutil.rmtree(folder)


def read(root: Path, name: str) -> FileOutcome:
    return read_one(ReaderContext(root, PrivacySettings("identified")), name)


def flipped(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with the one element header starting ``old`` (tag and VR) changed to ``new``."""
    assert data.count(old) == 1
    return data.replace(old, new)


AVERAGE_PULSE_WIDTH = b"\x18\x00\x54\x11DS"  # (0018,1154) DS, little endian
EXPOSURE_TIME_AS_DS = b"\x18\x00\x50\x11DS"  # (0018,1150): one bit (0x04) cleared
TUBE_CURRENT = b"\x18\x00\x51\x11IS"  # (0018,1151) IS
FLUORO_TUBE_CURRENT = b"\x18\x00\x41\x11IS"  # (0018,1141): one bit (0x10) cleared


def technique_image(path: Path) -> bytes:
    image = xa_image("1.2.3.4.20", ExposureTime=248, XRayTubeCurrent=410, Exposure=102)
    image.AveragePulseWidth = "6.2"
    return save(image, path)


@pytest.mark.parametrize(
    ("old", "new", "issue", "gone"),
    [
        (
            AVERAGE_PULSE_WIDTH,
            EXPOSURE_TIME_AS_DS,
            "tag (0018,1150) repeated after (0018,1152)",
            ("exposure_time_ms", "exposure_mas"),
        ),
        (
            TUBE_CURRENT,
            FLUORO_TUBE_CURRENT,
            "tag (0018,1141) out of ascending order after (0018,1150)",
            ("exposure_time_ms",),
        ),
    ],
    ids=["repeated", "out-of-order"],
)
def test_flipped_tag_in_an_image_is_an_issue_and_its_values_are_null(
    tmp_path: Path, old: bytes, new: bytes, issue: str, gone: tuple[str, ...]
) -> None:
    """Issue 13 item 4: pydicom alone reads the flipped (0018,1154) as Exposure Time 6.2 ms,
    silently; the walker leaves out both elements at the break and says so."""
    good = technique_image(tmp_path / "good.dcm")
    (tmp_path / "flipped.dcm").write_bytes(flipped(good, old, new))
    if new == EXPOSURE_TIME_AS_DS:
        assert pydicom.dcmread(tmp_path / "flipped.dcm").ExposureTime == 6.2  # the trap
    expected = {"kvp_kv": 80.0, "tube_current_ma": 410.0, "exposure_time_ms": 248.0}
    expected |= {"exposure_mas": 102.0}
    ok = read(tmp_path, "good.dcm")
    assert (ok.status, ok.issues) == ("ok", [])
    assert {k: ok.rows["images"][0][k] for k in expected} == expected
    out = read(tmp_path, "flipped.dcm")
    assert (out.kind, out.status, out.reason) == ("image", "ok", None)
    assert out.issues == [
        f"malformed DICOM: {issue} in the data set; both attributes left out (read as absent)"
    ]
    row = out.rows["images"][0]
    if new == FLUORO_TUBE_CURRENT:  # (0018,1151) now reads (0018,1141), which is left out
        expected["tube_current_ma"] = None
    assert {k: row[k] for k in expected} == expected | dict.fromkeys(gone)
    assert row["sop_instance_uid"] == "1.2.3.4.20"


def test_flipped_tag_in_a_real_report_is_an_issue_and_its_event_value_null(
    tmp_path: Path,
) -> None:
    """A real report: Code Meaning (0008,0104) of the event's Dose Area Product concept flipped
    to (0008,0100) repeats Code Value: the concept cannot be told, so DAP is null, not guessed."""
    data = REPORT.read_bytes()
    at = data.index(b"\x08\x00\x04\x01LO\x12\x00Dose Area Product ")  # the event's 122130
    (tmp_path / "flipped.dcm").write_bytes(data[: at + 2] + b"\x00" + data[at + 3 :])
    (tmp_path / "good.dcm").write_bytes(data)
    good = read(tmp_path, "good.dcm")
    assert good.rows["irradiation_events"][0]["dap_gy_m2"] == pytest.approx(2.39e-6)
    out = read(tmp_path, "flipped.dcm")
    assert (out.kind, out.status) == ("dose_report", "ok")
    assert out.issues == [
        "malformed DICOM: tag (0008,0100) repeated after (0008,0102) in an SR content item; "
        "both attributes left out (read as absent)"
    ]
    [event] = out.rows["irradiation_events"]
    assert event["dap_gy_m2"] is None
    assert event["dose_rp_gy"] == pytest.approx(3.5e-5)
    [total] = out.rows["accumulated_dose"]
    assert total["dap_total_gy_m2"] == pytest.approx(2.39e-6)  # another item, intact


def test_damaged_bytes_are_malformed_not_unreadable(tmp_path: Path) -> None:
    """Issue 13 item 7: pydicom raises OSError on a sequence cut short; that is damage, not a
    permission or I/O error ("cannot read file: ..." is kept for those)."""
    report = pydicom.dcmread(REPORT)
    report["ContentSequence"].is_undefined_length = True
    for item in report.ContentSequence:
        item.is_undefined_length_sequence_item = True
    data = save(report, tmp_path / "whole.dcm")
    (tmp_path / "cut.dcm").write_bytes(data[:-8])  # its last Sequence Delimitation Item
    out = read(tmp_path, "cut.dcm")
    assert (out.kind, out.status) == ("dose_report", "rejected")
    assert out.reason is not None
    assert out.reason.startswith("not a readable DICOM file: OSError: No tag to read at file")
    assert read(tmp_path, "missing.dcm").reason == "cannot read file: No such file or directory"


def test_a_damaged_root_concept_name_is_the_files_fault(tmp_path: Path) -> None:
    """The root's Concept Name Code Sequence (0040,A043) with its item tag zeroed: the report
    cannot be identified, a reason that says so, not an "unexpected ... please report it"."""
    data = bytearray(REPORT.read_bytes())
    at = data.find(b"\x40\x00\x43\xa0")  # the first (0040,A043): the root's, explicit VR
    data[at + 12] = 0  # (FFFE,E000) of its item -> (FF00,E000)
    (tmp_path / "root.dcm").write_bytes(data)
    out = read(tmp_path, "root.dcm")
    assert (out.kind, out.status) == ("dose_report", "rejected")
    assert out.reason == (
        "root Concept Name Code Sequence (0040,A043) cannot be read (tag (FF00,E000) where an "
        "item is expected): the report cannot be identified"
    )


def test_an_unknown_vr_is_damage_not_a_bug(tmp_path: Path) -> None:
    """Modality (0008,0060) with its VR bytes "CS" changed to "C\\0": pydicom's
    NotImplementedError when the value is read names the damage (found by fuzzing the corpus)."""
    data = bytearray(REPORT.read_bytes())
    at = data.find(b"\x08\x00\x60\x00CS")
    data[at + 5] = 0
    (tmp_path / "vr.dcm").write_bytes(data)
    out = read(tmp_path, "vr.dcm")
    assert out.status == "rejected"
    assert out.reason == (
        "not a readable DICOM file: Unknown Value Representation '0x43 0x00' in tag (0008,0060)"
    )
