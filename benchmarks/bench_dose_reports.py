"""Dose report extraction speed against a bare pydicom read + content-tree walk of the same files.

    .venv/bin/python benchmarks/bench_dose_reports.py [--repeat 12] [--corpus DIR]

The real corpus (../shared/corpus/openrem) is repeated until there are at least 200 reports. Four
runs over the same list, in one process run so that the machine state is shared:

1. baseline: ``pydicom.dcmread(stop_before_pixels=True)`` + a recursive walk that touches every
   content item's concept code and value type (the least any reader of the tree must do);
2. extraction, one worker: the pipeline's own read (``read_header``: the fast header path, else
   pydicom) + ``extract_report``, as the ingest worker does;
3. baseline in a process pool sized to ``os.cpu_count()``;
4. extraction in the same pool (rows returned to the parent, as the ingest stage does).

Goals: (2) within 1.3x of (1); (4) faster than (1).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pydicom

from xrf_assets.core.dicom.read import read_header
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import extract_report

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "../shared/corpus/openrem"


def _walk(items: Iterable[Any] | None) -> int:
    n = 0
    for item in items or ():
        concept = item.get("ConceptNameCodeSequence")
        if concept:
            concept[0].get("CodeValue")
        item.get("ValueType")
        n += 1 + _walk(item.get("ContentSequence"))
    return n


def bare(path: str) -> tuple[int, int]:
    """(reports, content items) of one file: read and walk only."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return 1, _walk(ds.get("ContentSequence"))


def extract(path: str) -> tuple[int, int, Any]:
    """(reports, events, extract) of one file: read and extract, as the ingest worker does."""
    try:
        result = extract_report(read_header(path), Path(path).name)
    except ExtractionError as exc:
        return 1, 0, exc.reason
    return 1, len(result.events), result


def _run(
    label: str, fn: Callable[[str], tuple[Any, ...]], paths: list[str], workers: int
) -> tuple[float, int, int]:
    start = time.perf_counter()
    if workers == 1:
        results = [fn(p) for p in paths]
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(fn, paths, chunksize=4))
    seconds = time.perf_counter() - start
    reports = sum(r[0] for r in results)
    second = sum(r[1] for r in results)
    print(
        f"{label:<34} {seconds:8.2f} s  {reports / seconds:8.1f} reports/s  "
        f"{second / seconds:10.1f} {'events' if fn is extract else 'items'}/s"
    )
    return seconds, reports, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=0, help="default: enough for 200 reports")
    args = parser.parse_args()
    files = sorted(str(p) for p in args.corpus.resolve().glob("*.dcm"))
    if not files:
        raise SystemExit(f"no .dcm files in {args.corpus}")
    repeat = args.repeat or -(-200 // len(files))
    paths = files * repeat
    workers = os.cpu_count() or 1
    size_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    print(
        f"{len(paths)} reports ({len(files)} files x {repeat}, {size_mb:.0f} MB), "
        f"pool of {workers} workers"
    )
    base, _, _ = _run("bare read + walk, 1 worker", bare, paths, 1)
    ext, _, events = _run("extract_report, 1 worker", extract, paths, 1)
    _run(f"bare read + walk, pool {workers}", bare, paths, workers)
    pool, _, _ = _run(f"extract_report, pool {workers}", extract, paths, workers)
    print(f"events extracted: {events}")
    print(f"single worker: extraction / bare = {ext / base:.2f}x  (goal <= 1.3x)")
    print(f"pool extraction vs bare single loop: {base / pool:.2f}x faster  (goal > 1x)")


if __name__ == "__main__":
    main()
