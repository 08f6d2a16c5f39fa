"""Studies with images and no dose report get a dose from their image headers (issue 12).

Headers are built with pydicom in both conventions seen on real files and read by the real image
extractor: a GE mobile C-arm writes its run total (17.468694 dGy.cm2) into every image of a series
while kVp changes per image; a GE angiography system writes each run's own DAP. Expected figures
are worked out by hand from the values written.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from builders.audit_tables import event_rows
from pydicom.dataset import Dataset

from xrf_assets.core.audit.alerts import AlertThresholds, build_dose_alerts
from xrf_assets.core.audit.image_dose import image_runs
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.statistics import dose_by_protocol, dose_by_room
from xrf_assets.core.audit.study_dose import build_study_dose, study_totals
from xrf_assets.core.extract.images import extract_image
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.store import frame_from_rows

XA = "1.2.840.10008.5.1.4.1.1.12.1"
START = datetime(2026, 10, 14, 9, 0)
DGY_CM2 = 1e-5  # Gy.m2


def uid(name: str) -> str:
    """A valid UID for a readable test name ('G1.2' -> '1.2.826.0.1.3680043.10.71.49.46.50')."""
    return "1.2.826.0.1.3680043.10." + ".".join(str(ord(c)) for c in name)


def _image(
    study: str,
    series: str,
    n: int,
    dap_dgy_cm2: str | None,
    *,
    kvp: str = "70",
    frames: int = 1,
    frame_ms: str = "100",
    protocol: str = "Fluoro",
    study_date: str | None = "20261014",
    model: str = "OEC 9900",
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = XA
    ds.SOPInstanceUID = uid(f"{series}.{n}")
    ds.Modality = "XA"
    ds.StudyInstanceUID = uid(study)
    ds.SeriesInstanceUID = uid(series)
    ds.InstanceNumber = n
    if study_date:
        ds.StudyDate = study_date
    ds.PatientID = f"P-{study}"
    ds.Manufacturer = "GE Healthcare"
    ds.ManufacturerModelName = model
    ds.StationName = "CARM1"
    ds.ProtocolName = protocol
    ds.AcquisitionDateTime = (START + timedelta(seconds=10 * n)).strftime("%Y%m%d%H%M%S")
    ds.KVP = kvp
    ds.ActualFrameDuration = frame_ms
    if frames > 1:
        ds.NumberOfFrames = frames
    if dap_dgy_cm2 is not None:
        ds.ImageAndFluoroscopyAreaDoseProduct = dap_dgy_cm2
    return ds


def _images(*datasets: Dataset) -> pl.DataFrame:
    rows = [extract_image(ds, f"images/{ds.SOPInstanceUID}.dcm") for ds in datasets]
    return with_room_ids(frame_from_rows("images", rows), RoomDirectory())  # as publish does


def _mobile(study: str = "G1") -> list[Dataset]:
    """Series 1: the run total repeated in 5 images, kVp changing; series 2: a running total."""
    repeated = [_image(study, f"{study}.1", n, "17.468694", kvp=str(70 + n)) for n in range(1, 6)]
    running = [
        _image(study, f"{study}.2", n, dap)
        for n, dap in zip(range(6, 10), ("2", "4.5", "4.5", "7.25"), strict=True)
    ]
    return repeated + running


def _angio(study: str = "A1") -> list[Dataset]:
    """Three runs in their own series, then one series holding three runs of their own DAP."""
    runs = [
        _image(study, f"{study}.{k}", k, dap, frames=30, frame_ms="67", protocol="Coro 15fps")
        for k, dap in ((1, "125.5"), (2, "310.25"), (3, "80"))
    ]
    mixed = [
        _image(study, f"{study}.9", n, dap, frames=15, frame_ms="67", protocol="LV 30fps")
        for n, dap in ((4, "50"), (5, "20"), (6, "40"))
    ]
    return runs + mixed


def _no_events() -> tuple[pl.DataFrame, pl.DataFrame]:
    return frame_from_rows("irradiation_events", []), frame_from_rows("accumulated_dose", [])


def _study(images: pl.DataFrame, name: str) -> dict:
    study = uid(name)
    totals = study_totals(*_no_events(), images)
    return totals.filter(pl.col("study_instance_uid") == study).row(0, named=True)


def test_a_run_total_repeated_over_a_series_is_counted_once() -> None:
    row = _study(_images(*_mobile()), "G1")
    # 17.468694 (once, not x5) + 7.25 (the running total's last value) dGy.cm2
    assert row["dap_total_gy_m2"] == pytest.approx((17.468694 + 7.25) * DGY_CM2, rel=1e-12)
    assert row["fluoro_time_s"] == pytest.approx(0.9)  # 9 images of one 100 ms frame
    assert (row["dose_source"], row["dap_source"], row["fluoro_time_source"]) == (
        "image_headers",
        "image_headers",
        "image_headers",
    )
    assert (row["event_count"], row["report_count"], row["dose_rp_total_gy"]) == (0, 0, None)
    assert (row["modality"], str(row["study_date"]), row["month"]) == (
        "fluoroscopy",
        "2026-10-14",
        "2026-10",
    )


def test_per_run_values_are_summed() -> None:
    images = _images(*_angio())
    row = _study(images, "A1")
    assert row["dap_total_gy_m2"] == pytest.approx(625.75 * DGY_CM2, rel=1e-12)
    assert row["fluoro_time_s"] == pytest.approx((3 * 30 + 3 * 15) * 0.067)
    runs = image_runs(images).sort("dap_gy_m2")
    assert runs.height == 6
    assert (
        runs.get_column("acquisition_protocol").to_list() == ["LV 30fps"] * 3 + ["Coro 15fps"] * 3
    )


def test_image_only_studies_enter_statistics_and_alerts_as_estimates() -> None:
    # 3000 dGy.cm2 (300 Gy.cm2) repeated over each of two series: 600 Gy.cm2, over 500
    heavy = [
        _image("H1", f"H1.{s}", n, "3000", kvp=str(80 + n)) for s in (1, 2) for n in range(1, 4)
    ]
    images = _images(*_mobile(), *_angio(), *heavy)
    events, accumulated = _no_events()
    totals = study_totals(events, accumulated, images)
    month = build_study_dose(
        totals,
        events,
        images,
        frame_from_rows("event_image_links", []),
        "2026-10",
        ProcedureMap.from_yaml(),
    )
    assert month.get_column("image_count").sort().to_list() == [6, 6, 9]
    rooms = dose_by_room(month, "2026-10").row(0, named=True)
    assert (rooms["study_count"], rooms["estimated_study_count"]) == (3, 3)
    assert rooms["dap_max_gy_cm2"] == pytest.approx(600.0)
    protocols = dose_by_protocol(events, images, month, "2026-10")
    assert (
        protocols.get_column("estimated_event_count").sum()
        == protocols.get_column("event_count").sum()
        == 2 + 6 + 2
    )
    alerts = build_dose_alerts(totals, "2026-10", AlertThresholds())
    study = alerts.filter(pl.col("scope") == "study").row(0, named=True)
    assert alerts.filter(pl.col("scope") == "study").height == 1
    assert (study["rule"], study["study_instance_uid"], study["value"]) == (
        "study_dap_gy_cm2",
        uid("H1"),
        pytest.approx(600.0),
    )
    assert (study["source"], study["estimate"]) == ("image_headers", True)


def test_with_a_dose_report_the_report_wins_and_images_cross_check() -> None:
    """S1's report: 0.003 Gy.m2 (30 Gy.cm2) in two events; its images repeat event DAPs."""
    events = frame_from_rows(
        "irradiation_events",
        event_rows(
            {
                "e1": ("S1", "fluoroscopy", 0.001, 0.1, 300.0, "Fluoro Card"),
                "e2": ("S1", "stationary", 0.002, 0.2, 5.0, "Coro 15fps"),
            }
        ),
    ).with_columns(study_instance_uid=pl.lit(uid("S1")))
    accumulated = frame_from_rows(
        "accumulated_dose",
        [
            {
                "report_sop_instance_uid": "r1",
                "study_instance_uid": uid("S1"),
                "acquisition_plane": "single_plane",
                "dap_total_gy_m2": 0.003,
                "dose_rp_total_gy": 0.3,
                "source_path": "reports/r1.dcm",
            }
        ],
    )
    # the stationary run's DAP (200 dGy.cm2) repeated in its three images: 0.002 Gy.m2, once
    agree = _images(*(_image("S1", "S1.1", n, "200", study_date="20261005") for n in (1, 2, 3)))
    row = study_totals(events, accumulated, agree).row(0, named=True)
    assert (row["dap_total_gy_m2"], row["dap_source"], row["dose_source"]) == (
        0.003,
        "device_total",
        "dose_report",
    )
    assert row["image_dap_total_gy_m2"] == pytest.approx(0.002)
    assert row["image_dap_mismatch"] is False
    # images claiming 500 dGy.cm2 more than the report: flagged, never added
    more = _images(
        *(_image("S1", "S1.1", n, "200", study_date="20261005") for n in (1, 2)),
        _image("S1", "S1.2", 3, "600", study_date="20261005"),
    )
    row = study_totals(events, accumulated, more).row(0, named=True)
    assert (row["dap_total_gy_m2"], row["image_dap_total_gy_m2"]) == (
        0.003,
        pytest.approx(0.008),
    )
    assert row["image_dap_mismatch"] is True
    assert study_totals(events, accumulated, more).height == 1
    # a report that cannot be placed (no date at all) does not turn its study into an estimate
    undated = events.with_columns(
        pl.lit(None, events.schema["study_date"]).alias("study_date"),
        pl.lit(None, events.schema["datetime_started"]).alias("datetime_started"),
    )
    assert study_totals(undated, accumulated, more).height == 0


def test_an_image_only_study_without_study_date_is_placed_by_its_first_acquisition() -> None:
    images = _images(*(_image("U1", "U1.1", n, "5", study_date=None) for n in (1, 2)))
    row = _study(images, "U1")
    assert (str(row["study_date"]), row["month"]) == ("2026-10-14", "2026-10")
