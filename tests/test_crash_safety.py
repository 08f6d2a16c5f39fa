"""A run killed at any moment (SIGKILL) leaves every table whole, and the next run finishes."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from xrf_assets.core.ingest import TABLES, IngestSettings, run_ingest
from xrf_assets.core.privacy import PrivacySettings
from xrf_assets.core.publish import SORT_KEYS
from xrf_assets.core.rooms import RoomDirectory
from xrf_assets.core.store import TableStore
from xrf_assets.synth import generate
from xrf_assets.synth.config import SynthConfig

KILLS = 20
PRIVACY = PrivacySettings("pseudonymize", b"crash test key, not secret")
_RUN = """
import logging, sys
from pathlib import Path
from xrf_assets.core.ingest import IngestSettings, run_ingest
from xrf_assets.core.privacy import PrivacySettings
from xrf_assets.core.rooms import RoomDirectory
from xrf_assets.core.store import TableStore

if __name__ == "__main__":
    source, output, workers, rebuild = sys.argv[1:5]
    settings = IngestSettings(Path(source), RoomDirectory(), PrivacySettings(
        "pseudonymize", b"crash test key, not secret"), workers=int(workers), batch_size=4,
        full_rebuild=rebuild == "1")
    run_ingest(settings, TableStore(output), logging.getLogger("crash"))
"""


def read_all(output: Path) -> dict[str, pl.DataFrame | None]:
    """Every table sorted by its key, or None where it was never written."""
    store = TableStore(output)
    return {
        t: store.read(t).sort(SORT_KEYS[t], nulls_last=True) if store.path(t).exists() else None
        for t in TABLES
    }


def start(source: Path, output: Path, workers: int, rebuild: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _RUN, str(source), str(output), str(workers), str(int(rebuild))],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode(errors="replace")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 40 files: images, short reports (one re-sent), broken and non-DICOM files."""
    out = tmp_path_factory.mktemp("crash")
    config = SynthConfig.small(seed=3, studies_per_room=1)
    rooms = tuple(replace(r, procedures=("Hysterosalpingography",)) for r in config.rooms[:2])
    generate(out, replace(config, rooms=rooms))
    return out / "dicom"


def test_killed_runs_leave_whole_tables_and_the_next_run_finishes(
    corpus: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    settings = IngestSettings(corpus, RoomDirectory(), PRIVACY, workers=1)
    run_ingest(settings, TableStore(clean), logging.getLogger("crash"))
    reference = read_all(clean)
    assert reference["images"] is not None and reference["images"].height > 10

    rng = random.Random(20261127)
    out = tmp_path / "out"
    t0 = time.monotonic()
    code, err = finish(start(corpus, tmp_path / "probe", 1, False))
    assert code == 0, err
    full = time.monotonic() - t0  # one whole run in a fresh process, imports included
    t0 = time.monotonic()
    code, err = finish(start(corpus, tmp_path / "probe", 1, False))  # nothing to read
    assert code == 0, err
    idle = time.monotonic() - t0  # mostly interpreter start and imports
    kills = runs = 0
    while kills < KILLS:
        runs += 1
        assert runs < 3 * KILLS, "runs finish before the kill: the kill times are wrong"
        workers = 2 if runs % 6 == 5 else 1
        proc = start(corpus, out, workers, rebuild=rng.random() < 0.5)
        time.sleep(rng.uniform(0.7 * idle, full))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and any worker it started
            kills += 1
        code, err = finish(proc)
        assert code in (0, -signal.SIGKILL), err
        # Tables are published only from a complete staging: each is absent or final.
        for table, df in read_all(out).items():
            if df is not None:
                assert_frame_equal(df, reference[table])
    run_ingest(IngestSettings(corpus, RoomDirectory(), PRIVACY, workers=1), TableStore(out),
               logging.getLogger("crash"))
    final = read_all(out)
    for table in TABLES:
        assert_frame_equal(final[table], reference[table])
