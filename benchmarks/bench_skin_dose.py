"""Skin dose computation speed (issue 16): events per second, one core.

Cases: the real Philips Azurion study of the shared corpus (89 events); a 300-event study made of
its events repeated with the C-arm angles and table moved (a long intervention); and, as the
baseline in the same run, PySkinDose (where installed) on its own 24-event example procedure.
The goal: a 300-event study well under a second. Where `make demo` has run, also each demo
month as the ``skin_dose`` asset does it (issue 17: <= 0.8 s a month): rows and maps, and every
map's SVG written atomically (into a temporary folder).

    .venv/bin/python benchmarks/bench_skin_dose.py [--repeat 3] [--demo-output data/demo/output]
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core, before polars is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pydicom

from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.skin.geometry import Conventions
from xrf_assets.core.skin.study import build_skin_dose
from xrf_assets.core.skin.svg import write_maps
from xrf_assets.core.store import frame_from_rows

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "openrem"
DEMO_OUTPUT = Path(__file__).resolve().parents[1] / "data" / "demo" / "output"
AZURION = CORPUS / "RF-RDSR-Philips_Azurion.dcm"


def _events(path: Path) -> pl.DataFrame:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return frame_from_rows("irradiation_events", extract_report(ds, path.name).events)


def _long_study(events: pl.DataFrame, n: int, seed: int = 1) -> pl.DataFrame:
    """``n`` events: the study's events repeated, angles +-30 deg and table +-100 mm moved."""
    rng = np.random.default_rng(seed)
    index = np.arange(n) % events.height
    out = events[index.tolist()]
    return out.with_columns(
        irradiation_event_uid=pl.Series([f"2.25.{i}" for i in range(n)]),
        positioner_primary_angle_deg=pl.col("positioner_primary_angle_deg")
        + pl.Series(rng.uniform(-30, 30, n)),
        positioner_secondary_angle_deg=pl.col("positioner_secondary_angle_deg")
        + pl.Series(rng.uniform(-20, 20, n)),
        table_longitudinal_position_mm=pl.col("table_longitudinal_position_mm")
        + pl.Series(rng.uniform(-100, 100, n)),
    )


def _best(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds (all threads) of ``repeat`` runs: on a shared machine the
    CPU figure is the one to compare."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def _row(label: str, events: int, wall: float, cpu: float | None) -> None:
    """A case's line; events per second of CPU where measured (PySkinDose's by wall)."""
    shown = "" if cpu is None else f"{cpu:.3f}"
    print(f"{label:<38} {events:>7} {wall:>9.3f} {shown:>9} {events / (cpu or wall):>10.0f}")


def _demo_month(events: pl.DataFrame, month: str, conventions: Conventions, out: Path) -> None:
    """What the skin_dose asset computes and writes for a month (its table write aside)."""
    df, maps = build_skin_dose(events, month, conventions)
    write_maps(out, maps, df.get_column("map_file").drop_nulls().to_list(), 3.0)


def _pyskindose_seconds() -> tuple[int, float] | None:
    try:
        import pyskindose
        from pyskindose.helpers.parse_settings_to_settings_class import (
            parse_settings_to_settings_class,
        )
        from pyskindose.helpers.read_and_normalize_rdsr_data import read_and_normalise_rdsr_data
        from pyskindose.main import analyze_normalized_data_with_custom_settings_object
    except ImportError:
        return None
    root = Path(pyskindose.__file__).parent
    settings = json.loads((root / "settings_example.json").read_text())
    settings.update(mode="calculate_dose", corrections_db_path="/tmp/bench_skin_corrections.db")
    settings["plot"].update(plot_dosemap=False, interactivity=False, notebook_mode=False)
    path = root / "example_data" / "RDSR" / "siemens_axiom_example_procedure.dcm"
    logging.disable(logging.CRITICAL)
    quiet = io.StringIO()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        norm = read_and_normalise_rdsr_data(
            rdsr_filepath=str(path), settings=parse_settings_to_settings_class(settings)
        )
        start = time.perf_counter()
        analyze_normalized_data_with_custom_settings_object(norm, settings, "dict")
    return len(norm), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--demo-output", type=Path, default=DEMO_OUTPUT)
    args = parser.parse_args(argv)
    if not AZURION.is_file():
        print(f"shared corpus not found at {CORPUS}", file=sys.stderr)
        return 1
    conventions = Conventions.load()
    real = _events(AZURION)
    month = real.get_column("study_date").dt.strftime("%Y-%m")[0]
    print(f"{'case':<38} {'events':>7} {'seconds':>9} {'cpu s':>9} {'events/s':>10}")
    for label, events in (
        ("Azurion study (real)", real),
        ("300-event study (Azurion, moved)", _long_study(real, 300)),
        ("1000-event study (Azurion, moved)", _long_study(real, 1000)),
    ):
        seconds, cpu = _best(partial(build_skin_dose, events, month, conventions), args.repeat)
        _row(label, events.height, seconds, cpu)
    demo = args.demo_output / "irradiation_events"
    if demo.is_dir():
        events = pl.read_parquet(demo / "*.parquet")
        fluoro = events.filter(pl.col("modality") == "fluoroscopy")
        for month in sorted(set(fluoro.get_column("study_date").dt.strftime("%Y-%m").drop_nulls())):
            n = fluoro.filter(pl.col("study_date").dt.strftime("%Y-%m") == month).height
            with tempfile.TemporaryDirectory() as out:
                run = partial(_demo_month, events, month, conventions, Path(out))
                first = _best(run, 1)  # as in the asset's process: caches of beam qualities cold
                seconds = _best(run, args.repeat)
            for label, (value, cpu) in (
                (f"demo {month} asset work, first", first),
                ("  best", seconds),
            ):
                _row(label, n, value, cpu)
    else:
        print(f"demo month: no {demo} (run `make demo`)")
    baseline = _pyskindose_seconds()
    if baseline is None:
        print("baseline: PySkinDose not installed")
    else:
        n, seconds = baseline
        _row("baseline: PySkinDose example", n, seconds, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
