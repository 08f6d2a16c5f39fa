"""Image headers -> `images` rows: every column, each time source, Enhanced objects, bad values."""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from schemas import contract
from xrf_assets.core.dicom.read import read_header
from xrf_assets.core.dicom.sop_classes import (
    ENHANCED_XA_IMAGE,
    IMAGE_SOP_CLASSES,
    XA_IMAGE,
    XRF_IMAGE,
)
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.images import extract_image
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.store import frame_from_rows, validate

EVENT_1 = "1.2.826.0.1.3680043.10.1.1"
EVENT_2 = "1.2.826.0.1.3680043.10.1.2"


def xa_header(**overrides: Any) -> Dataset:
    """A single-plane XA cine run as a Siemens device writes it; ``None`` drops an attribute."""
    ds = Dataset()
    values: dict[str, Any] = {
        "SpecificCharacterSet": "ISO_IR 100",
        "ImageType": ["ORIGINAL", "PRIMARY", "SINGLE PLANE"],
        "SOPClassUID": XA_IMAGE,
        "SOPInstanceUID": "1.2.826.0.1.3680043.10.2.1",
        "StudyDate": "20260915",
        "AcquisitionDateTime": "20260915101530.250000+0200",
        "AcquisitionDate": "20260915",
        "AcquisitionTime": "101529",
        "ContentDate": "20260915",
        "ContentTime": "101600",
        "AccessionNumber": "ACC0001",
        "Modality": "XA",
        "Manufacturer": "Siemens",
        "InstitutionName": "Hôpital Général",
        "StationName": "CATHLAB1",
        "StudyDescription": "Coronary angiography",
        "InstitutionalDepartmentName": "Cardiology",
        "ManufacturerModelName": "AXIOM-Artis",
        "IrradiationEventUID": EVENT_1,
        "PatientName": "Müller^Hans",
        "PatientID": "P0001",
        "PatientBirthDate": "19560320",
        "PatientSex": "M",
        "PatientAge": "070Y",
        "PatientSize": "1.78",
        "PatientWeight": "82.5",
        "BodyPartExamined": "HEART",
        "KVP": "78.4",
        "ProtocolName": "Coro 15 fps",
        "DeviceSerialNumber": "12345",
        "SoftwareVersions": ["VC21C", "SP1"],
        "DistanceSourceToDetector": "1105.5",
        "DistanceSourceToPatient": "760",
        "FrameTime": "66.7",
        "ExposureTime": "7",
        "XRayTubeCurrent": "612",
        "Exposure": "4",
        "RadiationMode": "PULSED",
        "AveragePulseWidth": "6.6",
        "ImageAndFluoroscopyAreaDoseProduct": "2345.6",
        "FilterType": "STRIP",
        "IntensifierSize": "300",
        "Grid": ["IN", "FOCUSED"],
        "FocalSpots": ["0.4", "0.7"],
        "FilterMaterial": ["COPPER", "ALUMINUM"],
        "TableHeight": "120.5",
        "TableAngle": "0",
        "PositionerPrimaryAngle": "-30.5",
        "PositionerSecondaryAngle": "25",
        "CineRate": "15",
        "ActualFrameDuration": "67",
        "AcquisitionProtocolName": "Coronary",
        "StudyInstanceUID": "1.2.826.0.1.3680043.10.3.1",
        "SeriesInstanceUID": "1.2.826.0.1.3680043.10.4.1",
        "SeriesNumber": "3",
        "InstanceNumber": "1",
        "TimezoneOffsetFromUTC": None,
        "NumberOfFrames": "4",
        "FrameTimeVector": ["0", "66.7", "66.6", "66.8"],
        "PerformedProcedureStepDescription": "Coronary angiography and PCI",
        "EntranceDoseInmGy": "55.25",
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": 4,
        "Columns": 4,
        "BitsAllocated": 8,
        "BitsStored": 8,
        "HighBit": 7,
        "PixelRepresentation": 0,
    }
    values.update(overrides)
    for keyword, value in values.items():
        if value is not None:
            setattr(ds, keyword, value)
    return ds


def with_raw(ds: Dataset, **values: str) -> Dataset:
    """Put exact (possibly malformed) text values in ``ds``, as a file would hold them."""
    for keyword, text in values.items():
        tag = BaseTag(tag_for_keyword(keyword) or 0)
        raw = text.encode("latin-1")
        raw += b" " * (len(raw) % 2)
        ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)
    # as if read from an explicit VR little endian file, so that writing keeps the raw bytes
    ds.set_original_encoding(False, True, convert_encodings(ds.get("SpecificCharacterSet")))
    return ds


EXPECTED_XA: dict[str, Any] = {
    "sop_instance_uid": "1.2.826.0.1.3680043.10.2.1",
    "sop_class_uid": XA_IMAGE,
    "modality": "XA",
    "study_instance_uid": "1.2.826.0.1.3680043.10.3.1",
    "series_instance_uid": "1.2.826.0.1.3680043.10.4.1",
    "series_number": 3,
    "instance_number": 1,
    "accession_number": "ACC0001",
    "study_date": date(2026, 9, 15),
    "study_description": "Coronary angiography",
    "performed_procedure_step_description": "Coronary angiography and PCI",
    "patient_id": "P0001",
    "patient_name": "Müller^Hans",
    "patient_birth_date": "1956-03-20",
    "patient_sex": "M",
    "patient_age_years": 70.0,
    "patient_weight_kg": 82.5,
    "patient_size_m": 1.78,
    "manufacturer": "Siemens",
    "model": "AXIOM-Artis",
    "device_serial_number": "12345",
    "software_versions": "VC21C\\SP1",
    "station_name": "CATHLAB1",
    "institution_name": "Hôpital Général",
    "department_name": "Cardiology",
    "protocol_name": "Coro 15 fps",
    "acquisition_protocol_name": "Coronary",
    "body_part_examined": "HEART",
    "image_type": "ORIGINAL\\PRIMARY\\SINGLE PLANE",
    "radiation_mode": "PULSED",
    "kvp_kv": 78.4,
    "tube_current_ma": 612.0,
    "exposure_time_ms": 7.0,
    "exposure_mas": 4.0,
    "average_pulse_width_ms": 6.6,
    "dap_gy_m2": 2345.6e-5,
    "entrance_dose_mgy": 55.25,
    "filter_type": "STRIP",
    "filter_material": "COPPER\\ALUMINUM",
    "focal_spot_mm": 0.4,
    "grid": "IN\\FOCUSED",
    "positioner_primary_angle_deg": -30.5,
    "positioner_secondary_angle_deg": 25.0,
    "column_angulation_deg": None,
    "sid_mm": 1105.5,
    "source_patient_mm": 760.0,
    "table_height_mm": 120.5,
    "table_angle_deg": 0.0,
    "intensifier_size_mm": 300.0,
    "number_of_frames": 4,
    "frame_time_ms": 66.7,
    "frame_time_vector_mean_ms": 66.7,
    "frame_time_vector_min_ms": 66.6,
    "frame_time_vector_max_ms": 66.8,
    "cine_rate_per_s": 15.0,
    "actual_frame_duration_ms": 67.0,
    "acquisition_duration_s": 4 * 66.7 / 1000,
    "acquisition_datetime": datetime(2026, 9, 15, 10, 15, 30, 250000),
    "acquisition_datetime_source": "acquisition_datetime",
    "utc_offset_s": 7200,
    "irradiation_event_uids": [EVENT_1],
    "source_path": "cath1/run1.dcm",
}


def write(
    ds: Dataset,
    path: Path,
    *,
    implicit: bool = False,
    pixels: bytes = b"\0" * 64,
    preamble: bool = True,
) -> Path:
    """Write as the pipeline meets it on disk (so values come back as raw bytes)."""
    ds.add_new(0x7FE00010, "OB", pixels)
    if preamble:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3")
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.save_as(path, implicit_vr=implicit, little_endian=True)
    return path


def extract_file(path: Path, problems: list[str] | None = None) -> dict[str, Any]:
    return extract_image(read_header(path), "cath1/run1.dcm", problems)


def assert_row(row: dict[str, Any], expected: dict[str, Any]) -> None:
    """Compare as one-row frames in contract types (floats to 1e-9 relative)."""
    assert_frame_equal(
        frame_from_rows("images", [row]), frame_from_rows("images", [expected]), rel_tol=1e-9
    )


def test_image_sop_classes() -> None:
    assert {
        "1.2.840.10008.5.1.4.1.1.12.1",
        "1.2.840.10008.5.1.4.1.1.12.2",
        "1.2.840.10008.5.1.4.1.1.12.1.1",
        "1.2.840.10008.5.1.4.1.1.12.2.1",
    } == IMAGE_SOP_CLASSES


def test_every_column_of_an_xa_file(tmp_path: Path) -> None:
    problems: list[str] = []
    row = extract_file(write(xa_header(), tmp_path / "a.dcm"), problems)
    assert set(row) == set(contract("images").column_names) - {"room_id"}  # assigned at publish
    assert problems == []
    assert_row(row, EXPECTED_XA)
    validate("images", frame_from_rows("images", [row]))


def test_same_row_from_implicit_vr_without_preamble(tmp_path: Path) -> None:
    """Old archives hold bare implicit-VR datasets: the raw values carry no VR."""
    path = write(xa_header(), tmp_path / "bare.dcm", implicit=True, preamble=False)
    assert_row(extract_file(path), EXPECTED_XA)


def test_same_row_from_an_in_memory_dataset() -> None:
    """Values pydicom has already converted (DSfloat, MultiValue, PersonName) read the same."""
    row = extract_image(xa_header(), "cath1/run1.dcm")
    assert_row(row, EXPECTED_XA)


def test_xrf_column_angulation_and_binary_fallbacks(tmp_path: Path) -> None:
    """(0018,9330) FD, (0018,9328) FD, (0018,9073) FD and Exposure in uAs when the IS are absent."""
    ds = xa_header(
        SOPClassUID=XRF_IMAGE,
        Modality="RF",
        ColumnAngulation="-12.5",
        PositionerPrimaryAngle=None,
        PositionerSecondaryAngle=None,
        XRayTubeCurrent=None,
        ExposureTime=None,
        Exposure=None,
        XRayTubeCurrentInmA=3.25,
        ExposureTimeInms=12.5,
        ExposureInuAs="1250",
        AcquisitionDuration=0.3,
    )
    row = extract_file(write(ds, tmp_path / "rf.dcm"))
    assert row["column_angulation_deg"] == -12.5
    assert row["positioner_primary_angle_deg"] is None
    assert row["tube_current_ma"] == 3.25
    assert row["exposure_time_ms"] == 12.5
    assert row["exposure_mas"] == pytest.approx(1.25)
    assert row["acquisition_duration_s"] == 0.3  # (0018,9073) wins over frames x frame time


@pytest.mark.parametrize(
    ("uids", "expected"),
    [(None, []), (EVENT_1, [EVENT_1]), ([EVENT_1, EVENT_2], [EVENT_1, EVENT_2])],
    ids=["absent", "one", "multi-valued"],
)
def test_irradiation_event_uids(tmp_path: Path, uids: Any, expected: list[str]) -> None:
    row = extract_file(write(xa_header(IrradiationEventUID=uids), tmp_path / "e.dcm"))
    assert row["irradiation_event_uids"] == expected


@pytest.mark.parametrize(
    ("overrides", "when", "source", "offset"),
    [
        ({}, datetime(2026, 9, 15, 10, 15, 30, 250000), "acquisition_datetime", 7200),
        # a DT without suffix takes (0008,0201), as PS3.3 C.12.1 says for every unsuffixed DT
        (
            {"AcquisitionDateTime": "20260915101530", "TimezoneOffsetFromUTC": "+0100"},
            datetime(2026, 9, 15, 10, 15, 30),
            "acquisition_datetime",
            3600,
        ),
        (
            {"AcquisitionDateTime": "20260915101530"},
            datetime(2026, 9, 15, 10, 15, 30),
            "acquisition_datetime",
            None,
        ),
        # the DT's own suffix wins over (0008,0201)
        (
            {"AcquisitionDateTime": "20261025013000-0430", "TimezoneOffsetFromUTC": "+0100"},
            datetime(2026, 10, 25, 1, 30),
            "acquisition_datetime",
            -16200,
        ),
        (
            {"AcquisitionDateTime": None, "TimezoneOffsetFromUTC": "-0500"},
            datetime(2026, 9, 15, 10, 15, 29),
            "acquisition_date_time",
            -18000,
        ),
        (
            {"AcquisitionDateTime": None, "AcquisitionTime": "raw:10:15:29.5"},
            datetime(2026, 9, 15, 10, 15, 29, 500000),
            "acquisition_date_time",
            None,
        ),
        (
            {"AcquisitionDateTime": None, "AcquisitionDate": None},
            datetime(2026, 9, 15, 10, 16),
            "content_date_time",
            None,
        ),
        (
            {
                "AcquisitionDateTime": None,
                "AcquisitionTime": None,
                "ContentTime": "1016",
                "TimezoneOffsetFromUTC": "+0000",
            },
            datetime(2026, 9, 15, 10, 16),
            "content_date_time",
            0,
        ),
        (
            {"AcquisitionDateTime": None, "AcquisitionDate": None, "ContentDate": None},
            None,
            None,
            None,
        ),
    ],
    ids=[
        "dt-suffix",
        "dt-plus-0201",
        "dt-no-offset",
        "dt-suffix-wins",
        "da-tm-0201",
        "acr-nema-tm",
        "content",
        "content-utc",
        "none",
    ],
)
def test_acquisition_datetime_sources(
    tmp_path: Path,
    overrides: dict[str, Any],
    when: datetime | None,
    source: str | None,
    offset: int | None,
) -> None:
    raw = {k: v[4:] for k, v in overrides.items() if str(v).startswith("raw:")}
    ds = with_raw(xa_header(**{k: v for k, v in overrides.items() if k not in raw}), **raw)
    problems: list[str] = []
    row = extract_file(write(ds, tmp_path / "t.dcm"), problems)
    assert (
        row["acquisition_datetime"],
        row["acquisition_datetime_source"],
        row["utc_offset_s"],
    ) == (when, source, offset)
    assert problems == []


def test_malformed_values_become_null_with_a_reason(tmp_path: Path) -> None:
    ds = with_raw(
        xa_header(),
        KVP="78,4",
        AcquisitionDateTime="20261315101530",
        StudyDate="2026-09-15",
        PatientAge="70",
        PatientBirthDate="19561320",
        TableHeight="1e999",
        FrameTime="fast",
        SeriesNumber="3.5",
        PatientSex="Male",
        TimezoneOffsetFromUTC="+2500",
    )
    problems: list[str] = []
    row = extract_file(write(ds, tmp_path / "bad.dcm"), problems)
    nulled = [
        "kvp_kv",
        "study_date",
        "patient_birth_date",
        "patient_age_years",
        "table_height_mm",
        "frame_time_ms",
        "series_number",
        "patient_sex",
        "utc_offset_s",
    ]
    assert {k: row[k] for k in nulled} == dict.fromkeys(nulled)
    # the bad DT falls back to Acquisition Date/Time; the duration has no frame time to use
    assert row["acquisition_datetime_source"] == "acquisition_date_time"
    assert row["acquisition_duration_s"] is None
    assert row["acquisition_datetime"] == datetime(2026, 9, 15, 10, 15, 29)
    assert sorted(p.split(":")[0] for p in problems) == sorted(
        [
            "KVP (0018,0060)",
            "AcquisitionDateTime (0008,002A)",
            "StudyDate (0008,0020)",
            "PatientAge (0010,1010)",
            "PatientBirthDate (0010,0030)",
            "TableHeight (0018,1130)",
            "FrameTime (0018,1063)",
            "SeriesNumber (0020,0011)",
            "PatientSex (0010,0040)",
            "TimezoneOffsetFromUTC (0008,0201)",
        ]
    )
    assert "KVP (0018,0060): not a number '78,4'" in problems
    patient_lines = [p for p in problems if "(0010," in p]
    assert patient_lines and not any(
        "1956" in p or "Male" in p or "'70'" in p for p in patient_lines
    )


def test_age_from_birth_date_when_patient_age_is_absent(tmp_path: Path) -> None:
    row = extract_file(write(xa_header(PatientAge=None), tmp_path / "age.dcm"))
    assert row["patient_age_years"] == pytest.approx(
        (date(2026, 9, 15) - date(1956, 3, 20)).days / 365.25
    )
    assert row["patient_age_years"] == pytest.approx(70.49, abs=0.01)


@pytest.mark.parametrize(
    ("age", "years"),
    [("018D", 18 / 365.25), ("006W", 42 / 365.25), ("011M", 11 / 12), ("102Y", 102.0)],
)
def test_patient_age_units(age: str, years: float) -> None:
    row = extract_image(xa_header(PatientAge=age), "a.dcm")
    assert row["patient_age_years"] == pytest.approx(years)


def test_single_frame_image_has_one_frame(tmp_path: Path) -> None:
    ds = xa_header(
        NumberOfFrames=None,
        FrameTime=None,
        FrameTimeVector=None,
        CineRate=None,
        ActualFrameDuration=None,
    )
    row = extract_file(write(ds, tmp_path / "lih.dcm"))
    assert (
        row["number_of_frames"],
        row["frame_time_ms"],
        row["acquisition_duration_s"],
        row["frame_time_vector_mean_ms"],
    ) == (1, None, None, None)


def test_long_frame_time_vector_is_read_from_the_deferred_element(tmp_path: Path) -> None:
    """6,000 increments are over the defer size: the value is fetched from the file on demand."""
    vector = ["0"] + ["33.3", "33.4"] * 3000
    path = write(xa_header(NumberOfFrames="6001", FrameTimeVector=vector), tmp_path / "long.dcm")
    ds = read_header(path)
    assert ds.get_item(0x00181065, keep_deferred=True).value is None  # deferred, not read
    row = extract_image(ds, "long.dcm")
    assert (row["frame_time_vector_min_ms"], row["frame_time_vector_max_ms"]) == (33.3, 33.4)
    assert row["frame_time_vector_mean_ms"] == pytest.approx(33.35)


def test_malformed_deferred_value_is_parsed_by_us_not_pydicom(tmp_path: Path) -> None:
    """A bad entry in a deferred Frame Time Vector: null and one short problem line (pydicom's
    own conversion would warn, and raise under filterwarnings=error)."""
    vector = "\\".join(["0"] + ["33.3"] * 4000 + ["3,3"])
    path = write(
        with_raw(xa_header(NumberOfFrames="4002"), FrameTimeVector=vector), tmp_path / "badlong.dcm"
    )
    problems: list[str] = []
    row = extract_file(path, problems)
    assert row["frame_time_vector_mean_ms"] is None
    [line] = problems
    assert line.startswith("FrameTimeVector (0018,1065): not a number '0\\\\33.3")
    assert line.endswith("...") and len(line) < 110


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"SOPInstanceUID": None}, "SOP Instance UID (0008,0018) missing"),
        ({"SOPInstanceUID": ""}, "SOP Instance UID (0008,0018) missing"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.88.67"}, "is not an XA/XRF image"),
    ],
)
def test_unusable_images_raise(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(ExtractionError, match=re.escape(reason)):
        extract_image(xa_header(**overrides), "a.dcm")


def _group(**sequences: Dataset) -> Dataset:
    item = Dataset()
    for keyword, macro in sequences.items():
        setattr(item, keyword, [macro])
    return item


def _ds(**values: Any) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def enhanced_xa(frame_events: list[str]) -> Dataset:
    """Enhanced XA with technique in shared groups and timing / event per frame."""
    top_level_only = {"SOPClassUID": ENHANCED_XA_IMAGE, "NumberOfFrames": str(len(frame_events))}
    moved = [
        "KVP",
        "XRayTubeCurrent",
        "ExposureTime",
        "Exposure",
        "ImageAndFluoroscopyAreaDoseProduct",
        "DistanceSourceToDetector",
        "PositionerPrimaryAngle",
        "PositionerSecondaryAngle",
        "IrradiationEventUID",
        "FrameTime",
        "FrameTimeVector",
        "AveragePulseWidth",
    ]
    ds = xa_header(**top_level_only, **dict.fromkeys(moved))
    ds.SharedFunctionalGroupsSequence = [
        _group(
            XRayAcquisitionDoseSequence=_ds(
                KVP="81.5",
                XRayTubeCurrentInmA=420.0,
                ExposureTimeInms=5.5,
                ExposureInmAs=2.3,
                ImageAndFluoroscopyAreaDoseProduct="1000",
                DistanceSourceToDetector="1200",
            ),
            PositionerPositionSequence=_ds(
                PositionerPrimaryAngle="45", PositionerSecondaryAngle="-10"
            ),
        )
    ]
    ds.PerFrameFunctionalGroupsSequence = [
        _group(
            FrameContentSequence=_ds(FrameAcquisitionNumber=i + 1),
            IrradiationEventIdentificationSequence=_ds(IrradiationEventUID=uid),
        )
        for i, uid in enumerate(frame_events)
    ]
    return ds


def test_enhanced_xa_reads_functional_groups(tmp_path: Path) -> None:
    path = write(enhanced_xa([EVENT_1, EVENT_1, EVENT_2]), tmp_path / "enh.dcm")
    problems: list[str] = []
    row = extract_file(path, problems)
    assert problems == []
    assert {
        k: row[k]
        for k in (
            "sop_class_uid",
            "kvp_kv",
            "tube_current_ma",
            "exposure_time_ms",
            "exposure_mas",
            "dap_gy_m2",
            "sid_mm",
            "positioner_primary_angle_deg",
            "positioner_secondary_angle_deg",
            "number_of_frames",
            "irradiation_event_uids",
        )
    } == {
        "sop_class_uid": ENHANCED_XA_IMAGE,
        "kvp_kv": 81.5,
        "tube_current_ma": 420.0,
        "exposure_time_ms": 5.5,
        "exposure_mas": 2.3,
        "dap_gy_m2": pytest.approx(0.01),
        "sid_mm": 1200.0,
        "positioner_primary_angle_deg": 45.0,
        "positioner_secondary_angle_deg": -10.0,
        "number_of_frames": 3,
        "irradiation_event_uids": [EVENT_1, EVENT_2],
    }
    assert row["acquisition_datetime_source"] == "acquisition_datetime"


def test_enhanced_defined_length_groups_beyond_the_defer_size(tmp_path: Path) -> None:
    """400 frames in defined-length sequences (as some vendors write): the per-frame groups stay
    on disk after the header read and are fetched when the event UIDs are gathered."""
    ds = enhanced_xa([EVENT_1, EVENT_2] * 200)
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = False
    header = read_header(write(ds, tmp_path / "enh400.dcm"))
    assert header.get_item(0x52009230, keep_deferred=True).value is None
    problems: list[str] = []
    row = extract_image(header, "enh400.dcm", problems)
    assert (row["number_of_frames"], row["kvp_kv"], row["irradiation_event_uids"], problems) == (
        400,
        81.5,
        [EVENT_1, EVENT_2],
        [],
    )


def test_enhanced_rotational_run_takes_the_first_frame_and_top_level_wins() -> None:
    """Per-frame positioner angles (a rotational run): the first frame's; a top-level value
    (here KVP and the event UID) is used before any functional group."""
    ds = enhanced_xa([EVENT_1, EVENT_2])
    del ds.SharedFunctionalGroupsSequence[0].PositionerPositionSequence
    for frame, angle in zip(ds.PerFrameFunctionalGroupsSequence, ["-90", "90"], strict=True):
        frame.PositionerPositionSequence = [
            _ds(PositionerPrimaryAngle=angle, PositionerSecondaryAngle="0")
        ]
    ds.KVP = "70"
    ds.IrradiationEventUID = EVENT_2
    row = extract_image(ds, "rot.dcm")
    assert (row["positioner_primary_angle_deg"], row["kvp_kv"], row["irradiation_event_uids"]) == (
        -90.0,
        70.0,
        [EVENT_2],
    )


def test_problems_default_to_a_private_list() -> None:
    row = extract_image(with_raw(xa_header(), KVP="x"), "a.dcm")
    assert row["kvp_kv"] is None


def _bytes_read() -> int:
    with open("/proc/self/io", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux /proc/self/io")
def test_pixel_data_is_never_read(tmp_path: Path) -> None:
    """A 1024 x 1024 x 30-frame run (30 MB): header read + extraction reads under 1% of it.

    The kernel's count of bytes this process read (``rchar``) includes every deferred re-read.
    """
    frames = 30
    ds = xa_header(
        Rows=1024,
        Columns=1024,
        NumberOfFrames=str(frames),
        FrameTimeVector=["0"] + ["66.7"] * (frames - 1),
    )
    path = write(ds, tmp_path / "big.dcm", pixels=bytes(1024 * 1024 * frames))
    size = path.stat().st_size
    before = _bytes_read()
    row = extract_image(read_header(path), "big.dcm")
    read = _bytes_read() - before
    assert row["number_of_frames"] == frames
    assert read < size / 100, f"read {read} of {size} bytes"


def test_rows_fit_the_contract_with_all_nulls_allowed() -> None:
    """A minimal image (only the SOP identity) still gives a valid `images` row."""
    ds = _ds(SOPClassUID=XRF_IMAGE, SOPInstanceUID="1.2.3")
    row = extract_image(ds, "min.dcm")
    df = validate("images", frame_from_rows("images", [row]))
    assert df.row(0, named=True)["irradiation_event_uids"] == []
    assert df.select(pl.all().is_null().sum()).row(0)[3] == 1  # modality unknown
    assert "room_id" not in row and row["number_of_frames"] == 1


@pytest.fixture(scope="module")
def synth_corpus(small_corpus: tuple[Path, object]) -> Path:
    return small_corpus[0]


def test_synthetic_images_match_the_ground_truth(synth_corpus: Path) -> None:
    """Every column of every generated image, against the generator's truth."""
    truth = pl.read_parquet(synth_corpus / "truth" / "images.parquet")
    # the truth covers the hard cases this reader exists for
    assert set(truth["acquisition_datetime_source"]) == {
        "acquisition_datetime",
        "acquisition_date_time",
        "content_date_time",
    }
    assert truth["utc_offset_s"].null_count() not in (0, truth.height)
    event_counts = set(truth["irradiation_event_uids"].list.len())
    assert {0, 1} <= event_counts and max(event_counts) >= 2
    problems: list[str] = []
    rows = [
        extract_image(read_header(synth_corpus / "dicom" / path), path, problems)
        for path in truth["source_path"]
    ]
    assert problems == []
    published = with_room_ids(frame_from_rows("images", rows), RoomDirectory())  # as publish does
    assert_frame_equal(
        published.sort("sop_instance_uid"),
        truth.sort("sop_instance_uid"),
        rel_tol=1e-12,
    )


def test_synthetic_broken_images_are_refused(synth_corpus: Path) -> None:
    files = pl.read_parquet(synth_corpus / "truth" / "files.parquet")
    broken = files.filter((pl.col("kind") == "image") & (pl.col("status") == "rejected"))
    assert broken.height >= 1
    for path in broken["path"]:
        with pytest.raises(ExtractionError, match=r"^truncated file: "):
            read_header(synth_corpus / "dicom" / path)
