"""The direct image read gives the general path's outcome, or declines: never another outcome.

Differential: every file is read both ways (``_read_direct``, ``_read_general``), in both privacy
modes, and the outcomes (kind, status, reason, issues, header, rows) must be equal wherever the
direct read answers. Over the demo corpus (broken files included), the generated small corpus,
the real dose reports (declined: they go through the general path) and mutated copies of images:
truncated at many offsets, bytes flipped through the header, other character sets, missing
attributes, padded, multi-valued, empty and invalid values. The direct read must also actually
answer for the plain generated images, and the mutants it declines must be declined for a reason.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pydicom
import pytest
from builders.corpus import CORPUS

from xrf_assets.core.ingest import read_file
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.read_file import FileOutcome, ReaderContext
from xrf_assets.synth import GroundTruth

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "dicom"
PRIVACY = (
    PrivacySettings("pseudonymize", b"direct read test key, not secret"),
    PrivacySettings("identified"),
)


def _compare(root: Path, paths: list[str]) -> list[FileOutcome]:
    """Both ways for every path and privacy mode; the direct outcomes (of the first mode)."""
    taken: list[FileOutcome] = []
    for i, privacy in enumerate(PRIVACY):
        ctx = ReaderContext(root, privacy, read_ahead=0)
        for p in paths:
            direct = read_file._read_direct(ctx, p, None)
            if direct is not None:
                assert direct == read_file._read_general(ctx, p, None), p
                assert read_file.read_one(ctx, p) == direct
                if i == 0:
                    taken.append(direct)
    return taken


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_demo_corpus_same_outcomes() -> None:
    if not DEMO.is_dir():
        pytest.skip("no demo corpus: make demo generates data/demo")
    paths = _files(DEMO)
    taken = _compare(DEMO, paths)
    # every plain image of the demo is read directly; broken files and reports are not
    assert len(taken) >= 2500
    assert {o.kind for o in taken} == {"image"} and {o.status for o in taken} == {"ok"}
    assert all(o.rows["images"][0]["patient_name"] != "" for o in taken)


def test_small_corpus_same_outcomes(small_corpus: tuple[Path, GroundTruth]) -> None:
    root, truth = small_corpus
    dicom = root / "dicom"
    taken = _compare(dicom, _files(dicom))
    images = set(truth.images["source_path"].to_list())
    assert {o.path for o in taken} == images  # each generated image, and nothing else
    rows = {o.path: o.rows["images"][0] for o in taken}
    for expected in truth.images.iter_rows(named=True):
        row = rows[expected["source_path"]]
        assert row["sop_instance_uid"] == expected["sop_instance_uid"]
        assert row["irradiation_event_uids"] == expected["irradiation_event_uids"]


def test_real_reports_are_declined() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"real corpus not found at {CORPUS}")
    paths = _files(CORPUS)
    assert paths
    assert _compare(CORPUS, paths) == []


def _mutants(image: Path, out: Path) -> list[str]:
    """Copies of ``image`` damaged or odd in the ways the direct read must decline or match."""
    data = image.read_bytes()
    out.mkdir()
    names: list[str] = []

    def write(name: str, content: bytes) -> None:
        (out / name).write_bytes(content)
        names.append(name)

    pixels = data.rfind(b"\xe0\x7f\x10\x00")
    for cut in [*range(0, pixels + 16, max(pixels // 60, 1)), len(data) - 1]:
        write(f"cut{cut}.dcm", data[:cut])
    for at in range(132, pixels + 12, 7):  # VR, length and value bytes, every 7th
        flipped = bytearray(data)
        flipped[at] ^= 0x5A
        write(f"flip{at}.dcm", bytes(flipped))

    def variant(name: str, **changes: object) -> None:
        ds = pydicom.dcmread(image)
        for keyword, value in changes.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(out / name)
        names.append(name)

    variant("latin1.dcm", SpecificCharacterSet="ISO_IR 100", PatientName="Müller^Jürgen")
    variant("utf8.dcm", SpecificCharacterSet="ISO_IR 192", PatientName="Ødegård^Åse")
    variant("iso2022.dcm", SpecificCharacterSet="ISO 2022 IR 100", PatientName="Müller^Anna")
    variant("gb18030.dcm", SpecificCharacterSet="GB18030", InstitutionName="医院")
    variant("unknown_charset.dcm", SpecificCharacterSet="ISO_IR 999")
    for keyword in ("SOPInstanceUID", "Modality", "StudyInstanceUID", "SOPClassUID", "KVP"):
        variant(f"no_{keyword}.dcm", **{keyword: None})
    variant("empty_uid.dcm", SOPInstanceUID="")
    variant("modality_multi.dcm", Modality="XA\\RF")
    variant("modality_lower.dcm", Modality="xa")
    variant("uid_letters.dcm", StudyInstanceUID="1.2.abc.4")
    variant("uid_leading_zero.dcm", StudyInstanceUID="1.02.3")
    variant("kvp_multi.dcm", KVP="70\\80")
    variant("kvp_junk.dcm", KVP="12345.6789")
    junk = (out / "kvp_junk.dcm").read_bytes().replace(b"12345.6789", b"seventy!!!")
    (out / "kvp_junk.dcm").write_bytes(junk)
    variant("kvp_empty.dcm", KVP="")
    variant("name_padded.dcm", PatientName="  Doe^Jane  ", PatientID="ID\\2")
    variant("date_junk.dcm", StudyDate="2026-13-45", PatientBirthDate="19601302")
    variant("frames_zero.dcm", NumberOfFrames="0")
    variant("frame_vector.dcm", FrameTimeVector=["0", "33.3", "33.4", " 33.2 "])
    variant("long_vector.dcm", NumberOfFrames="3000", FrameTimeVector=["33.333"] * 3000)
    ds = pydicom.dcmread(image)
    ds.SOPInstanceUID = ds.SOPInstanceUID + " "  # space padding pydicom strips
    ds.save_as(out / "uid_space.dcm")
    names.append("uid_space.dcm")
    return names


def test_mutated_images_same_outcomes_or_declined(
    tmp_path: Path, small_corpus: tuple[Path, GroundTruth]
) -> None:
    root, truth = small_corpus
    image = root / "dicom" / truth.images["source_path"][0]
    shutil.copy(image, tmp_path / "plain.dcm")
    with warnings.catch_warnings():  # pydicom warns on writing what it is given here
        warnings.simplefilter("ignore")
        names = ["plain.dcm", *_mutants(image, tmp_path / "m")]
    paths = [names[0], *(f"m/{n}" for n in names[1:])]
    taken = {o.path: o for o in _compare(tmp_path, paths)}
    assert "plain.dcm" in taken
    # what pydicom would convert, warn about or decode otherwise is the general path's
    for declined in ("iso2022", "gb18030", "unknown_charset", "modality_lower", "uid_letters"):
        assert f"m/{declined}.dcm" not in taken
    for name in ("modality_multi", "uid_leading_zero", "long_vector"):
        assert f"m/{name}.dcm" not in taken
    assert not any(p.startswith("m/cut") for p in taken if p != f"m/cut{len(image.read_bytes())}")
    # and what it is sure of it reads: other charsets' text, missing and odd values
    latin = taken["m/latin1.dcm"].rows["images"][0]
    assert latin["patient_name"] == PRIVACY[0].pseudonym("patient_name", "Müller^Jürgen")
    assert taken["m/utf8.dcm"].status == "ok"
    assert taken["m/no_SOPInstanceUID.dcm"].reason == "SOP Instance UID (0008,0018) missing"
    assert taken["m/no_KVP.dcm"].rows["images"][0]["kvp_kv"] is None
    junk = taken["m/kvp_junk.dcm"]
    assert junk.rows["images"][0]["kvp_kv"] is None
    assert any("KVP (0018,0060): not a number" in i for i in junk.issues)
    assert taken["m/frame_vector.dcm"].rows["images"][0]["frame_time_vector_max_ms"] == 33.4
    assert len(taken) > 20 and any(p.startswith("m/flip") for p in taken)
