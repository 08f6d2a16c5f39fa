"""Audit family: the monthly dose audit a physicist signs, one month partition per run.

``study_dose`` gates the family: it checks what the audit reads (``CHECKS`` in
xrf_assets/core/audit_checks.py) before writing anything, and a failing blocking check fails it,
so no audit table of that month is published (downstream assets do not run) while the previous
version of each table stays in place.
"""

from collections.abc import Callable, Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from schemas import contract
from xrf_assets.assets.metadata import markdown_table, table_metadata
from xrf_assets.assets.partitions import monthly_partitions
from xrf_assets.core.audit.alerts import build_dose_alerts
from xrf_assets.core.audit.checks import (
    INPUT_CHECKS,
    CheckOutcome,
    audit_input_checks,
    check_imaged_studies_reported,
)
from xrf_assets.core.audit.drl import compare_to_drl
from xrf_assets.core.audit.statistics import dose_by_procedure, dose_by_protocol, dose_by_room
from xrf_assets.core.audit.study_dose import build_study_dose, study_totals, unplaced_event_count
from xrf_assets.core.store import TableStore
from xrf_assets.resources import XrfSettings


def _check_result(outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR if outcome.blocking else AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={
            "failures": outcome.failures,
            "sample": MetadataValue.md(markdown_table(pl.DataFrame(outcome.sample))),
        },
    )


def _published(
    store: TableStore,
    table: str,
    df: pl.DataFrame,
    month: str,
    title: str,
    summary: pl.DataFrame,
    **figures: object,
) -> MaterializeResult:
    """Write the month, and describe it in the UI: table metadata, figures, a markdown summary."""
    info = store.write(table, df, month=month)
    markdown = MetadataValue.md(f"**{title}**\n\n{markdown_table(summary)}")
    return MaterializeResult(metadata=table_metadata(info, **figures) | {"summary": markdown})


def _audit_asset(
    name: str, deps: list[str], check_specs: list[AssetCheckSpec] | None = None
) -> Callable[..., AssetsDefinition]:
    return asset(
        name=name,
        group_name="audit",
        deps=deps,
        partitions_def=monthly_partitions,
        description=contract(name).description,
        kinds={"parquet"},
        check_specs=check_specs,
    )


@_audit_asset(
    "study_dose",
    ["irradiation_events", "accumulated_dose", "images", "event_image_links"],
    [AssetCheckSpec(n, asset="study_dose", blocking=b) for n, b in INPUT_CHECKS.items()],
)
def study_dose(context: AssetExecutionContext, settings: XrfSettings) -> Iterator[object]:
    store, month = settings.store(), context.partition_key
    events, accumulated = store.read("irradiation_events"), store.read("accumulated_dose")
    images, links = store.read("images"), store.read("event_image_links")
    studies = study_totals(events, accumulated, images)
    outcomes = audit_input_checks(
        events,
        accumulated,
        images,
        links,
        studies,
        month,
        settings.alert_thresholds().window_months,
    )
    yield from (_check_result(o) for o in outcomes)
    blocked = [o for o in outcomes if o.blocking and not o.passed]
    if blocked:
        raise Failure(
            description=f"audit of {month} not published: "
            + "; ".join(o.description for o in blocked),
        )
    df = build_study_dose(studies, events, images, links, month, settings.procedures())
    rooms = dose_by_room(df, month).select(
        "room_id", "modality", "study_count", "dap_median_gy_cm2", "dap_p75_drl_candidate_gy_cm2"
    )
    yield _published(
        store,
        "study_dose",
        df,
        month,
        f"Studies of {month} per room",
        rooms,
        totals_mismatch_studies=int(df.get_column("totals_mismatch").sum()),
        unplaced_events=unplaced_event_count(events),
    )


@asset_check(
    asset=study_dose,
    description="Studies of the month with images but no dose report, whose dose the audit misses.",
)
def imaged_studies_have_dose_report(
    context: AssetCheckExecutionContext, settings: XrfSettings
) -> AssetCheckResult:
    store, month = settings.store(), context.op_execution_context.partition_key
    return _check_result(
        check_imaged_studies_reported(
            store.read("images"), store.read("study_dose", month=month), month
        )
    )


@_audit_asset("dose_by_room_month", ["study_dose"])
def dose_by_room_month(context: AssetExecutionContext, settings: XrfSettings) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    df = dose_by_room(store.read("study_dose", month=month), month)
    summary = df.select(
        "room_id",
        "modality",
        "study_count",
        "dap_median_gy_cm2",
        "dap_p75_drl_candidate_gy_cm2",
        "dose_rp_max_gy",
        "fluoro_time_max_s",
    )
    title = f"Dose per room, {month} (p75 = local DRL candidate)"
    return _published(store, "dose_by_room_month", df, month, title, summary)


@_audit_asset("dose_by_procedure_month", ["study_dose"])
def dose_by_procedure_month(
    context: AssetExecutionContext, settings: XrfSettings
) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    df = dose_by_procedure(store.read("study_dose", month=month), month)
    summary = df.select(
        "procedure",
        "study_count",
        "dap_median_gy_cm2",
        "dap_p75_drl_candidate_gy_cm2",
        "fluoro_time_median_s",
    )
    title = f"Dose per procedure, {month} (p75 = local DRL candidate)"
    return _published(store, "dose_by_procedure_month", df, month, title, summary)


@_audit_asset("dose_by_protocol_month", ["study_dose", "irradiation_events", "images"])
def dose_by_protocol_month(
    context: AssetExecutionContext, settings: XrfSettings
) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    df = dose_by_protocol(
        store.read("irradiation_events"),
        store.read("images"),
        store.read("study_dose", month=month),
        month,
    )
    summary = df.select(
        "room_id",
        "acquisition_protocol",
        "event_count",
        "dap_median_gy_cm2",
        "dap_p75_drl_candidate_gy_cm2",
    )
    title = f"Dose per event and protocol, {month}"
    return _published(store, "dose_by_protocol_month", df, month, title, summary)


@_audit_asset("drl_comparison", ["study_dose"])
def drl_comparison(context: AssetExecutionContext, settings: XrfSettings) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    levels = settings.reference_levels()
    df = compare_to_drl(store.read("study_dose", month=month), month, levels)
    summary = df.select(
        "procedure",
        "study_count",
        "dap_median_gy_cm2",
        "drl_dap_gy_cm2",
        "median_to_drl_ratio",
        "above_drl",
    )
    return _published(
        store,
        "drl_comparison",
        df,
        month,
        f"Median DAP against DRLs, {month}",
        summary,
        procedures_above_drl=int(df.get_column("above_drl").sum()),
        drl_source=levels.source,
    )


@_audit_asset("dose_alerts", ["study_dose", "irradiation_events", "accumulated_dose", "images"])
def dose_alerts(context: AssetExecutionContext, settings: XrfSettings) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    studies = study_totals(
        store.read("irradiation_events"), store.read("accumulated_dose"), store.read("images")
    )
    df = build_dose_alerts(studies, month, settings.alert_thresholds())
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
    return _published(
        store,
        "dose_alerts",
        df,
        month,
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
