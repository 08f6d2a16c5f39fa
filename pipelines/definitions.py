"""The one Definitions of the code location: assembles, defines nothing."""

from dagster import Definitions

from pipelines.jobs import ingest_job, monthly_audit_job
from pipelines.schedules import schedules
from pipelines.sensors import sensors
from xrf_assets.assets import audit, report, skin
from xrf_assets.assets.ingest import dicom_ingest
from xrf_assets.assets.link import image_event_linking
from xrf_assets.resources import XrfSettings

defs = Definitions(
    assets=[dicom_ingest, image_event_linking, *audit.assets, *skin.assets, *report.assets],
    asset_checks=audit.asset_checks,
    jobs=[ingest_job, monthly_audit_job],
    schedules=schedules,
    sensors=sensors,
    resources={"settings": XrfSettings()},  # XRF_* resolved at run time, not at import
)
