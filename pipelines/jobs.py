"""Jobs users launch from the UI, the schedule and the sensor."""

from dagster import AssetSelection, define_asset_job

# Read new/changed files and relink: unpartitioned, cheap when nothing changed.
ingest_job = define_asset_job(
    "ingest",
    selection=AssetSelection.groups("ingest", "link"),
    description="Read new or changed DICOM files into the ingest tables; relink images to events.",
)

# The monthly audit a physicist signs: one month partition of every audit table (the monthly
# partitions are inferred from the audit assets; passing partitions_def is deprecated).
monthly_audit_job = define_asset_job(
    "monthly_audit",
    selection=AssetSelection.groups("audit"),
    description="One month: study totals, room/protocol statistics, DRL comparison, alerts.",
)
