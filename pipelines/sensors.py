"""Start an ingest run when files under the input root appear, change or disappear.

The cursor is a digest of every entry's path, size and modification time (the same walk ingest
uses, xrf_assets/core/ingest/discovery.py), not the newest modification time: files copied with
their old times (``cp -p``, ``rsync -a``, PACS exports) change the digest although no time is new.
While an ingest run is queued or running the cursor is not moved, so files still arriving are
picked up by the next run instead of starting one run per tick. The walk stats every file (about
0.1 ms each): for archives of millions of files raise the interval or Dagster's sensor timeout.
"""

import hashlib
import json
from pathlib import Path

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipelines.jobs import ingest_job
from xrf_assets.core.ingest.discovery import discover
from xrf_assets.resources import XrfSettings

_ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def tree_fingerprint(root: Path) -> str:
    """Cursor: file count and a digest of (path, size, mtime) of every entry under ``root``."""
    found = discover(root)
    digest = hashlib.sha256()
    for f in found.files:
        digest.update(f"{f.path}\0{f.size_bytes}\0{f.mtime_ns}\n".encode())
    for u in found.unreadable:
        digest.update(f"{u.path}\0{u.status}\0{u.mtime_ns}\n".encode())
    return json.dumps({"files": len(found.files), "digest": digest.hexdigest()})


def _ingest_active(instance: DagsterInstance) -> bool:
    runs = instance.get_runs(RunsFilter(job_name=ingest_job.name, statuses=_ACTIVE), limit=1)
    return bool(runs)


@sensor(
    name="new_dicom_files",
    job_name=ingest_job.name,  # the ingest job of the Definitions, whatever its executor
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,  # a user turns it on (UI): no surprise runs
    description="Ingest when files under the input root appear, change or disappear.",
)
def new_dicom_files(
    context: SensorEvaluationContext, settings: XrfSettings
) -> SensorResult | SkipReason:
    root = settings.input_path()
    if not root.is_dir():
        return SkipReason(f"input folder {root} does not exist")
    fingerprint = tree_fingerprint(root)
    if fingerprint == context.cursor:
        return SkipReason(f"no file under {root} appeared, changed or disappeared")
    if _ingest_active(context.instance):
        return SkipReason("changes seen, but an ingest run is queued or running: will look again")
    files = json.loads(fingerprint)["files"]
    return SensorResult(
        run_requests=[RunRequest(tags={"xrf/files": str(files)})], cursor=fingerprint
    )


sensors = [new_dicom_files]
