"""The monthly audit report asset: ``<output>/reports/YYYY-MM/audit.html`` and ``audit.pdf``.

Part of the audit group, so the ``monthly_audit`` job (and ``xrf-dose run``) writes it after the
month's tables. Its 12-month trend also reads the earlier months' dose_by_room_month partitions
present: a month audited later does not redo an earlier report. That dependency is declared (a
time-window mapping), so a backfill from the UI runs a month's report only after the trend
months' tables that the same backfill targets. A PDF that cannot be printed (no Chromium) is a
warning and metadata, never a failed run: the HTML is the report.
"""

from typing import Any

from dagster import (
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from xrf_assets.assets.partitions import monthly_partitions
from xrf_assets.core.ingest.privacy import PrivacyError
from xrf_assets.core.report.content import TREND_MONTHS
from xrf_assets.core.report.settings import ReportSettings
from xrf_assets.core.report.write import ReportFiles, write_report
from xrf_assets.resources import XrfSettings

READS = [
    "study_dose",
    "dose_by_room_month",
    "dose_by_procedure_month",
    "drl_comparison",
    "dose_alerts",
    "skin_dose",
    "skin_dose_by_room_month",
    "irradiation_events",
    "images",
    "unlinked_images",
    "dicom_files",
]
# the month's dose_by_room_month and the 11 before it (clipped at the first partition)
TREND = TimeWindowPartitionMapping(start_offset=-(TREND_MONTHS - 1))
DEPS = [AssetDep(k, partition_mapping=TREND) if k == "dose_by_room_month" else k for k in READS]


def report_settings(settings: XrfSettings) -> ReportSettings:
    """What the run resolved. Without a usable pseudonym key the report is made as
    pseudonymized (no paths shown): it needs no key, and the tables are as they were written."""
    try:
        privacy = settings.privacy_settings()
        mode, hashed = privacy.mode, privacy.hash_identifiers
    except PrivacyError:
        mode, hashed = "pseudonymize", False
    return ReportSettings.resolve(
        mode,
        settings.reference_levels().source,
        # each file as the run resolves it: config, else its XRF_* variable, else shipped
        files={
            "rooms file": settings.setting("rooms_file"),
            "procedures file": settings.setting("procedures_file"),
            "reference levels file": settings.setting("drl_file"),
            "skin geometry file": settings.setting("skin_geometry_file"),
        },
        folders={
            "input folder": str(settings.input_path()),
            "output folder": str(settings.output_path()),
        },
        hash_identifiers=hashed,
        thresholds=settings.alert_thresholds(),
        link=settings.link_settings(),
    )


def report_metadata(files: ReportFiles) -> dict[str, Any]:
    pdf: Any = MetadataValue.path(str(files.pdf)) if files.pdf else f"skipped: {files.pdf_skipped}"
    sections = "\n".join(f"- {s}" for s in files.sections)
    return {
        "report_html": MetadataValue.path(str(files.html)),
        "open_report": MetadataValue.url(files.html.resolve().as_uri()),
        "report_pdf": pdf,
        "sections": MetadataValue.md(sections),
        **files.figures,
    }


@asset(
    group_name="audit",
    partitions_def=monthly_partitions,
    deps=DEPS,
    kinds={"html", "pdf"},
    description="The month's audit report to file and sign (HTML with inline charts, and its "
    "PDF): studies, dose distributions, local DRL candidates, 12-month trend, alerts, skin "
    "dose maps, flagged studies, unlinked images, data quality, settings.",
)
def audit_report(context: AssetExecutionContext, settings: XrfSettings) -> MaterializeResult:
    month = context.partition_key
    files = write_report(settings.store(), month, report_settings(settings), audit_run=True)
    context.log.info(f"audit report {month}: {files.html}")
    if files.pdf is None:
        context.log.warning(f"audit report {month}: PDF skipped: {files.pdf_skipped}")
    return MaterializeResult(metadata=report_metadata(files))


assets = [audit_report]
