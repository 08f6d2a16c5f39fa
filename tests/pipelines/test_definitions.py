"""The code location loads, validates with Dagster's own CLI, and has the shape the UI shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    dagster_cli = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(dagster_cli), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_asset_groups_are_ingest_link_audit() -> None:
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert {k for k, g in groups.items() if g == "ingest"} == {
        "dicom_files",
        "images",
        "irradiation_events",
        "accumulated_dose",
        "event_image_refs",
    }
    assert {k for k, g in groups.items() if g == "link"} == {"event_image_links", "unlinked_images"}
    assert {
        "study_dose",
        "dose_by_room_month",
        "dose_by_protocol_month",
        "drl_comparison",
        "dose_alerts",
    } <= {k for k, g in groups.items() if g == "audit"}


def test_links_depend_on_the_tables_they_join() -> None:
    graph = defs.resolve_asset_graph()
    parents = graph.get(AssetKey("event_image_links")).parent_keys
    assert parents == {
        AssetKey("images"),
        AssetKey("irradiation_events"),
        AssetKey("event_image_refs"),
    }


def test_jobs_schedule_and_sensor_are_registered() -> None:
    assert defs.resolve_job_def("ingest") is not None
    assert defs.resolve_job_def("monthly_audit").partitions_def is not None
    assert defs.schedules and defs.sensors
