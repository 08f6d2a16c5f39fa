"""A run launched as the UI launches it (the code location's jobs, settings in the resource's run
config) names rooms as the headless run does."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from pipelines.cli import main
from pipelines.definitions import defs
from xrf_assets.core.store import TableStore
from xrf_assets.resources import PROJECT_ROOT
from xrf_assets.synth import SynthConfig, generate

ROOMS_FILE = str(PROJECT_ROOT / "examples" / "rooms.yaml")
DEMO_ROOMS = {"Cath Lab 1", "Angio 2", "Fluoro 3"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate(out, SynthConfig.preset("small", seed=7))
    return out / "dicom"


def _rooms(output: Path, month: str) -> set[str]:
    return set(TableStore(output).read("study_dose", month=month).get_column("room_id"))


def test_a_ui_run_names_rooms_as_the_headless_run(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XRF_ROOMS_FILE", raising=False)  # the file comes from the config only
    monkeypatch.setenv("XRF_PSEUDONYM_KEY", "ui-run-test-key-0123456789abcdef")
    headless_out, ui_out = tmp_path / "headless", tmp_path / "ui"
    monkeypatch.setenv("XRF_WORKERS", "1")
    # the headless run (run_all) as `xrf-dose run --rooms` starts it
    cli = ["run", "--input", str(corpus), "--output", str(headless_out), "--rooms", ROOMS_FILE]
    assert main(cli) == 0
    months = TableStore(headless_out).months("study_dose")
    config = {
        "input_dir": str(corpus),
        "output_dir": str(ui_out),
        "rooms_file": ROOMS_FILE,
        "workers": 1,
    }
    run_config = {"resources": {"settings": {"config": config}}}
    with DagsterInstance.ephemeral() as instance:
        assert (
            defs.resolve_job_def("ingest").execute_in_process(run_config, instance=instance).success
        )
        for month in months:
            result = defs.resolve_job_def("monthly_audit").execute_in_process(
                run_config, instance=instance, partition_key=month
            )
            assert result.success
            assert result.dagster_run.job_name == "monthly_audit"
    assert months == ["2026-09", "2026-10"]
    for month in months:
        assert _rooms(ui_out, month) == _rooms(headless_out, month) == DEMO_ROOMS
