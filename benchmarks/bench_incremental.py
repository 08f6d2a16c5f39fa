"""Incremental ingest: a second run over an unchanged tree must re-read nothing and be fast.

Generates a synthetic tree of about ``--files`` DICOM files (small images and their dose
reports), runs a full ingest, then a second ingest over the unchanged tree, and prints both times,
the number of files the second run read (``IngestSummary.files_read``; must be 0) and, as a
baseline measured in the same run, a bare pydicom header loop over every file.

    .venv/bin/python benchmarks/bench_incremental.py [--files 20000] [--workers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pydicom

from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import IngestSettings, run_ingest
from xrf_assets.core.store import TableStore
from xrf_assets.synth import generate
from xrf_assets.synth.config import SynthConfig
from xrf_assets.synth.scenarios import CorpusPlanner

KEY = b"benchmark key, not a secret one"


def config_for(files: int, seed: int = 0) -> SynthConfig:
    """The demo corpus with 8x8 pixels, scaled (by planning only) to about ``files`` files."""
    base = replace(SynthConfig.demo(seed), pixel_rows=8, pixel_columns=8)

    def planned(per_room: int) -> int:
        studies = CorpusPlanner(base.scaled(per_room)).plan()
        return sum(len(s.images) + len(s.reports) for s in studies)

    per_room = 4
    for _ in range(4):  # files grow a little faster than studies (repeat patients, re-sends)
        per_room = max(1, round(per_room * files / max(planned(per_room), 1)))
    while planned(per_room) < files:
        per_room += 1
    return base.scaled(per_room)


def timed_ingest(source: Path, output: Path, workers: int | None) -> tuple[float, int, int]:
    settings = IngestSettings(
        source, RoomDirectory(), PrivacySettings("pseudonymize", KEY), workers=workers
    )
    start = time.perf_counter()
    summary = run_ingest(settings, TableStore(output), logging.getLogger("bench"))
    return time.perf_counter() - start, summary.files_seen, summary.files_read


def bare_pydicom(source: Path) -> tuple[float, int]:
    """Baseline: one header read per file, in one process, nothing else."""
    start = time.perf_counter()
    count = 0
    for path in source.rglob("*"):
        if path.is_file():
            pydicom.dcmread(path, stop_before_pixels=True, force=True)
            count += 1
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=None, help="default: os.cpu_count()")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    work = args.keep or Path(tempfile.mkdtemp(prefix="xrf-bench-"))
    try:
        config = config_for(args.files)
        if not (work / "dicom").is_dir():
            start = time.perf_counter()
            generate(work, config)
            print(f"generated in {time.perf_counter() - start:.1f} s")
        source, output = work / "dicom", work / "out"
        shutil.rmtree(output, ignore_errors=True)
        baseline, count = bare_pydicom(source)
        first, seen, read_first = timed_ingest(source, output, args.workers)
        second, _, read_second = timed_ingest(source, output, args.workers)
        print(f"files: {seen} ({count} regular files), workers: {args.workers or os.cpu_count()}")
        print(f"bare pydicom header loop (1 process): {baseline:.2f} s")
        print(f"first run (full):       {first:.2f} s, files read: {read_first}")
        print(f"second run (unchanged): {second:.2f} s, files read: {read_second}")
        print(f"second / first: {second / first:.1%} (goal: under 10%, files read 0)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
