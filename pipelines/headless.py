"""``xrf-dose run``: the whole asset graph in-process, with Dagster's own execution.

Ingest and link run once (unpartitioned), then the audit assets once per month found in the data.
Run history goes to ``$DAGSTER_HOME`` when it is set (so the UI shows these runs), else to a
temporary instance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetSelection, DagsterInstance, materialize

from pipelines.definitions import defs
from xrf_assets.assets.partitions import monthly_partitions
from xrf_assets.core.audit.study_dose import study_months
from xrf_assets.resources import XrfSettings


@dataclass
class RunSummary:
    output_dir: Path
    months: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"{name:>22}: {n}" for name, n in self.counts.items()]
        lines.append(f"{'months':>22}: {', '.join(self.months) or 'none'}")
        lines.append(f"{'tables under':>22}: {self.output_dir}")
        return "\n".join(lines)


def _months_in_data(settings: XrfSettings) -> list[str]:
    """Every month in which ``study_dose`` places a study (the one rule: ``study_months``)."""
    store = settings.store()
    placed = study_months(store.read("irradiation_events"), store.read("images"))
    valid = set(monthly_partitions.get_partition_keys())
    return sorted(m for m in set(placed.get_column("month")) if m in valid)


# Our assets log what a user needs at INFO; Dagster's step bookkeeping is DEBUG.
_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def run_all(settings: XrfSettings, instance: DagsterInstance | None = None) -> RunSummary:
    """Materialize ingest + link, then every month's audit; raises if any step fails."""
    definitions: list[Any] = [*(defs.assets or []), *(defs.asset_checks or [])]
    instance = instance or (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )

    def run(selection: AssetSelection, month: str | None = None) -> None:
        materialize(
            definitions,
            resources={"settings": settings},
            instance=instance,
            selection=selection,
            partition_key=month,
            run_config=_RUN_CONFIG,
        )

    run(AssetSelection.groups("ingest", "link"))
    months = _months_in_data(settings)
    for month in months:
        run(AssetSelection.groups("audit"), month)
    store = settings.store()
    counts = {
        "files seen": store.read("dicom_files").height,
        "images": store.read("images").height,
        "irradiation events": store.read("irradiation_events").height,
        "links": store.read("event_image_links").height,
        "unlinked images": store.read("unlinked_images").height,
    }
    return RunSummary(store.root, months, counts)
