"""Sharded ingest against the single-step ingest, both through the Dagster ``ingest`` job.

Generates the small corpus and one of about ``--files`` files, then for each: the single-step job
as shipped (in-process executor, one ingest step with a reader pool of ``--workers``) as the
baseline, and the sharded job on the multiprocess executor (one process per step, at most
``--workers`` at a time, one reader per shard step) with each shard count of ``--shards``. Prints
wall time, files/s, a re-run with nothing new, the time of each step (the rest of the wall time
is the executor's), and per shard step its files and files/s (the figure to multiply by the
workers a site gives the executor).

    .venv/bin/python benchmarks/bench_shards.py [--files 4000] [--shards 2 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_incremental import config_for
from dagster import (
    DagsterEventType,
    DagsterInstance,
    JobDefinition,
    execute_job,
    instance_for_test,
    multiprocess_executor,
    reconstructable,
)

from pipelines.definitions import definitions, defs
from xrf_assets.core.ingest.shards import ShardLayout
from xrf_assets.synth import generate
from xrf_assets.synth.config import SynthConfig

STEP_START = DagsterEventType.STEP_START
DEPTH = 2  # ROOM/MONTH/: a generated tree has few rooms, more room-months


def multiprocess_ingest_job() -> JobDefinition:
    return definitions(multiprocess_executor).resolve_job_def("ingest")


def run_config(source: Path, output: Path, shards: int, workers: int) -> dict[str, Any]:
    settings = {
        "input_dir": str(source),
        "output_dir": str(output),
        "privacy": "identified",
        "workers": workers,
        "ingest_shards": shards,
        "ingest_shard_depth": DEPTH,
    }
    config: dict[str, Any] = {"resources": {"settings": {"config": settings}}}
    if shards > 1:
        preload = {"preload_modules": ["pipelines.definitions"]}
        config["execution"] = {
            "config": {"max_concurrent": workers, "start_method": {"forkserver": preload}}
        }
    return config


def step_times(instance: DagsterInstance, run_id: str) -> list[tuple[str, float]]:
    """(step, seconds) of every step, from its start and success events: the rest of the wall
    time is the executor's (a process per step)."""
    logs = [e for e in instance.all_logs(run_id) if e.step_key]
    start = {e.step_key: e.timestamp for e in logs if e.dagster_event_type == STEP_START}
    return sorted(
        (e.step_key, e.timestamp - start[e.step_key])
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_SUCCESS
    )


def timed(
    instance: DagsterInstance, source: Path, output: Path, shards: int, workers: int
) -> tuple[float, list[tuple[str, float]]]:
    config = run_config(source, output, shards, workers)
    start = time.perf_counter()
    if shards == 1:
        result = defs.resolve_job_def("ingest").execute_in_process(config, instance=instance)
        success, run_id = result.success, result.run_id
    else:
        job = reconstructable(multiprocess_ingest_job)
        with execute_job(job, instance, run_config=config) as done:
            success, run_id = done.success, done.run_id
    if not success:
        raise RuntimeError(f"the ingest run with {shards} shard(s) failed")
    return time.perf_counter() - start, step_times(instance, run_id)


def bench(name: str, source: Path, work: Path, shard_counts: list[int], workers: int) -> None:
    paths = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    files = len(paths)
    print(f"\n{name}: {files} files, {workers} workers, shard depth {DEPTH}")
    home = work / f"home-{name}"
    home.mkdir()
    with instance_for_test(temp_dir=str(home), overrides={"telemetry": {"enabled": False}}) as inst:
        base = None
        for shards in [1, *shard_counts]:
            out = work / f"out-{name}-{shards}"
            first, steps = timed(inst, source, out, shards, workers if shards == 1 else 1)
            again, _ = timed(inst, source, out, shards, workers if shards == 1 else 1)
            base = base or first
            label = "single step (in-process)" if shards == 1 else f"{shards} shards (multiprocess)"
            print(
                f"  {label:28s} first {first:6.2f} s ({files / first:6.0f} files/s, "
                f"{first / base:4.2f}x single), re-run {again:5.2f} s"
            )
            layout = ShardLayout(shards, DEPTH)
            per_shard = Counter(layout.shard_of(p) for p in paths)
            print(f"    steps {', '.join(f'{k} {t:.2f} s' for k, t in steps if '[' not in k)}")
            for step, seconds in steps if shards > 1 else []:
                if "ingest_shard[" in step:
                    n = per_shard[int(step.rsplit("_", 1)[1].rstrip("]"))]
                    print(f"    {step}: {n} files in {seconds:5.2f} s ({n / seconds:5.0f} files/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xrf-bench-shards-"))
    try:
        small = work / "small"
        generate(small, SynthConfig.small(seed=3))
        bench("small", small / "dicom", work, args.shards, args.workers)
        larger = work / "larger"
        generate(larger, replace(config_for(args.files), pixel_rows=8, pixel_columns=8))
        bench("larger", larger / "dicom", work, args.shards, args.workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
