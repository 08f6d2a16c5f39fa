"""Dose report extraction over the real OpenREM vendor reports (and edited copies of them).

Expected values are read from the files independently of the code under test (a plain recursive
walk and a small unit table here), or are literal values read off the file with dcmdump.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from statistics import fmean
from typing import Any

import polars as pl
import pydicom
import pytest
from builders.corpus import CORPUS
from polars.testing import assert_frame_equal
from pydicom.dataset import Dataset

from xrf_assets.core.audit.report_totals import totals_consistency
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import (
    ReportExtract,
    extract_report,
    is_dose_report,
)
from xrf_assets.core.ingest.resent_reports import resolve_report_duplicates
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.store import frame_from_rows, validate

FILES = sorted(p.name for p in CORPUS.glob("*.dcm")) or ["<corpus absent>"]
VARIC = "RF-ESR-Siemens-Varic.dcm"
ZEE = "RF-RDSR-Siemens-Zee.dcm"
ZEE_ADJUSTED = "RF-RDSR-Siemens-Zee_adjusted.dcm"  # same SOP Instance UID as ZEE
REPORTS = [f for f in FILES if f != VARIC]

# Test-local conversion of the units the corpus sends (not units.py: an independent check).
TO_COLUMN_UNIT = {
    "Gy.m2": 1.0,
    "Gym2": 1.0,
    "dGy.cm2": 1e-5,
    "Gy": 1.0,
    "mGy": 1e-3,
    "s": 1.0,
    "1": 1.0,
}


@cache
def _dataset(name: str) -> Dataset:
    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS} (../shared/corpus/openrem)")
    return pydicom.dcmread(CORPUS / name, stop_before_pixels=True)


@cache
def _extract(name: str) -> ReportExtract:
    return extract_report(_dataset(name), name)


def _walk(items: Any) -> Iterator[Dataset]:
    for item in items or ():
        yield item
        yield from _walk(item.get("ContentSequence"))


def _code(item: Dataset) -> str | None:
    seq = item.get("ConceptNameCodeSequence")
    return seq[0].CodeValue if seq else None


def _children(item: Dataset, code: str) -> list[Dataset]:
    return [c for c in item.get("ContentSequence") or () if _code(c) == code]


def _sent(item: Dataset, code: str) -> float | None:
    """The value a NUM child sends, converted with the test's own unit table."""
    found = _children(item, code)
    if not found or not found[0].get("MeasuredValueSequence"):
        return None
    mv = found[0].MeasuredValueSequence[0]
    return float(mv.NumericValue) * TO_COLUMN_UNIT[mv.MeasurementUnitsCodeSequence[0].CodeValue]


def _approx(value: float | None) -> Any:
    """Equal to the sent value (null where the file sends none), to the last bit of precision."""
    return None if value is None else pytest.approx(value, rel=1e-12)


def _event_uid(event: Dataset) -> str:
    return str(_children(event, "113769")[0].UID)


def _events_by_uid(name: str) -> dict[str, dict[str, Any]]:
    return {e["irradiation_event_uid"]: e for e in _extract(name).events}


def _copy(name: str) -> Dataset:
    return copy.deepcopy(_dataset(name))


def _top_events(ds: Dataset) -> list[Dataset]:
    return [i for i in ds.ContentSequence if _code(i) == "113706"]


# -- every file ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_corpus_file_is_a_dose_report(name: str) -> None:
    assert is_dose_report(_dataset(name))


@pytest.mark.parametrize("name", REPORTS)
def test_one_event_per_113706_container(name: str) -> None:
    containers = [i for i in _walk(_dataset(name).ContentSequence) if _code(i) == "113706"]
    assert len(_extract(name).events) == len(containers) > 0
    assert {e["source_path"] for e in _extract(name).events} == {name}


@pytest.mark.parametrize("name", REPORTS)
def test_event_dap_and_dose_rp_as_sent(name: str) -> None:
    events = _events_by_uid(name)
    for container in _top_events(_dataset(name)):
        row = events[_event_uid(container)]
        assert row["dap_gy_m2"] == _approx(_sent(container, "122130"))
        assert row["dose_rp_gy"] == _approx(_sent(container, "113738"))


TOTALS = {
    "113722": "dap_total_gy_m2",
    "113725": "dose_rp_total_gy",
    "113726": "fluoro_dap_total_gy_m2",
    "113728": "fluoro_dose_rp_total_gy",
    "113730": "total_fluoro_time_s",
    "113727": "acquisition_dap_total_gy_m2",
    "113729": "acquisition_dose_rp_total_gy",
    "113855": "total_acquisition_time_s",
    "113731": "total_number_of_radiographic_frames",
}


@pytest.mark.parametrize("name", REPORTS)
def test_accumulated_totals_as_sent(name: str) -> None:
    (container,) = [i for i in _dataset(name).ContentSequence if _code(i) == "113702"]
    (row,) = _extract(name).accumulated
    assert row["acquisition_plane"] == "single_plane"
    for code, column in TOTALS.items():
        assert row[column] == _approx(_sent(container, code)), column


@pytest.mark.parametrize("name", REPORTS)
def test_every_acquired_image_reference_kept(name: str) -> None:
    sent = []
    for container in _top_events(_dataset(name)):
        for image in _children(container, "113795"):
            ref = image.ReferencedSOPSequence[0]
            sent.append(
                (
                    _event_uid(container),
                    ref.get("ReferencedSOPClassUID"),
                    ref.get("ReferencedSOPInstanceUID") or None,
                )
            )
    columns = ("irradiation_event_uid", "referenced_sop_class_uid", "referenced_sop_instance_uid")
    got = [tuple(r[c] for c in columns) for r in _extract(name).refs]
    assert got == sent
    assert len(got) == sum(1 for i in _walk(_dataset(name).ContentSequence) if _code(i) == "113795")


@pytest.mark.parametrize("name", REPORTS)
def test_modality_from_report_content(name: str) -> None:
    expected = "radiography" if name.startswith(("DX-", "Dual-RDSR-DX")) else "fluoroscopy"
    assert {e["modality"] for e in _extract(name).events} == {expected}


def test_rows_fit_the_contracts() -> None:
    names = [n for n in REPORTS if n != ZEE_ADJUSTED]
    extracts = [_extract(n) for n in names]
    events = validate(
        "irradiation_events",
        frame_from_rows("irradiation_events", [r for x in extracts for r in x.events]),
    )
    validate(
        "accumulated_dose",
        frame_from_rows("accumulated_dose", [r for x in extracts for r in x.accumulated]),
    )
    validate(
        "event_image_refs",
        frame_from_rows("event_image_refs", [r for x in extracts for r in x.refs]),
    )
    assert events.height == 558 - 8
    assert events.get_column("unit_issues").null_count() == events.height


# -- named values ---------------------------------------------------------------------------------


def test_siemens_zee_first_event_and_totals() -> None:
    first = _extract(ZEE).events[0]
    assert first["irradiation_event_uid"] == (
        "1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.4.0"
    )
    assert first["datetime_started"] == datetime(2016, 5, 12, 10, 11, 54)
    assert (first["dap_gy_m2"], first["dose_rp_gy"]) == (1e-6, 0.00014)
    assert first["event_type"] == "fluoroscopy"  # sent as SRT P5-06000
    assert first["exposure_time_ms"] == 100.8  # retired 113735
    assert (first["kvp_kv"], first["kvp_min_kv"], first["tube_current_ma"]) == (77.0, None, 95.1)
    assert (first["pulse_rate_per_s"], first["number_of_pulses"]) == (7.5, 24.0)
    assert first["exposure_uas"] == 9586.0  # sent as "uAs"
    assert first["filter_material"] == "Copper or Copper compound"
    assert first["filter_thickness_min_mm"] == first["filter_thickness_max_mm"] == 0.6
    assert first["reference_point_definition"] == "15cm from Isocenter toward Source"
    (acc,) = _extract(ZEE).accumulated
    assert (acc["dap_total_gy_m2"], acc["dose_rp_total_gy"]) == (1.6e-5, 0.00252)
    assert (acc["total_fluoro_time_s"], acc["calibration_factor"]) == (28.0, 1.0)


def test_canon_ultimax_mgy_and_dgy_cm2_converted() -> None:
    first = _extract("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm").events[0]
    assert first["dap_gy_m2"] == pytest.approx(1.323e-5, rel=1e-12)  # 1.323 dGy.cm2
    assert first["dose_rp_gy"] == pytest.approx(3.84e-4, rel=1e-12)  # 0.384 mGy
    (acc,) = _extract("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm").accumulated
    assert acc["dap_total_gy_m2"] == pytest.approx(126.596e-5, rel=1e-12)
    assert acc["dose_rp_total_gy"] == pytest.approx(30.573e-3, rel=1e-12)
    assert acc["fluoro_dap_total_gy_m2"] == pytest.approx(106.281e-5, rel=1e-12)


def test_eurocolumbus_per_pulse_arrays() -> None:
    first = _extract("RF-RDSR-Eurocolumbus.dcm").events[0]
    kvp = [0, 85, 85, 68, 68, 59, 59, 54, 54, 52, 52, 51, 51, 51, 51, 50, 50, 50, 50, 50, 50, 50]
    assert first["kvp_kv"] == pytest.approx(fmean(v for v in kvp if v))
    assert (first["kvp_min_kv"], first["kvp_max_kv"]) == (50.0, 85.0)
    assert (first["tube_current_ma"], first["tube_current_min_ma"]) == (50.0, 50.0)
    assert (first["pulse_width_ms"], first["pulse_width_max_ms"]) == (8.0, 8.0)
    assert first["dose_rp_gy"] == 0.000136008  # item without RelationshipType


def test_ge_miniview_read_without_content_template() -> None:
    ds = _dataset("RF-RDSR-GE-OECEliteMiniView.dcm")
    assert "ContentTemplateSequence" not in ds
    assert len(_extract("RF-RDSR-GE-OECEliteMiniView.dcm").events) == 22


def test_ge_uid_sent_as_text_and_bad_timezone_noted() -> None:
    extract = _extract("RF-RDSR-GE.dcm")
    assert extract.events[0]["device_observer_uid"] == "1.3.6.1.4.1.45593.912345678.9876543123"
    assert extract.events[0]["utc_offset_s"] is None  # (0008,0201) 'UTC-04:00' is not +HHMM
    assert any("(0008,0201)" in issue for issue in extract.issues)


def test_timezone_offset_applies_to_datetime_started() -> None:
    ds = _copy(ZEE)
    ds.TimezoneOffsetFromUTC = "+0100"
    assert {e["utc_offset_s"] for e in extract_report(ds, ZEE).events} == {3600}


def test_siemens_varic_summary_is_rejected_with_reason() -> None:
    with pytest.raises(ExtractionError, match=r"proprietary .*99SMS_RADSUM.* no irradiation"):
        _extract(VARIC)


def test_dual_room_radiography_and_fluoroscopy_in_one_room() -> None:
    dx, rf = _extract("Dual-RDSR-DX.dcm").events, _extract("Dual-RDSR-RF.dcm").events
    assert {e["modality"] for e in dx} == {"radiography"}
    assert {e["modality"] for e in rf} == {"fluoroscopy"}


def test_philips_reference_without_instance_uid_kept_as_null() -> None:
    extract = _extract("RF-RDSR-Philips_Allura.dcm")
    assert [r["referenced_sop_instance_uid"] for r in extract.refs] == [None, None, None]
    assert {r["referenced_sop_class_uid"] for r in extract.refs} == {"1.2.840.10008.5.1.4.1.1.12.1"}
    assert sum("empty SOP Instance UID" in i for i in extract.issues) == 3


def test_canon_empty_dap_is_null_not_zero() -> None:
    extract = _extract("DX-RDSR-Canon_CXDI_noDAP.dcm")
    assert [e["dap_gy_m2"] for e in extract.events] == [None, None]
    assert extract.accumulated[0]["dap_total_gy_m2"] is None
    assert extract.accumulated[0]["total_acquisition_time_s"] == 0.0218


def test_scope_of_accumulation_study_wins_over_header() -> None:
    extract = _extract(ZEE_ADJUSTED)
    assert {e["study_instance_uid"] for e in extract.events} == {
        "1.3.6.1.4.1.5962.99.1.3248661973.865054762.1480717444565.3.0"
    }
    assert any("differs from the header" in i for i in extract.issues)
    assert any("Study Date (0008,0020) 2016-05-10" in i for i in extract.issues)


# -- edited copies: units, codes, broken trees -----------------------------------------------------


def test_unknown_unit_leaves_null_with_reason() -> None:
    ds = _copy(ZEE)
    dap = _children(_top_events(ds)[0], "122130")[0]
    dap.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "Gy.in2"
    extract = extract_report(ds, ZEE)
    first, second = extract.events[:2]
    assert first["dap_gy_m2"] is None
    assert first["unit_issues"] == "Dose Area Product (122130): 'Gy.in2'"
    assert first["dose_rp_gy"] == 0.00014
    assert (second["dap_gy_m2"], second["unit_issues"]) == (1.2e-6, None)
    assert any("unknown unit" in i and "122130" in i for i in extract.issues)


def test_retired_event_uid_and_sct_event_type_read() -> None:
    ds = _copy(ZEE)
    event = _top_events(ds)[0]
    _children(event, "113769")[0].ConceptNameCodeSequence[0].CodeValue = "113853"
    kind = _children(event, "113721")[0].ConceptCodeSequence[0]
    kind.CodeValue, kind.CodingSchemeDesignator = "44491008", "SCT"
    first = extract_report(ds, ZEE).events[0]
    assert first["irradiation_event_uid"] == _event_uid(_top_events(_dataset(ZEE))[0])
    assert first["event_type"] == "fluoroscopy"


def test_report_without_events_rejected() -> None:
    ds = _copy(ZEE)
    ds.ContentSequence = [i for i in ds.ContentSequence if _code(i) != "113706"]
    with pytest.raises(ExtractionError, match=r"no Irradiation Event X-Ray Data \(113706\)"):
        extract_report(ds, ZEE)


def test_other_root_and_missing_uid_rejected() -> None:
    ds = _copy(ZEE)
    ds.ConceptNameCodeSequence[0].CodeValue = "126000"
    with pytest.raises(ExtractionError, match="root concept 126000/DCM is not"):
        extract_report(ds, ZEE)
    ds = _copy(ZEE)
    del ds.SOPInstanceUID
    with pytest.raises(ExtractionError, match=r"SOP Instance UID \(0008,0018\) missing"):
        extract_report(ds, ZEE)
    ds = _copy(ZEE)
    del ds.ContentSequence
    with pytest.raises(ExtractionError, match="empty content tree"):
        extract_report(ds, ZEE)


def test_malformed_items_give_nulls_and_issues_not_a_crash() -> None:
    ds = _copy(ZEE)
    event = _top_events(ds)[0]
    del _children(event, "122130")[0].MeasuredValueSequence[0].MeasurementUnitsCodeSequence
    del _children(event, "113721")[0].ConceptCodeSequence
    event.ContentSequence.append(Dataset())  # an item with no concept name at all
    first = extract_report(ds, ZEE).events[0]
    assert first["dap_gy_m2"] is None and first["unit_issues"] == "Dose Area Product (122130): ''"
    assert first["event_type"] is None
    assert first["dose_rp_gy"] == 0.00014


def test_empty_tube_current_falls_back_to_average_tube_current() -> None:
    ds = _copy("RF-RDSR-GE.dcm")
    event = _top_events(ds)[0]
    _children(event, "113734")[0].MeasuredValueSequence = []
    _children(event, "113767")[0].MeasuredValueSequence[0].NumericValue = "3.5"
    first = extract_report(ds, "ge.dcm").events[0]
    assert first["tube_current_ma"] == 3.5
    assert _extract("RF-RDSR-GE.dcm").events[0]["tube_current_ma"] == 2.74306011


def test_repeated_event_uid_in_one_report_kept_once() -> None:
    ds = _copy(ZEE)
    ds.ContentSequence.append(copy.deepcopy(_top_events(ds)[0]))
    extract = extract_report(ds, ZEE)
    assert len(extract.events) == 8
    assert any("repeated; first kept" in i for i in extract.issues)


# -- re-sent and copied reports --------------------------------------------------------------------


def _frames(*extracts: ReportExtract) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (
        frame_from_rows("irradiation_events", [r for x in extracts for r in x.events]),
        frame_from_rows("accumulated_dose", [r for x in extracts for r in x.accumulated]),
        frame_from_rows("event_image_refs", [r for x in extracts for r in x.refs]),
    )


def _resent_subset(name: str, n_events: int, minutes_earlier: int) -> Dataset:
    """An earlier report of the same study holding only its first events."""
    ds = _copy(name)
    keep = set(map(id, _top_events(ds)[:n_events]))
    ds.ContentSequence = [i for i in ds.ContentSequence if _code(i) != "113706" or id(i) in keep]
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".1"
    earlier = datetime.strptime(ds.ContentDate + ds.ContentTime[:6], "%Y%m%d%H%M%S")
    earlier -= timedelta(minutes=minutes_earlier)
    ds.ContentDate, ds.ContentTime = earlier.strftime("%Y%m%d"), earlier.strftime("%H%M%S")
    return ds


def test_resent_subset_report_superseded() -> None:
    name = "RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm"
    early = extract_report(_resent_subset(name, 10, 20), "early.dcm")
    full = _extract(name)
    res = resolve_report_duplicates(*_frames(early, full))
    early_uid = early.events[0]["report_sop_instance_uid"]
    full_uid = full.events[0]["report_sop_instance_uid"]
    assert res.superseded == {
        early_uid: f"re-sent report: all 10 of its irradiation events are in report {full_uid} "
        "of the same study (18 events)"
    }
    assert res.events.height == 18
    assert set(res.events.get_column("source_path")) == {name}
    assert set(res.accumulated.get_column("report_sop_instance_uid")) == {full_uid}
    assert res.refs.height == len(full.refs)
    assert set(res.refs.get_column("report_sop_instance_uid")) == {full_uid}


def test_partial_overlap_keeps_each_event_once() -> None:
    name = "RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm"
    early = extract_report(_resent_subset(name, 12, 20), "early.dcm")
    late = _copy(name)
    late.ContentSequence = [i for i in late.ContentSequence if i not in _top_events(late)[:5]]
    later = extract_report(late, "late.dcm")
    res = resolve_report_duplicates(*_frames(early, later))
    assert res.superseded == {}
    assert res.events.height == 18
    assert res.events.get_column("irradiation_event_uid").n_unique() == 18
    by_file = dict(res.events.group_by("source_path").len().iter_rows())
    assert by_file == {"late.dcm": 13, "early.dcm": 5}  # the larger report wins the overlap


def test_copy_filed_under_another_study_counted_once() -> None:
    """Zee_adjusted: a copy with a shifted Study Date and another Study Instance UID, same events.

    In the corpus it even keeps the SOP Instance UID and the Scope of Accumulation of the
    original; here the copy also gets its own SOP Instance UID and scope, i.e. it really claims
    another study. The events belong to the study whose date matches them: the original's.
    """
    ds = _copy(ZEE_ADJUSTED)
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    scope = next(i for i in ds.ContentSequence if _code(i) == "113705")
    _children(scope, "110180")[0].UID = ds.StudyInstanceUID
    copy_extract = extract_report(ds, ZEE_ADJUSTED)
    res = resolve_report_duplicates(*_frames(copy_extract, _extract(ZEE)))
    reason = res.superseded[ds.SOPInstanceUID]
    assert "already reported under study 1.3.6.1.4.1.5962.99.1.3248661973.865054762" in reason
    assert "1480717444565.3.0" in reason and "names study" in reason and "counted once" in reason
    assert set(res.events.get_column("source_path")) == {ZEE}
    assert res.events.height == 8


def test_two_studies_of_one_patient_both_stay() -> None:
    ds = _copy(ZEE)
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
    for event in _top_events(ds):
        uid = _children(event, "113769")[0]
        uid.UID = uid.UID + ".7"
    res = resolve_report_duplicates(*_frames(_extract(ZEE), extract_report(ds, "b.dcm")))
    assert res.superseded == {}
    assert res.events.height == 16
    assert res.accumulated.height == 2


def test_one_sop_instance_from_two_files_refused() -> None:
    with pytest.raises(ValueError, match="comes from 2 files"):
        resolve_report_duplicates(*_frames(_extract(ZEE), _extract(ZEE_ADJUSTED)))


# -- totals vs events ------------------------------------------------------------------------------


def test_corpus_totals_consistent_within_rounding() -> None:
    names = [n for n in REPORTS if n != ZEE_ADJUSTED]
    events, accumulated, _ = _frames(*(_extract(n) for n in names))
    checks = totals_consistency(events, accumulated)
    assert checks.height == len(names)
    assert checks.filter(pl.col("flagged")).height == 0
    zee = checks.filter(
        pl.col("report_sop_instance_uid") == _extract(ZEE).events[0]["report_sop_instance_uid"]
    )
    assert zee.get_column("dose_rp_events_sum").item() == pytest.approx(0.00249)
    assert zee.get_column("dose_rp_total_gy").item() == 0.00252


def test_totals_off_by_a_unit_factor_flagged() -> None:
    events, accumulated, _ = _frames(_extract(ZEE), _extract("RF-RDSR-Eurocolumbus.dcm"))
    wrong = accumulated.with_columns(pl.col("dose_rp_total_gy") * 10)
    checks = totals_consistency(events, wrong).sort("report_sop_instance_uid")
    assert checks.get_column("dose_rp_consistent").to_list() == [False, False]
    assert checks.get_column("dap_consistent").to_list() == [True, True]  # Eurocolumbus: 8 vs 9e-6
    assert checks.get_column("flagged").to_list() == [True, True]


# -- generated reports against the generator's ground truth ----------------------------------------


@pytest.fixture(scope="module")
def synthetic(small_corpus: tuple[Path, Any]) -> tuple[Path, Any]:
    root, truth = small_corpus
    return root / "dicom", truth


def test_generated_reports_match_ground_truth(synthetic: tuple[Path, Any]) -> None:
    dicom, truth = synthetic
    reports = truth.files.filter(pl.col("kind") == "dose_report")
    extracts = []
    for path in reports.get_column("path"):
        ds = pydicom.dcmread(dicom / path, stop_before_pixels=True)
        extract = extract_report(ds, path)
        assert extract.issues == [], path
        extracts.append(extract)
    frames = _frames(*extracts)
    res = resolve_report_duplicates(*frames)
    paths = dict(frames[0].select("report_sop_instance_uid", "source_path").unique().iter_rows())
    expected = reports.filter(pl.col("status") == "superseded").get_column("path").sort()
    assert expected.len() > 0
    assert sorted(paths[uid] for uid in res.superseded) == expected.to_list()
    for table, got in (
        ("irradiation_events", with_room_ids(res.events, RoomDirectory())),  # as publish does
        ("accumulated_dose", res.accumulated),
        ("event_image_refs", res.refs),
    ):
        want = getattr(truth, table)
        assert want.height > 0
        key = want.columns
        assert_frame_equal(got.sort(key, nulls_last=True), want.sort(key, nulls_last=True))
