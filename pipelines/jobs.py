"""Jobs users launch from the UI, the schedule and the sensor."""

from dagster import AssetSelection, define_asset_job

from xrf_assets.assets.partitions import monthly_partitions

# Read new/changed files and relink: unpartitioned, cheap when nothing changed.
ingest_job = define_asset_job(
    "ingest",
    selection=AssetSelection.groups("ingest", "link"),
    description="Read new or changed DICOM files into the ingest tables; relink images to events.",
)

# The monthly audit a physicist signs: one month partition of every audit table.
monthly_audit_job = define_asset_job(
    "monthly_audit",
    selection=AssetSelection.groups("audit"),
    partitions_def=monthly_partitions,
    description="One month: study totals, room/protocol statistics, DRL comparison, alerts.",
)
