"""Jobs users launch from the UI, the schedule and the sensor.

Both run their steps in the run's own process (``in_process_executor``): each step is seconds of
work (ingest parallelises its reads in its own process pool), while Dagster's default executor
starts one Python process per step, which made a one-month audit from the UI take ~55 s. A site
that spreads the ingest shards over workers builds the ingest job with its executor
(:func:`ingest_job_with`, docs/scale-out.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, in_process_executor

if TYPE_CHECKING:  # what define_asset_job returns: Dagster exports it only privately
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def ingest_job_with(executor: ExecutorDefinition) -> UnresolvedAssetJobDefinition:
    """Read new/changed files and relink: unpartitioned, cheap when nothing changed; its steps
    (one per ingest shard, then publish and link) run by ``executor``."""
    return define_asset_job(
        "ingest",
        selection=AssetSelection.groups("ingest", "link"),
        description="Read new or changed DICOM files into the ingest tables; relink images to "
        "events.",
        executor_def=executor,
    )


ingest_job = ingest_job_with(in_process_executor)

# The monthly audit a physicist signs: one month partition of every audit table (the monthly
# partitions are inferred from the audit assets; passing partitions_def is deprecated).
monthly_audit_job = define_asset_job(
    "monthly_audit",
    selection=AssetSelection.groups("audit"),
    description="One month: study totals, room/protocol statistics, DRL comparison, alerts, "
    "skin dose, and the audit report (HTML and PDF).",
    executor_def=in_process_executor,
)
