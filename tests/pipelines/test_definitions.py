"""The code location loads, validates with Dagster's own CLI, and has the shape the UI shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders.tools import run_tool
from dagster import AssetKey, in_process_executor

from pipelines.definitions import defs
from schemas import contract, contracts
from xrf_assets.resources import DEMO_INPUT, DEMO_OUTPUT, XrfSettings


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = run_tool(["dagster", "definitions", "validate", "-w", "workspace.yaml"], env, 300)
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


def test_jobs_run_their_steps_in_the_run_process() -> None:
    # the default multiprocess executor starts one process per step: ~55 s for a one-month audit
    for job in ("ingest", "monthly_audit"):
        assert defs.resolve_job_def(job).executor_def is in_process_executor


def test_asset_groups_and_partitions_are_the_contracts() -> None:
    graph = defs.resolve_asset_graph()
    # one asset per contract, besides the report the audit writes for people (no table)
    keys = graph.get_all_asset_keys() - {AssetKey("audit_report")}
    assert {k.to_user_string() for k in keys} == set(contracts())
    for key in keys:
        node, table = graph.get(key), contract(key.to_user_string())
        assert node.group_name == table.group, table.name
        assert (node.partitions_def is not None) == table.partitioned_by_month, table.name
        assert node.description == table.description, table.name


def test_settings_are_resolved_when_a_run_uses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code location's resource reads XRF_* when used, not when it was imported."""
    settings = defs.resources["settings"]
    assert isinstance(settings, XrfSettings)
    for name in ("XRF_INPUT_DIR", "XRF_OUTPUT_DIR", "XRF_WORKERS", "XRF_FULL_REBUILD"):
        monkeypatch.delenv(name, raising=False)
    assert (settings.input_path(), settings.store().root) == (DEMO_INPUT, DEMO_OUTPUT)
    monkeypatch.setenv("XRF_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("XRF_INPUT_DIR", str(tmp_path / "in"))
    monkeypatch.setenv("XRF_WORKERS", "3")
    monkeypatch.setenv("XRF_FULL_REBUILD", "yes")
    monkeypatch.setenv("XRF_PRIVACY", "identified")
    assert settings.store().root == tmp_path / "out"
    ingest = settings.ingest_settings()
    assert (ingest.input_dir, ingest.workers, ingest.full_rebuild) == (tmp_path / "in", 3, True)
    assert ingest.privacy.mode == "identified"
    configured = XrfSettings(output_dir=str(tmp_path / "cfg"), workers=1, full_rebuild=False)
    assert configured.store().root == tmp_path / "cfg"  # config wins over the environment
    assert (configured.ingest_settings().workers, configured.ingest_settings().full_rebuild) == (
        1,
        False,
    )
