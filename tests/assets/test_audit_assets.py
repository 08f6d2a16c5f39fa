"""The Dagster audit assets: materialized on a temporary store, gated by their blocking checks."""

from pathlib import Path

import polars as pl
import pytest
from builders.audit_tables import (
    event_rows,
    known_events,
    known_images,
    known_links,
    known_store,
    october,
)
from dagster import AssetKey, DagsterInstance, materialize
from polars.testing import assert_frame_equal

from xrf_assets.assets import audit, skin
from xrf_assets.assets.tables import MonthTables
from xrf_assets.core.store import TableStore, frame_from_rows
from xrf_assets.resources import XrfSettings

AUDIT_TABLES = [
    "study_dose",
    "dose_by_room_month",
    "dose_by_procedure_month",
    "dose_by_protocol_month",
    "drl_comparison",
    "dose_alerts",
]


@pytest.fixture
def settings(tmp_path: Path) -> XrfSettings:
    known_store(tmp_path / "out")
    return XrfSettings(input_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "out"))


def _run(settings: XrfSettings, instance: DagsterInstance, month: str):
    return materialize(
        [*audit.assets, *skin.assets, *audit.asset_checks],  # dose_alerts reads skin_dose
        partition_key=month,
        resources={"settings": settings},
        instance=instance,
        raise_on_error=False,
    )


def test_month_is_published_with_summaries_and_check_results(
    settings: XrfSettings, instance: DagsterInstance
) -> None:
    result = _run(settings, instance, "2026-10")
    assert result.success
    store = settings.store()
    assert all(store.months(t) == ["2026-10"] for t in AUDIT_TABLES)
    assert_frame_equal(store.read("study_dose", "2026-10"), october())
    assert store.read("dose_alerts", "2026-10").height == 7
    checks = {
        e.check_name: (e.passed, e.severity.value) for e in result.get_asset_check_evaluations()
    }
    assert checks == {
        "event_dose_within_physical_bounds": (True, "ERROR"),
        "unique_event_uids": (True, "ERROR"),
        "report_totals_match_events": (False, "WARN"),
        "links_within_study": (True, "WARN"),
        "imaged_studies_have_dose_report": (False, "WARN"),
    }
    assert {e.metadata["partition"].value for e in result.get_asset_check_evaluations()} == {
        "2026-10"
    }
    meta = result.asset_materializations_for_node("study_dose")[0].metadata
    assert meta["dagster/row_count"].value == 10  # S12: a study known from its image only
    assert "| A | fluoroscopy | 5 | 100 | 225 |" in meta["summary"].value
    drl = result.asset_materializations_for_node("drl_comparison")[0].metadata
    assert drl["procedures_above_drl"].value == 2
    alerts = result.asset_materializations_for_node("dose_alerts")[0].metadata
    assert (alerts["studies_alerted"].value, alerts["patients_alerted"].value) == (2, 3)
    assert "P3" not in alerts["summary"].value  # no patient identifiers in the UI


def _unit_error(store: TableStore) -> None:
    rows = event_rows()
    rows[0]["dap_gy_m2"] = 1.0  # e1 (October) in dGy.cm2 read as Gy.m2, say
    store.write("irradiation_events", frame_from_rows("irradiation_events", rows))


def _duplicate_uid(store: TableStore) -> None:
    # a table written by hand or an older version: the store itself refuses duplicates
    path = store.path("irradiation_events")
    pl.concat([known_events(), known_events().tail(1)]).write_parquet(path)


def _cross_study_link(store: TableStore) -> None:
    links = pl.concat(
        [
            known_links(),
            frame_from_rows(
                "event_image_links",
                [
                    {
                        "irradiation_event_uid": "e5",
                        "sop_instance_uid": "im3",
                        "link_method": "time_window",
                    }
                ],
            ),
        ]
    )
    store.write("event_image_links", links)


@pytest.mark.parametrize(
    ("corrupt", "check"),
    [
        (_unit_error, "event_dose_within_physical_bounds"),
        (_duplicate_uid, "unique_event_uids"),
    ],
)
def test_a_failing_blocking_check_publishes_nothing(
    settings: XrfSettings,
    instance: DagsterInstance,
    corrupt,
    check: str,
) -> None:
    store = settings.store()
    store.write("study_dose", october(), month="2026-10")  # the audit published last time
    published = store.path("study_dose", "2026-10").read_bytes()
    corrupt(store)

    result = _run(settings, instance, "2026-10")
    assert not result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert check in failed
    assert instance.get_latest_materialization_event(AssetKey("study_dose")) is None
    # readers still see the previous audit of the month, byte for byte, and nothing else
    assert store.path("study_dose", "2026-10").read_bytes() == published
    assert [t for t in AUDIT_TABLES if store.months(t)] == ["study_dose"]


def test_an_image_refiled_under_another_study_warns_and_the_month_is_published(
    settings: XrfSettings, instance: DagsterInstance
) -> None:
    _cross_study_link(settings.store())  # a PACS merge or split: the UID link still holds
    result = _run(settings, instance, "2026-10")
    assert result.success
    store = settings.store()
    assert all(store.months(t) == ["2026-10"] for t in AUDIT_TABLES)
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "links_within_study"
    ]
    assert (check.passed, check.severity.value) == (False, "WARN")
    assert check.metadata["failures"].value == 1
    assert "im3" in check.metadata["sample"].value and "e5" in check.metadata["sample"].value


def test_a_month_whose_window_holds_a_broken_event_is_not_published(
    settings: XrfSettings, instance: DagsterInstance
) -> None:
    _unit_error(settings.store())
    assert not _run(settings, instance, "2026-11").success  # the window reaches back to October
    assert all(not settings.store().months(t) for t in AUDIT_TABLES)


def test_every_check_has_a_description() -> None:
    specs = [s for a in [*audit.assets, *audit.asset_checks] for s in a.check_specs]
    assert len(specs) == 5
    described = {s.name: s.description for s in specs}
    assert described["unique_event_uids"].startswith("An Irradiation Event UID (113769)")
    assert described["imaged_studies_have_dose_report"].startswith("Studies of the month with")
    assert all(described.values())


def test_assets_are_in_the_audit_group_on_monthly_partitions() -> None:
    for a in audit.assets:
        assert a.group_names_by_key[a.key] == "audit"
        assert a.partitions_def is not None
        assert a.partitions_def.get_partition_keys_in_range  # MonthlyPartitionsDefinition
    assert {a.key.to_user_string() for a in audit.assets} == set(AUDIT_TABLES)


def test_a_month_reads_its_partition_and_only_the_tables_declared(settings: XrfSettings) -> None:
    store = settings.store()
    store.write("study_dose", october(), month="2026-10")
    reads = frozenset({"images", "study_dose"})
    tables = MonthTables("dose_by_room_month", store, "2026-10", reads)
    assert_frame_equal(tables.read("images"), known_images())  # unpartitioned: the whole table
    assert_frame_equal(tables.read("study_dose"), october())  # monthly: the month's partition
    with pytest.raises(KeyError, match="irradiation_events is not among the tables"):
        tables.read("irradiation_events")
    graph = {a.key.to_user_string(): a for a in audit.assets}
    assert {k.to_user_string() for k in graph["dose_by_protocol_month"].dependency_keys} == {
        "study_dose",
        "irradiation_events",
        "images",
    }
