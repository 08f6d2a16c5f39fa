"""``xrf-dose`` subcommands that need no Dagster run."""

from pathlib import Path

import pytest

from pipelines.cli import main
from xrf_assets.synth import GroundTruth, SynthConfig


def test_synth_writes_the_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="unknown synth preset"):
        SynthConfig.preset("huge", 0)
    assert main(["synth", "--out", str(tmp_path), "--seed", "4", "--preset", "small"]) == 0
    assert "studies" in capsys.readouterr().out
    truth = GroundTruth.read(tmp_path)
    assert truth.studies.height == 3 * 4 + 3
