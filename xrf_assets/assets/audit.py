"""Audit family: the monthly dose audit a physicist signs, one month partition per run.

``study_dose`` gates the family: it checks what the audit reads (``INPUT_CHECKS`` in
xrf_assets/core/audit/checks.py) before writing anything, and a failing blocking check fails it,
so no audit table of that month is published (downstream assets do not run) while the previous
version of each table stays in place. Group, partitioning and descriptions come from the
contracts; reading, writing and describing a month is :mod:`xrf_assets.assets.tables`.
"""

from collections.abc import Callable, Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset_check,
)

from xrf_assets.assets.metadata import markdown_table
from xrf_assets.assets.tables import MonthTables, monthly_asset
from xrf_assets.core.audit.alerts import build_dose_alerts
from xrf_assets.core.audit.checks import (
    INPUT_CHECKS,
    CheckOutcome,
    audit_input_checks,
    check_imaged_studies_reported,
)
from xrf_assets.core.audit.drl import compare_to_drl
from xrf_assets.core.audit.months import month_expr, month_window
from xrf_assets.core.audit.scope import (
    event_links,
    placement_rows,
    study_rows,
    window_rows,
)
from xrf_assets.core.audit.statistics import dose_by_procedure, dose_by_protocol, dose_by_room
from xrf_assets.core.audit.study_dose import build_study_dose, study_totals, unplaced_event_count
from xrf_assets.resources import XrfSettings

# the columns a month's UI summaries show: DAP median and the local DRL candidate (p75)
_DAP_SUMMARY = ["dap_median_gy_cm2", "dap_p75_drl_candidate_gy_cm2"]
_ROOM_SUMMARY = ["room_id", "modality", "study_count", *_DAP_SUMMARY]


# What each check of what the audit reads guards (the UI shows it with the check).
INPUT_CHECK_DESCRIPTIONS: dict[str, str] = {
    "event_dose_within_physical_bounds": "Irradiation events whose DAP or Dose (RP) lie outside "
    "physical bounds (a unit read wrongly); blocks the month above 5 % of its events.",
    "unique_event_uids": "An Irradiation Event UID (113769) found more than once would count its "
    "dose twice; blocks the month.",
    "report_totals_match_events": "Accumulated totals of each dose report (TID 10002) against "
    "the sum of its events; a mismatch is flagged on the study.",
    "links_within_study": "Images linked to an event of another study (a PACS merge or split): "
    "named, never blocking.",
}


def _check_result(outcome: CheckOutcome, month: str) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR if outcome.blocking else AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={
            "partition": month,
            "failures": outcome.failures,
            "sample": MetadataValue.md(markdown_table(pl.DataFrame(outcome.sample))),
        },
    )


@monthly_asset(
    "study_dose",
    reads=["irradiation_events", "accumulated_dose", "images", "event_image_links"],
    check_specs=[
        AssetCheckSpec(n, asset="study_dose", blocking=b, description=INPUT_CHECK_DESCRIPTIONS[n])
        for n, b in INPUT_CHECKS.items()
    ],
)
def study_dose(tables: MonthTables, settings: XrfSettings) -> Iterator[object]:
    month = tables.month
    window = settings.alert_thresholds().window_months
    months = month_window(month, window)
    rows = window_rows(tables.scan, months)
    events, images = rows.events, rows.images
    studies = study_totals(events, rows.accumulated, images, months=months)
    links, linked = event_links(tables.scan, events)
    outcomes = audit_input_checks(events, rows.accumulated, linked, links, studies, month, window)
    yield from (_check_result(o, month) for o in outcomes)
    blocked = [o for o in outcomes if o.blocking and not o.passed]
    if blocked:
        raise Failure(
            description=f"audit of {month} not published: "
            + "; ".join(o.description for o in blocked),
        )
    df = build_study_dose(studies, events, images, links, month, settings.procedures())
    rooms = dose_by_room(df, month).select(_ROOM_SUMMARY)
    yield tables.publish(
        df,
        f"Studies of {month} per room",
        rooms,
        totals_mismatch_studies=int(df.get_column("totals_mismatch").sum()),
        unplaced_events=unplaced_event_count(placement_rows(tables.scan, "irradiation_events")),
    )


@asset_check(
    asset=study_dose,
    description="Studies of the month with images but no dose report, whose dose the audit misses.",
)
def imaged_studies_have_dose_report(
    context: AssetCheckExecutionContext, settings: XrfSettings
) -> AssetCheckResult:
    month = context.op_execution_context.partition_key
    tables = MonthTables("study_dose", settings.store(), month, frozenset({"images", "study_dose"}))
    images = tables.read("images", where=month_expr("study_date") == month)
    return _check_result(
        check_imaged_studies_reported(images, tables.read("study_dose"), month), month
    )


def _rows_of_studies(tables: MonthTables) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Events and images of the month's studies (not the archive's), and its ``study_dose``."""
    study_dose = tables.read("study_dose")
    uids = study_dose.get_column("study_instance_uid")
    events, images = (study_rows(tables.scan, t, uids) for t in ("irradiation_events", "images"))
    return events, images, study_dose


def _statistic(
    table: str,
    reads: list[str],
    compute: Callable[[MonthTables], pl.DataFrame],
    summary: list[str],
    title: str,
) -> AssetsDefinition:
    """A monthly statistic: computed from ``reads``, its UI summary is a few of its columns."""

    @monthly_asset(table, reads=reads)
    def statistic(tables: MonthTables, settings: XrfSettings) -> MaterializeResult:
        df = compute(tables)
        return tables.publish(df, title.format(month=tables.month), df.select(summary))

    return statistic


dose_by_room_month = _statistic(
    "dose_by_room_month",
    ["study_dose"],
    lambda t: dose_by_room(t.read("study_dose"), t.month),
    [*_ROOM_SUMMARY, "dose_rp_max_gy", "fluoro_time_max_s"],
    "Dose per room, {month} (p75 = local DRL candidate)",
)
dose_by_procedure_month = _statistic(
    "dose_by_procedure_month",
    ["study_dose"],
    lambda t: dose_by_procedure(t.read("study_dose"), t.month),
    ["procedure", "study_count", *_DAP_SUMMARY, "fluoro_time_median_s"],
    "Dose per procedure, {month} (p75 = local DRL candidate)",
)
dose_by_protocol_month = _statistic(
    "dose_by_protocol_month",
    ["study_dose", "irradiation_events", "images"],
    lambda t: dose_by_protocol(*_rows_of_studies(t), t.month),
    ["room_id", "acquisition_protocol", "event_count", *_DAP_SUMMARY],
    "Dose per event and protocol, {month}",
)


@monthly_asset("drl_comparison", reads=["study_dose"])
def drl_comparison(tables: MonthTables, settings: XrfSettings) -> MaterializeResult:
    month, levels = tables.month, settings.reference_levels()
    df = compare_to_drl(tables.read("study_dose"), month, levels)
    summary = df.select(
        "procedure",
        "study_count",
        "dap_median_gy_cm2",
        "drl_dap_gy_cm2",
        "median_to_drl_ratio",
        "above_drl",
    )
    return tables.publish(
        df,
        f"Median DAP against DRLs, {month}",
        summary,
        procedures_above_drl=int(df.get_column("above_drl").sum()),
        drl_source=levels.source,
    )


# study_dose: read by nothing here, but its blocking checks gate the month
@monthly_asset(
    "dose_alerts",
    reads=["study_dose", "irradiation_events", "accumulated_dose", "images", "skin_dose"],
)
def dose_alerts(tables: MonthTables, settings: XrfSettings) -> MaterializeResult:
    month = tables.month
    months = month_window(month, settings.alert_thresholds().window_months)
    rows = window_rows(tables.scan, months)
    studies = study_totals(rows.events, rows.accumulated, rows.images, months=months)
    df = build_dose_alerts(
        studies, month, settings.alert_thresholds(), skin_dose=tables.read("skin_dose")
    )
    # Study and room only: the UI is no place for patient identifiers.
    summary = df.select(
        "scope",
        "rule",
        "value",
        "source",
        "threshold",
        "study_date",
        "room_id",
        "window_study_uids",
    )
    by_scope = {
        scope: df.filter(pl.col("scope") == scope).get_column(key).n_unique()
        for scope, key in (("study", "study_instance_uid"), ("patient", "patient_id"))
    }
    return tables.publish(
        df,
        f"High-dose alerts, {month}",
        summary,
        studies_alerted=by_scope["study"],
        patients_alerted=by_scope["patient"],
    )


assets = [
    study_dose,
    dose_by_room_month,
    dose_by_procedure_month,
    dose_by_protocol_month,
    drl_comparison,
    dose_alerts,
]
asset_checks = [imaged_studies_have_dose_report]
