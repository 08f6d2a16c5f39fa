"""Month audits side by side in worker processes, for ``xrf-dose run`` over a whole archive.

Month partitions are independent but for the report's 12-month trend, which reads the earlier
months' ``dose_by_room_month``: so every month's tables are audited first, side by side, and
the reports only once all tables are published (run in that order, they match a one-month-at-a
-time run byte for byte). Workers fork from the reader pool's fork server, never from a process
that runs Dagster's or polars' threads, and take the caller's environment and working folder, as
the settings resolve ``XRF_*`` and relative paths at run time. Each opens the caller's Dagster
instance from its ref, so the runs land in the run history the UI shows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from xrf_assets.core.ingest.pool import SERVER

if TYPE_CHECKING:
    from dagster import AssetKey, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

log = logging.getLogger(__name__)


def _start_worker(environ: dict[str, str], cwd: str) -> None:
    """Take the caller's environment and folder; start the PDF printer (its ``XRF_CHROMIUM``
    is the caller's), which comes up while the worker audits its first month's tables."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    from xrf_assets.core.report.pdf import warm_up

    warm_up()


def _run_in_worker(
    ref: InstanceRef | None, config: dict[str, Any], month: str, assets: Sequence[AssetKey]
) -> bool:
    from dagster import DagsterInstance

    from pipelines.headless import run_month

    with DagsterInstance.from_ref(ref) if ref else DagsterInstance.ephemeral() as instance:
        return run_month(instance, config, month, assets)


def audit_in_workers(
    instance: DagsterInstance,
    config: dict[str, Any],
    months: Sequence[str],
    phases: Sequence[Sequence[AssetKey]],
    workers: int,
) -> list[str]:
    """Run ``phases`` (asset selections) one after the other, each over every month still
    passing, in ``workers`` processes; the months whose run failed in any phase.

    An ephemeral ``instance`` (no run history to share) gives each worker its own."""
    ref = None if instance.is_ephemeral else instance.get_ref()
    failed: list[str] = []
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=SERVER,
        initializer=_start_worker,
        initargs=(dict(os.environ), os.getcwd()),
    ) as pool:
        for assets in phases:
            todo = [m for m in months if m not in failed]
            runs = [pool.submit(_run_in_worker, ref, config, m, assets) for m in todo]
            failed += [m for m, run in zip(todo, runs, strict=True) if not _succeeded(m, run)]
    return sorted(failed)


def _succeeded(month: str, run: Future[bool]) -> bool:
    """A worker that dies (out of memory) fails its month, named, not the whole command."""
    try:
        return run.result()
    except Exception as exc:
        log.error("the audit of %s stopped: its worker process failed: %r", month, exc)
        return False
