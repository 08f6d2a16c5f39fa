"""A run killed at any moment (SIGKILL) leaves every table whole, and the next run finishes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import time
from dataclasses import replace
from multiprocessing.process import BaseProcess
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.publish import SORT_KEYS
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import TABLES, IngestSettings, run_ingest
from xrf_assets.core.store import TableStore
from xrf_assets.synth import generate
from xrf_assets.synth.config import SynthConfig

KILLS = 20
PRIVACY = PrivacySettings("pseudonymize", b"crash test key, not secret")
# Runs start from a fork server that has imported the pipeline once, so a run begins in
# milliseconds and the kills land in the work rather than in interpreter start-up.
_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(["xrf_assets.core.ingest.run"])


def _run(source: Path, output: Path, workers: int, rebuild: bool) -> None:
    """One ingest in its own process group, so that a kill reaches its pool workers too."""
    os.setsid()
    settings = IngestSettings(
        source, RoomDirectory(), PRIVACY, workers=workers, batch_size=4, full_rebuild=rebuild
    )
    run_ingest(settings, TableStore(output), logging.getLogger("crash"))


def start(source: Path, output: Path, workers: int, rebuild: bool) -> BaseProcess:
    proc = _SERVER.Process(target=_run, args=(source, output, workers, rebuild))
    proc.start()
    return proc


def read_all(output: Path) -> dict[str, pl.DataFrame | None]:
    """Every table sorted by its key, or None where it was never written."""
    store = TableStore(output)
    return {
        t: store.read(t).sort(SORT_KEYS[t], nulls_last=True) if store.path(t).exists() else None
        for t in TABLES
    }


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
    t0 = time.monotonic()
    probe = start(corpus, tmp_path / "probe", 1, True)
    probe.join(timeout=120)
    assert probe.exitcode == 0
    full = time.monotonic() - t0  # one whole run; shrinks to the fastest run seen (load varies)
    out = tmp_path / "out"
    kills = runs = 0
    while kills < KILLS:
        runs += 1
        assert runs < 4 * KILLS, "runs keep finishing before the kill"
        # Mostly full rebuilds (every stage: read, stage, merge, publish), some incremental
        # runs that finish what killed runs left, a few with the process pool.
        rebuild = rng.random() < 0.8
        t0 = time.monotonic()
        proc = start(corpus, out, 2 if runs % 7 == 0 else 1, rebuild)
        time.sleep(rng.uniform(0.0, full))
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and any worker it started
        except ProcessLookupError:  # not yet a group leader (or already gone)
            proc.kill()
        proc.join(timeout=60)
        assert proc.exitcode in (0, -signal.SIGKILL)
        kills += proc.exitcode == -signal.SIGKILL
        if proc.exitcode == 0 and rebuild:
            full = min(full, time.monotonic() - t0)
        # Tables are published only from a complete staging: each is absent or final.
        for table, df in read_all(out).items():
            if df is not None:
                assert_frame_equal(df, reference[table])
    run_ingest(
        IngestSettings(corpus, RoomDirectory(), PRIVACY, workers=1),
        TableStore(out),
        logging.getLogger("crash"),
    )
    final = read_all(out)
    for table in TABLES:
        assert_frame_equal(final[table], reference[table])
    # nothing a killed run was writing survives the next run: no temporary file, no segment
    # the manifest does not name
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert [p.name for p in (out / "_state").iterdir() if p.is_dir()] == [
        f"seg-{max(int(p.name[4:]) for p in (out / '_state').iterdir() if p.is_dir()):08d}"
    ]
