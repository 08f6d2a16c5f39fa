"""``xrf-dose run``: the whole asset graph in-process, with Dagster's own execution.

The run launches the code location's own jobs, as the UI does: ``ingest`` (ingest and link,
unpartitioned) once, then ``monthly_audit`` for each month found in the data, the settings given
as the resource's run config. So the UI lists these runs under their job names, and a run started
here and one started from the UI resolve the same settings the same way. With more than one core
(``workers``), months are audited side by side (:mod:`pipelines.audit_workers`): each month's
tables in one run, then its report in another, once every month's tables are published.
A month whose audit fails (a blocking check: a systemic fault) does not stop the others: every
month is audited, and the run fails only afterwards, naming the months it could not publish.
Run history goes to ``$DAGSTER_HOME`` when it is set (so the UI shows these runs; a folder created
here gets a ``dagster.yaml`` with telemetry off), else to a temporary instance.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from dagster import AssetKey, DagsterInstance

from pipelines.audit_workers import AuditWorkers
from pipelines.definitions import defs
from pipelines.jobs import ingest_job, monthly_audit_job
from xrf_assets.assets import report
from xrf_assets.assets.partitions import FIRST_MONTH_ENV, monthly_partitions
from xrf_assets.core.audit.scope import archive_study_months
from xrf_assets.core.report.pdf import warm_up
from xrf_assets.core.store import TableStore
from xrf_assets.resources import XrfSettings


@dataclass
class RunSummary:
    output_dir: Path
    months: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    failed_months: list[str] = field(default_factory=list)  # audited, but not published
    unpartitioned_months: list[str] = field(default_factory=list)  # no partition: not audited
    month_findings: dict[str, str] = field(default_factory=dict)  # month -> alerts, DRL exceedances

    def render(self) -> str:
        lines = [f"{name:>22}: {n}" for name, n in self.counts.items()]
        lines.append(f"{'months':>22}: {', '.join(self.months) or 'none'}")
        lines += [f"{month:>22}: {found}" for month, found in self.month_findings.items()]
        if self.failed_months:
            lines.append(
                f"{'NOT PUBLISHED':>22}: {', '.join(self.failed_months)} "
                "(a blocking audit check failed; see the run log)"
            )
        if self.unpartitioned_months:
            lines.append(
                f"{'NOT AUDITED':>22}: {', '.join(self.unpartitioned_months)} "
                f"(no partition: they lie before {FIRST_MONTH_ENV}={monthly_partitions.start:%Y-%m}"
                " or after the running month)"
            )
        lines.append(f"{'tables under':>22}: {self.output_dir}")
        return "\n".join(lines)


TELEMETRY_OFF = "telemetry:\n  enabled: false\n"


def prepare_dagster_home(home: Path) -> None:
    """Create ``home`` with a dagster.yaml that turns telemetry off, where it has none."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(TELEMETRY_OFF, encoding="utf-8")


def _months_in_data(settings: XrfSettings) -> tuple[list[str], list[str]]:
    """Every month in which ``study_dose`` places a study (the one rule: ``study_months``): those
    with a partition, and those without one."""
    store = settings.store()
    studies = archive_study_months(store.scan)
    placed = set(studies.get_column("month").drop_nulls())
    valid = set(monthly_partitions.get_partition_keys())
    return sorted(placed & valid), sorted(placed - valid)


# Our assets log what a user needs at INFO; Dagster's step bookkeeping is DEBUG.
_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def run_all(settings: XrfSettings, instance: DagsterInstance | None = None) -> RunSummary:
    """Materialize ingest + link (raises if they fail: no month can be audited), then every
    month's audit; months that fail are listed in ``failed_months``."""
    if instance is not None:
        return _run_all(settings, instance)
    home = os.environ.get("DAGSTER_HOME")
    if home:
        prepare_dagster_home(Path(home))
    with DagsterInstance.get() if home else DagsterInstance.ephemeral() as own:
        return _run_all(settings, own)


def run_config(settings: XrfSettings) -> dict[str, Any]:
    """The settings as the run config of the ``settings`` resource (what the UI's launchpad
    sends), fields left unset omitted so they still resolve from ``XRF_*`` at run time."""
    config = settings.model_dump(exclude_none=True)
    return {**_RUN_CONFIG, "resources": {"settings": {"config": config}}}


def run_month(
    instance: DagsterInstance,
    config: dict[str, Any],
    month: str,
    assets: Sequence[AssetKey] | None = None,
) -> bool:
    """One month's ``monthly_audit`` run (of ``assets`` only, where given); whether it passed."""
    job = defs.resolve_job_def(monthly_audit_job.name)
    return job.execute_in_process(
        run_config=config,
        instance=instance,
        partition_key=month,
        asset_selection=assets,
        raise_on_error=False,
    ).success


def audit_phases() -> tuple[list[AssetKey], list[AssetKey]]:
    """The monthly audit's assets side by side: every month's tables first, then the reports
    (a report's trend reads earlier months' tables). From the job's own selection, so an asset
    added to the audit is never left out of both."""
    reports = {key for a in report.assets for key in a.keys}
    every = monthly_audit_job.selection.resolve(defs.resolve_asset_graph())
    return sorted(every - reports), sorted(every & reports)


def _workers(settings: XrfSettings) -> int:
    return int(settings.setting("workers") or 0) or os.cpu_count() or 1


def _audit(
    instance: DagsterInstance,
    config: dict[str, Any],
    months: list[str],
    workers: AuditWorkers | None,
) -> list[str]:
    """Every month's audit, side by side in ``workers`` where there are any; the months that
    failed."""
    if not months:
        return []
    if workers is None:
        warm_up()  # the PDF printer starts on the other core while the first month's tables run
        return [month for month in months if not run_month(instance, config, month)]
    return workers.audit(config, months, audit_phases())


def _run_all(settings: XrfSettings, instance: DagsterInstance) -> RunSummary:
    config = run_config(settings)
    workers = _workers(settings)
    with AuditWorkers(instance, workers) if workers > 1 else contextlib.nullcontext() as pool:
        ingest = defs.resolve_job_def(ingest_job.name)
        ingest.execute_in_process(run_config=config, instance=instance)
        months, unpartitioned = _months_in_data(settings)
        failed = _audit(instance, config, months, pool)
    store = settings.store()
    counts = {  # from the footers: an archive's tables are not read to count them
        "files seen": store.rows("dicom_files"),
        "images": store.rows("images"),
        "irradiation events": store.rows("irradiation_events"),
        "links": store.rows("event_image_links"),
        "unlinked images": store.rows("unlinked_images"),
    }
    published = [m for m in months if m not in failed]
    findings = {m: month_findings(store, m) for m in published}
    return RunSummary(store.root, months, counts, failed, unpartitioned, findings)


def month_findings(store: TableStore, month: str) -> str:
    """A month's alerts by rule and the procedures whose median DAP is above the DRL, as
    published in dose_alerts and drl_comparison."""
    alerts = store.read("dose_alerts", month=month).get_column("rule").value_counts(sort=True)
    rules = ", ".join(f"{r} {n}" for r, n in alerts.sort("rule").iter_rows()) or "none"
    drl = store.read("drl_comparison", month=month).filter(pl.col("above_drl"))
    above = ", ".join(sorted(drl.get_column("procedure"))) or "none"
    return f"alerts {alerts.get_column('count').sum()} ({rules}); above DRL: {above}"
