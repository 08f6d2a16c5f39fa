"""Lint, format and type checks are part of the suite, so no change lands that loosens them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "xrf_assets", "pipelines", "schemas"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(command: list[str], tmp_path: Path) -> None:
    extra = ["--cache-dir", str(tmp_path)] if command[0] == "mypy" else []
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:], *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
