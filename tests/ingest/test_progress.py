"""Ingest logs files read / total, the rate and the time left after each staged batch."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from builders.corpus import CORPUS

from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import IngestSettings, Progress, run_ingest
from xrf_assets.core.store import TableStore


def test_progress_line_has_count_share_rate_and_time_left() -> None:
    now = iter([100.0, 102.0, 104.0])
    progress = Progress(total=400, clock=lambda: next(now))
    assert progress.line(100) == "read 100/400 files (25 %), 50 files/s, 6 s left"
    assert progress.line(100) == "read 200/400 files (50 %), 50 files/s, 4 s left"


def test_each_batch_of_a_real_run_logs_its_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = sum(1 for p in CORPUS.rglob("*") if p.is_file())
    settings = IngestSettings(
        input_dir=CORPUS,
        rooms=RoomDirectory.from_yaml(None),
        privacy=PrivacySettings("identified"),
        workers=1,
        batch_size=5,
    )
    log = logging.getLogger("test_progress")
    with caplog.at_level(logging.INFO, logger="test_progress"):
        run_ingest(settings, TableStore(tmp_path / "out"), log)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("read ")]
    counts = [re.findall(r"\d+", line)[:2] for line in lines]
    assert counts == [[str(n), str(files)] for n in [*range(5, files, 5), files]]
    assert lines[-1].startswith(f"read {files}/{files} files (100 %), ")
