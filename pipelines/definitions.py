"""The one Definitions of the code location: assembles, defines nothing."""

from dagster import Definitions, ExecutorDefinition, in_process_executor

from pipelines.jobs import ingest_job_with, monthly_audit_job
from pipelines.schedules import schedules
from pipelines.sensors import sensors
from xrf_assets.assets import audit, report, skin
from xrf_assets.assets.ingest import dicom_ingest
from xrf_assets.assets.link import image_event_linking
from xrf_assets.resources import XrfSettings


def definitions(ingest_executor: ExecutorDefinition = in_process_executor) -> Definitions:
    """The code location, its ingest job run by ``ingest_executor``: a site spreading the ingest
    shards over machines passes the Celery or Kubernetes executor (docs/scale-out.md)."""
    return Definitions(
        assets=[dicom_ingest, image_event_linking, *audit.assets, *skin.assets, *report.assets],
        asset_checks=audit.asset_checks,
        jobs=[ingest_job_with(ingest_executor), monthly_audit_job],
        schedules=schedules,
        sensors=sensors,
        resources={"settings": XrfSettings()},  # XRF_* resolved at run time, not at import
    )


defs = definitions()
