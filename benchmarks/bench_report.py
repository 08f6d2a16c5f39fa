"""The monthly audit report's cost (issue 17): render and print of the demo's months.

Per month: reading the tables (content.load_month), html.render with our SVG charts, and the PDF
by the one browser of the process over the DevTools pipe (the first print starts it: cold; then
warm). Baselines in the same run: html.render with the matplotlib charts of commit BASELINE (read
from git, where matplotlib is installed), and Chromium's one-shot ``--print-to-pdf`` as pdf.py
ran it before. Wall and CPU seconds (Chromium's CPU: its process group from /proc, or the reaped
one-shot process). The goal: the audit_report asset <= 0.8 s of wall time per month, quiet machine.

    make demo; .venv/bin/python benchmarks/bench_report.py [--output data/demo/output] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from functools import partial
from pathlib import Path
from unittest import mock

from xrf_assets.core.report import html, pdf
from xrf_assets.core.report.content import load_month
from xrf_assets.core.report.settings import ReportSettings
from xrf_assets.core.store import TableStore

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "b5a6d09"  # the last commit with matplotlib charts and --print-to-pdf
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _group_cpu_s(pgid: int) -> float:
    """CPU seconds of every process in the group (with its reaped children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields from 3 (state): ppid, pgrp, ..., utime at 14
            total += sum(int(f) for f in fields[11:15]) * _TICK_S
    return total


def _one_shot(binary: str, args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``chromium --headless`` command, as pdf.py ran it before. CPU:
    the most its process group summed while polled every 10 ms (helpers of a zygote that exits
    first are never reaped by us, so rusage of children misses them)."""
    with tempfile.TemporaryDirectory(prefix="bench-chromium-") as profile:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [binary, *pdf.HEADLESS_FLAGS, f"--user-data-dir={profile}", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        most = 0.0
        while proc.poll() is None:
            most = max(most, _group_cpu_s(proc.pid))
            time.sleep(0.01)
        wall = time.perf_counter() - started
    return wall, most


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def _old_charts() -> types.ModuleType | None:
    if importlib.util.find_spec("matplotlib") is None:
        return None
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE}:xrf_assets/core/report/charts.py"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    if not source:
        return None
    module = types.ModuleType("baseline_charts")
    exec(compile(source, f"{BASELINE}:charts.py", "exec"), module.__dict__)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "data" / "demo" / "output")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = TableStore(args.output)
    months = store.months("study_dose")
    if not months:
        print(f"no audited months under {args.output}: run `make demo` first", file=sys.stderr)
        return 1
    binary = pdf.find_chromium()
    print(f"months {', '.join(months)}; chromium {binary}; repeat {args.repeat}; load "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip

    t = time.perf_counter()
    old = _old_charts()
    import_s = time.perf_counter() - t
    print(
        f"baseline charts ({BASELINE}, matplotlib): "
        + (f"imported in {import_s:.2f} s" if old else "not available (no matplotlib or git)")
    )
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    pages = {}
    for month in months:
        recorded = store.root / "reports" / month / "settings.json"
        settings = (
            ReportSettings.from_json(recorded.read_text("utf-8"))
            if recorded.is_file()
            else ReportSettings("pseudonymize", "EU")
        )
        alert_gy = settings.thresholds.peak_skin_dose_gy
        load = [_timed(partial(load_month, store, month, alert_gy))]
        content = load_month(store, month, alert_gy)
        render_month = partial(html.render, content, settings)
        render = [_timed(render_month) for _ in range(args.repeat)]
        page = work / f"{month}.html"
        page.write_text(html.render(content, settings), encoding="utf-8")
        pages[month] = page
        line = (f"{month}: load_month {load[0][0]:.3f} s; render (SVG charts) median "
                f"{statistics.median(w for w, _ in render) * 1000:.1f} ms wall, "
                f"{statistics.median(c for _, c in render) * 1000:.1f} ms CPU")  # fmt: skip
        if old is not None:
            with mock.patch.object(html, "charts", old):
                before = [_timed(render_month)]
            line += f"; baseline render {before[0][0]:.3f} s wall, {before[0][1]:.3f} s CPU"
        print(line + f"; {len(page.read_bytes()) / 1e6:.2f} MB HTML")
    if binary is None:
        print("no Chromium: prints not measured")
        return 0

    for month, page in pages.items():
        flags = [f"--print-to-pdf={work / 'oneshot.pdf'}", "--no-pdf-header-footer"]
        rows = [_one_shot(binary, [*flags, page.as_uri()]) for _ in range(args.repeat)]
        print(f"one-shot --print-to-pdf (baseline) {month}: median "
              f"{statistics.median(w for w, _ in rows):.3f} s wall, "
              f"{statistics.median(c for _, c in rows):.3f} s CPU (chromium)")  # fmt: skip

    for round_ in range(args.repeat):
        pdf.close_browser()
        figures = []
        for i, (month, page) in enumerate(pages.items()):
            pid = pdf._shared.pid if pdf._shared else None
            cpu = _group_cpu_s(pid) if pid else 0.0
            t = time.perf_counter()
            outcome = pdf.print_pdf(page, work / f"{month}.pdf")
            wall = time.perf_counter() - t
            assert outcome.path is not None, outcome.skipped
            assert pdf._shared is not None
            cpu = _group_cpu_s(pdf._shared.pid) - cpu
            figures.append(f"{month} {'cold' if i == 0 else 'warm'} {wall:.3f} s wall "
                           f"{cpu:.3f} s CPU")  # fmt: skip
        print(f"DevTools pipe, round {round_ + 1}: " + "; ".join(figures))

    pdf.close_browser()
    thread = pdf.warm_up()
    time.sleep(2.0)  # other work of the audit meanwhile
    assert thread is not None
    thread.join()
    month, page = next(iter(pages.items()))
    wall, _ = _timed(lambda: pdf.print_pdf(page, work / f"{month}.pdf"))
    print(f"after warm_up() and 2 s of other work: {month} printed in {wall:.3f} s wall")
    pdf.close_browser()
    return 0


if __name__ == "__main__":
    sys.exit(main())
