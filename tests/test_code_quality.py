"""Lint, format and type checks are part of the suite, so no change lands that loosens them."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.tools import run_tool


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
    result = run_tool([*command, *extra])
    assert result.returncode == 0, result.stdout + result.stderr
