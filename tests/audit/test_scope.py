"""A month's audit reads only its window's rows, and gives the tables a read of the archive gives.

The archive of the known tables gets rows that cross a month edge (a study with no Study Date whose
events run past midnight into November; a September study with an image acquired on 1 October), a
patient whose earlier study lies in the alert window, an event without a study, and a link to an
image filed under a March study.
"""

from datetime import date, datetime

import polars as pl
import pytest
from builders.audit_tables import (
    event_rows,
    known_accumulated,
    known_events,
    known_images,
    known_links,
)
from polars.testing import assert_frame_equal

from xrf_assets.core.audit.alerts import AlertThresholds, build_dose_alerts
from xrf_assets.core.audit.checks import audit_input_checks
from xrf_assets.core.audit.months import month_window
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.scope import (
    archive_study_months,
    event_links,
    placement_rows,
    window_rows,
)
from xrf_assets.core.audit.statistics import dose_by_protocol
from xrf_assets.core.audit.study_dose import (
    build_study_dose,
    study_months,
    study_totals,
    unplaced_event_count,
)
from xrf_assets.core.store import TableStore, frame_from_rows
from xrf_assets.synth import GroundTruth

INPUTS = ("irradiation_events", "accumulated_dose", "images", "event_image_links")
WINDOW = AlertThresholds().window_months
# study -> (room, patient, description, study date, report, modality)
EDGE_STUDIES = {
    "X1": ("A", "P20", "PCI", date(2026, 10, 31), "rx1", "fluoroscopy"),  # sent without a date
    "X2": ("B", "P21", "PCI", date(2026, 9, 30), "rx2", "fluoroscopy"),
    "S9": ("B", "P7", "TAVI", date(2026, 3, 10), "r9", "fluoroscopy"),
}
EDGE_EVENTS = {
    "x1a": ("X1", "fluoroscopy", 0.02, 2.0, 600.0, "Fluoro Card"),
    "x1b": ("X1", "stationary", 0.03, 2.5, 8.0, "Coro 15fps"),
    "x2a": ("X2", "fluoroscopy", 0.001, 0.1, 60.0, "Fluoro Card"),
}
EDGE_TIMES = {"x1a": datetime(2026, 10, 31, 23, 50), "x1b": datetime(2026, 11, 1, 0, 10)}


def _archive_events() -> pl.DataFrame:
    rows = event_rows(EDGE_EVENTS, EDGE_STUDIES)
    for row in rows:
        row["datetime_started"] = EDGE_TIMES.get(
            row["irradiation_event_uid"], row["datetime_started"]
        )
        if row["study_instance_uid"] == "X1":  # placed by its first event: October
            row["study_date"] = None
    no_study = dict(rows[-1], irradiation_event_uid="x0", study_instance_uid=None)
    return pl.concat([known_events(), frame_from_rows("irradiation_events", [*rows, no_study])])


def _archive_images() -> pl.DataFrame:
    edge = (
        known_images()
        .head(2)
        .with_columns(
            sop_instance_uid=pl.Series(["ix2", "ix9"]),
            study_instance_uid=pl.Series(["X2", "S9"]),
            study_date=pl.Series([None, date(2026, 3, 10)]),
            acquisition_datetime=pl.Series([datetime(2026, 10, 1, 0, 5), datetime(2026, 3, 10, 9)]),
        )
    )
    return pl.concat([known_images(), edge])


def _archive_links() -> pl.DataFrame:
    across = {
        "irradiation_event_uid": "e3",
        "sop_instance_uid": "ix9",
        "link_method": "time_window",
    }
    return pl.concat([known_links(), frame_from_rows("event_image_links", [across])])


@pytest.fixture
def archive(tmp_path) -> TableStore:
    store = TableStore(tmp_path)
    store.write("irradiation_events", _archive_events())
    store.write("accumulated_dose", known_accumulated())
    store.write("images", _archive_images())
    store.write("event_image_links", _archive_links())
    return store


def _whole(store: TableStore, month: str) -> dict[str, object]:
    """The month's audit from the archive's tables read whole (as it was done before)."""
    events, accumulated, images, links = (store.read(t) for t in INPUTS)
    months = month_window(month, WINDOW)
    studies = study_totals(events, accumulated, images, months=months)
    df = build_study_dose(studies, events, images, links, month, ProcedureMap.from_yaml())
    return {
        "studies": studies,
        "checks": audit_input_checks(events, accumulated, images, links, studies, month, WINDOW),
        "study_dose": df,
        "protocols": dose_by_protocol(events, images, df, month),
        "alerts": build_dose_alerts(studies, month, AlertThresholds()),
        "unplaced": unplaced_event_count(events),
        "months": study_months(events, images),
    }


def _scoped(store: TableStore, month: str) -> dict[str, object]:
    """The same from the rows a month reads (xrf_assets.assets.audit)."""
    months = month_window(month, WINDOW)
    rows = window_rows(store.scan, months)
    studies = study_totals(rows.events, rows.accumulated, rows.images, months=months)
    links, linked = event_links(store.scan, rows.events)
    checks = audit_input_checks(
        rows.events, rows.accumulated, linked, links, studies, month, WINDOW
    )
    df = build_study_dose(studies, rows.events, rows.images, links, month, ProcedureMap.from_yaml())
    of_month = pl.col("study_instance_uid").is_in(df.get_column("study_instance_uid").implode())
    events, images = (store.read(t, where=of_month) for t in ("irradiation_events", "images"))
    return {
        "studies": studies,
        "checks": checks,
        "study_dose": df,
        "protocols": dose_by_protocol(events, images, df, month),
        "alerts": build_dose_alerts(studies, month, AlertThresholds()),
        "unplaced": unplaced_event_count(placement_rows(store.scan, "irradiation_events")),
        "months": archive_study_months(store.scan),
    }


def _assert_same(whole: dict[str, object], scoped: dict[str, object]) -> None:
    for name, expected in whole.items():
        if isinstance(expected, pl.DataFrame):
            assert_frame_equal(scoped[name], expected, check_row_order=name != "protocols")
        else:
            assert scoped[name] == expected, name


@pytest.mark.parametrize("month", ["2026-03", "2026-09", "2026-10", "2026-11", "2027-04"])
def test_a_months_rows_give_the_tables_of_the_whole_archive(
    archive: TableStore, month: str
) -> None:
    whole, scoped = _whole(archive, month), _scoped(archive, month)
    _assert_same(whole, scoped)
    if month == "2026-10":  # the edge cases are in: the comparison is not of empty tables
        checks = {o.name: o for o in whole["checks"]}
        assert checks["links_within_study"].sample == [
            {"irradiation_event_uid": "e3", "sop_instance_uid": "ix9", "link_method": "time_window"}
        ]
        assert "X1" in whole["study_dose"].get_column("study_instance_uid").to_list()
        assert whole["unplaced"] == 1
        patients = whole["alerts"].filter(pl.col("scope") == "patient")
        assert ["S6", "S7"] in patients.get_column("window_study_uids").to_list()


def test_a_month_reads_the_rows_of_its_windows_studies_and_no_other(archive: TableStore) -> None:
    rows = window_rows(archive.scan, ["2026-10"])
    october = {"S1", "S2", "S3", "S4", "S5", "S7", "S8", "S10", "S11", "X1", "S12"}
    assert set(rows.events.get_column("study_instance_uid")) == october - {"S12"}
    # X1's November event belongs to its October study; X2's October image to September
    assert {"x1a", "x1b"} <= set(rows.events.get_column("irradiation_event_uid"))
    assert rows.images.get_column("sop_instance_uid").to_list() == ["im1", "im2", "im3", "im4"]
    assert set(rows.accumulated.get_column("report_sop_instance_uid")) == {
        "r1",
        "r2",
        "r3",
        "r4",
        "r5",
    }
    november = window_rows(archive.scan, ["2026-11"])
    assert november.events.height == november.images.height == november.accumulated.height == 0
    september = window_rows(archive.scan, ["2026-09"])
    assert set(september.events.get_column("study_instance_uid")) == {"S6", "X2"}
    assert september.images.get_column("sop_instance_uid").to_list() == ["ix2"]


def test_the_generators_months_read_alone_give_the_archives_tables(
    synth_truth: GroundTruth, tmp_path
) -> None:
    store = TableStore(tmp_path)
    for table, df in (
        ("irradiation_events", synth_truth.irradiation_events),
        ("accumulated_dose", synth_truth.accumulated_dose),
        ("images", synth_truth.images),
    ):
        store.write(table, df)
    links = synth_truth.links.with_columns(link_method=pl.lit("image_event_uid"))
    store.write("event_image_links", frame_from_rows("event_image_links", links.to_dicts()))
    for month in ("2026-09", "2026-10"):
        _assert_same(_whole(store, month), _scoped(store, month))
        one = window_rows(store.scan, [month])
        placed = synth_truth.studies.filter(pl.col("month") == month)
        assert set(one.events.get_column("study_instance_uid")) == set(
            placed.get_column("study_instance_uid")
        )
        assert 0 < one.events.height < synth_truth.irradiation_events.height
