"""The demo run every lookup test reads (tests/builders/demo_run.py)."""

from __future__ import annotations

import os

import pytest
from builders.demo_run import DemoRun, demo_run_in


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker has its own basetemp inside the session's: share that one
    return demo_run_in(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)
