"""Month audits side by side in worker processes, for ``xrf-dose run`` over a whole archive.

Month partitions are independent but for the report's 12-month trend, which reads the earlier
months' ``dose_by_room_month``: so every month's tables are audited first, side by side, and
the reports only once all tables are published (run in that order, they match a one-month-at-a
-time run byte for byte). Workers fork from the reader pool's fork server, never from a process
that runs Dagster's or polars' threads, and take the caller's environment and working folder, as
the settings resolve ``XRF_*`` and relative paths at run time. Each opens the caller's Dagster
instance from its ref, so the runs land in the run history the UI shows.

The workers start before the ingest (:class:`AuditWorkers`): a worker's start (the PDF printer,
the instance, the audit job's definition: seconds of CPU) then fills the core that the ingest
leaves idle while it plans, publishes and links, instead of delaying the first month.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any

from xrf_assets.core.ingest.pool import SERVER

if TYPE_CHECKING:
    from dagster import AssetKey, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

log = logging.getLogger(__name__)
PRESTARTED = 2  # workers started before the ingest; each starts a browser and an instance
_INSTANCE: DagsterInstance | None = None  # the worker's, opened once at its start


def _start_worker(environ: dict[str, str], cwd: str, ref: InstanceRef | None) -> None:
    """Take the caller's environment and folder; start the PDF printer (its ``XRF_CHROMIUM``
    is the caller's) in a thread, open the instance and build the audit job meanwhile."""
    global _INSTANCE
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    from dagster import DagsterInstance

    from pipelines.definitions import defs
    from pipelines.jobs import monthly_audit_job
    from xrf_assets.core.report.pdf import warm_up

    warm_up()
    _INSTANCE = DagsterInstance.from_ref(ref) if ref else DagsterInstance.ephemeral()
    defs.resolve_job_def(monthly_audit_job.name)


def _started() -> None:
    """A task whose submission makes the pool start a worker now."""


def _run_in_worker(config: dict[str, Any], month: str, assets: Sequence[AssetKey]) -> bool:
    from pipelines.headless import run_month

    assert _INSTANCE is not None, "worker not initialised"
    return run_month(_INSTANCE, config, month, assets)


class AuditWorkers:
    """``workers`` month audit processes, started at once; :meth:`audit` runs the months."""

    def __init__(self, instance: DagsterInstance, workers: int) -> None:
        ref = None if instance.is_ephemeral else instance.get_ref()
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=SERVER,
            initializer=_start_worker,
            initargs=(dict(os.environ), os.getcwd(), ref),
        )
        # the pool starts a process for each task that finds no idle one: two now (the months
        # are not known before the ingest; a many-core host starts the rest when months come)
        for _ in range(min(workers, PRESTARTED)):
            self._pool.submit(_started)

    def __enter__(self) -> AuditWorkers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.shutdown(cancel_futures=True)

    def audit(
        self, config: dict[str, Any], months: Sequence[str], phases: Sequence[Sequence[AssetKey]]
    ) -> list[str]:
        """Run ``phases`` (asset selections) one after the other, each over every month still
        passing; the months whose run failed in any phase. An ephemeral instance (no run history
        to share) gives each worker its own."""
        failed: list[str] = []
        for assets in phases:
            todo = [m for m in months if m not in failed]
            runs = [self._pool.submit(_run_in_worker, config, m, assets) for m in todo]
            failed += [m for m, run in zip(todo, runs, strict=True) if not _succeeded(m, run)]
        return sorted(failed)


def _succeeded(month: str, run: Future[bool]) -> bool:
    """A worker that dies (out of memory) fails its month, named, not the whole command."""
    try:
        return run.result()
    except Exception as exc:
        log.error("the audit of %s stopped: its worker process failed: %r", month, exc)
        return False
