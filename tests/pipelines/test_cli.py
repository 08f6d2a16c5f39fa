"""``xrf-dose`` subcommands that need no Dagster run."""

import os
import subprocess
import sys
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


def test_a_missing_pseudonym_key_stops_the_run_in_one_line_before_dagster(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRF_")}
    env["XRF_PRIVACY"] = "pseudonymize"
    run = ["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
    probe = (
        "import sys; from pipelines.cli import main; code = main(sys.argv[1:]); "
        "print(code, 'dagster' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *run], env=env, capture_output=True, text=True
    )
    assert done.stdout.split() == ["2", "False"]  # exit code 2, Dagster never imported
    assert done.stderr.splitlines() == [
        "xrf-dose run: pseudonymize needs a secret key: set XRF_PSEUDONYM_KEY (at least 16 "
        "characters), or set XRF_PRIVACY=identified to keep patient identities"
    ]
    assert not (tmp_path / "out").exists()


def test_the_command_exits_after_its_exit_handlers_without_the_teardown(tmp_path: Path) -> None:
    """``console`` (the ``xrf-dose`` script) runs the exit handlers and flushes, then skips the
    interpreter's teardown (0.8-0.9 s after a run); the exit code and the output are whole."""
    probe = (
        "import atexit, os, sys\n"
        "from pipelines import cli\n"
        "class Teardown:\n"
        "    def __del__(self):\n"
        "        print('teardown ran', flush=True)\n"
        "kept = Teardown()\n"
        "atexit.register(print, 'exit handler ran')\n"
        "sys.argv = ['xrf-dose', *sys.argv[1:]]\n"
        "cli.console() if os.environ['EXIT'] == 'console' else sys.exit(cli.main())\n"
    )
    lookup = ["study", "1.2.3", "--output", str(tmp_path / "none")]
    runs = {
        how: subprocess.run(
            [sys.executable, "-c", probe, *lookup],
            env={**os.environ, "EXIT": how},
            capture_output=True,
            text=True,
        )
        for how in ("console", "python")
    }
    for done in runs.values():
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"xrf-dose study: no study_dose table under {tmp_path / 'none'} "
            "(run xrf-dose run first)"
        )
    assert runs["console"].stdout.split("\n") == ["exit handler ran", ""]
    assert runs["python"].stdout.split("\n") == ["exit handler ran", "teardown ran", ""]
