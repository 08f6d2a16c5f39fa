"""Scale benchmark (issue 17): time and peak RSS of each stage from 10k to 1M files.

A template corpus of about ``--template`` small files (8x8 pixels, real header structure, the
synthetic generator) is written once with pydicom; copy ``k`` of it is the template's bytes with
every instance/study/series/event UID replaced by another of the same length, patient IDs and
accession numbers made unique to the copy, and every date moved ``k`` days on, so no copy
duplicates another and the archive spans more months as it grows (as a hospital's does). Copies
are nested so that each size is a real folder of the next: ``big/mid/small`` (10k), ``big/mid``
(100k), ``big`` (1M).

Each stage runs in its own process (``--stage``); its wall time is measured inside it after the
imports, its peak RSS is the largest of its process tree (``os.wait4``: the stage process, the
fork server and the reader workers). Stages: discovery (the walk alone), ingest (first run: walk,
read, stage, publish), link (read the ingest tables, link, write), audit (every month of the data,
each as the monthly asset does it: read, check, study totals, statistics, DRLs, alerts, write),
rerun (ingest again with nothing new), publish (the publish step alone, from the staging under
the output: bench_publish.py builds large stagings for it). ``--tables`` adds link and audit on
tables built directly (the smallest ingest's tables tiled to N images, about ``--per-event``
images per event: 5 gives 1M images and about 200k events, 0.7 the 1.4M events 1M generated
files carry; no files), written to a store first so that link and audit read it as the assets
do. The exponent of
time against size is the least-squares slope in log-log space; cost linear in size is 1.

    nice .venv/bin/python benchmarks/bench_scale.py [--sizes 10000,100000,1000000]
        [--tables 100000,300000,1000000] [--per-event 5] [--base OUTPUT] [--work data/scale]
        [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

KEY = b"benchmark key, not a secret one"
STAGES = ("discovery", "ingest", "link", "audit", "rerun")
LEVELS = ("big", "mid", "small")  # big/mid/small: 10k in small, 100k in mid, the rest in big
_DATE = rb"20\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"


# -- the corpus -------------------------------------------------------------------------------
def _template(work: Path, files: int) -> Path:
    """The synthetic corpus (small images, no broken extras) that every copy is made from."""
    from xrf_assets.synth import generate

    out = work / "template"
    if not (out / "dicom").is_dir():
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_incremental import config_for

        config = replace(  # 1x1 pixels: files of a few KB, the headers as real ones
            config_for(files),
            pixel_rows=1,
            pixel_columns=1,
            non_dicom_files=0,
            truncated_files=0,
            other_dicom_files=0,
        )
        generate(out, config)
    return out / "dicom"


def _identifiers(dicom: Path) -> tuple[list[bytes], list[bytes], set[str]]:
    """UIDs that name an instance, study, series, event or frame of reference (not the standard's
    1.2.840.10008 constants, not a device observer), and patient IDs / accession numbers."""
    import pydicom
    from pydicom.dataset import Dataset

    from xrf_assets.synth.config import default_rooms

    devices = {r.device_observer_uid for r in default_rooms()}
    uids: set[str] = set()
    names: set[str] = set()

    def walk(ds: Dataset) -> None:
        for elem in ds:
            if elem.VR == "SQ":
                for item in elem.value:
                    walk(item)
            elif elem.VR == "UI" and elem.value:
                for v in elem.value if elem.VM > 1 else [elem.value]:
                    if not str(v).startswith("1.2.840.10008") and str(v) not in devices:
                        uids.add(str(v))
            elif elem.keyword in ("PatientID", "AccessionNumber", "OtherPatientIDs") and elem.value:
                names.add(str(elem.value))

    for path in sorted(p for p in dicom.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        walk(ds.file_meta)
        walk(ds)
    short = sorted(u for u in uids if len(u) < 20)
    if short:
        raise SystemExit(f"template UIDs too short to vary: {short[:3]}")
    return [u.encode() for u in sorted(uids)], [n.encode() for n in sorted(names)], devices


class Copier:
    """Writes copy ``k`` of the template: same bytes, values that make it another set of studies.

    One pass of one regular expression per file: tokens that look like a UID, a patient ID or
    accession number of the template, or a date (DA, and the date part of DT)."""

    def __init__(self, dicom: Path) -> None:
        self.files = [
            (p.relative_to(dicom).as_posix(), p.read_bytes())
            for p in sorted(dicom.rglob("*"))
            if p.is_file()
        ]
        uids, names, _ = _identifiers(dicom)
        self.uids = {u: i for i, u in enumerate(uids)}
        self.names = {n: i for i, n in enumerate(names)}
        shapes = set()
        for n in names:  # ACC000000001 -> ACC\d{9}
            m = re.fullmatch(rb"(\D*)(\d+)", n)
            if m is None:
                raise SystemExit(f"template identifier of unexpected shape: {n!r}")
            shapes.add(re.escape(m.group(1)) + rb"\d{%d}" % len(m.group(2)))
        self.pattern = re.compile(b"|".join([rb"[0-9][0-9.]{18,63}", *sorted(shapes), _DATE]))

    def mapping(self, k: int) -> dict[bytes, bytes]:
        """Template value -> copy ``k``'s value, same length each (element lengths stay valid)."""
        out = {}
        n = len(self.uids)
        for uid, i in self.uids.items():  # 2.25.<integer>, no leading zero
            out[uid] = b"2.25." + str(10 ** (len(uid) - 6) + k * n + i).encode()
        tag = f"{k:x}Z".encode()
        for name in self.names:  # the copy's number over the (constant) prefix
            out[name] = tag + name[len(tag) :]
        return out

    def write(self, folder: Path, k: int) -> int:
        table = self.mapping(k)
        shift = timedelta(days=k)
        dates: dict[bytes, bytes] = {}

        def sub(m: re.Match[bytes]) -> bytes:
            s = m.group(0)
            new = table.get(s)
            if new is not None:
                return new
            if re.match(_DATE, s) is None:  # a constant UID
                return s
            day = s[:8]
            if day not in dates:
                d = date(int(day[:4]), int(day[4:6]), int(day[6:8])) + shift
                dates[day] = d.strftime("%Y%m%d").encode()
            return dates[day] + s[8:]

        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        for rel, data in self.files:
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.pattern.sub(sub, data))
        tmp.rename(folder)
        return len(self.files)


def _level_root(work: Path, level: int) -> Path:
    """The folder of the ``level``-th smallest size: the smallest is the deepest."""
    return work.joinpath("corpus", *LEVELS[: len(LEVELS) - level])


def build_corpus(work: Path, sizes: list[int], template_files: int) -> dict[int, Path]:
    """Input roots per size (copies written once, kept between runs); prints what it wrote."""
    copier = Copier(_template(work, template_files))
    per_copy = len(copier.files)
    bounds = sorted(sizes)
    if len(bounds) > len(LEVELS):
        raise SystemExit(f"at most {len(LEVELS)} sizes")
    roots: dict[int, Path] = {}
    start, k = time.perf_counter(), 0
    written = 0
    for level, size in enumerate(bounds):
        root = _level_root(work, level)
        root.mkdir(parents=True, exist_ok=True)
        while k * per_copy < size:
            folder = root / f"c{k:06d}"
            if not folder.is_dir():
                written += copier.write(folder, k)
            k += 1
        roots[size] = root
    if written:
        print(f"corpus: wrote {written} files in {time.perf_counter() - start:.0f} s")
    return roots


# -- stages (each in its own process) ---------------------------------------------------------
def _store(output: Path):
    from xrf_assets.core.store import TableStore

    return TableStore(output)


def _ingest(input_dir: Path, output: Path) -> dict[str, Any]:
    from xrf_assets.core.ingest.privacy import PrivacySettings
    from xrf_assets.core.ingest.rooms import RoomDirectory
    from xrf_assets.core.ingest.run import IngestSettings, run_ingest

    settings = IngestSettings(input_dir, RoomDirectory(), PrivacySettings("pseudonymize", KEY))
    summary = run_ingest(settings, _store(output), logging.getLogger("bench_scale"))
    return {"files": summary.files_seen, "read": summary.files_read}


def _publish(output: Path) -> dict[str, Any]:
    """The publish step alone, from the staging under ``output`` (its record of the last publish
    removed first, so that it publishes)."""
    from xrf_assets.core.ingest.privacy import PrivacySettings
    from xrf_assets.core.ingest.rooms import RoomDirectory
    from xrf_assets.core.ingest.run import IngestSettings, publish_shards

    (output / "_published.json").unlink(missing_ok=True)
    settings = IngestSettings(output, RoomDirectory(), PrivacySettings("pseudonymize", KEY))
    summary = publish_shards(settings, _store(output), [], logging.getLogger("bench_scale"))
    return {t: w.rows for t, w in summary.written.items()}


def _audit_month(month: str, store) -> dict[str, Any]:
    """One month as the audit assets do it (xrf_assets/assets/audit.py), without Dagster."""

    from xrf_assets.core.audit.alerts import AlertThresholds, build_dose_alerts
    from xrf_assets.core.audit.checks import audit_input_checks
    from xrf_assets.core.audit.drl import ReferenceLevels, compare_to_drl
    from xrf_assets.core.audit.months import month_window
    from xrf_assets.core.audit.procedures import ProcedureMap
    from xrf_assets.core.audit.scope import (
        event_links,
        placement_rows,
        study_rows,
        window_rows,
    )
    from xrf_assets.core.audit.statistics import dose_by_procedure, dose_by_protocol, dose_by_room
    from xrf_assets.core.audit.study_dose import (
        build_study_dose,
        study_totals,
        unplaced_event_count,
    )

    thresholds = AlertThresholds()
    window = thresholds.window_months
    months = month_window(month, window)
    rows = window_rows(store.scan, months)
    studies = study_totals(rows.events, rows.accumulated, rows.images, months=months)
    links, linked = event_links(store.scan, rows.events)
    audit_input_checks(rows.events, rows.accumulated, linked, links, studies, month, window)
    unplaced_event_count(placement_rows(store.scan, "irradiation_events"))
    study_dose = build_study_dose(
        studies, rows.events, rows.images, links, month, ProcedureMap.from_yaml()
    )
    uids = study_dose.get_column("study_instance_uid")
    of_month_rows = (study_rows(store.scan, t, uids) for t in ("irradiation_events", "images"))
    return {
        "study_dose": study_dose,
        "dose_by_room_month": dose_by_room(study_dose, month),
        "dose_by_procedure_month": dose_by_procedure(study_dose, month),
        "dose_by_protocol_month": dose_by_protocol(*of_month_rows, study_dose, month),
        "drl_comparison": compare_to_drl(study_dose, month, ReferenceLevels.from_yaml()),
        "dose_alerts": build_dose_alerts(studies, month, thresholds),
    }


def run_stage(
    stage: str, input_dir: Path, output: Path, base: Path | None = None, per_event: float = 5.0
) -> dict[str, Any]:
    """The stage's own work, timed after the imports; returns figures for the parent."""
    import polars as pl  # noqa: F401 - imported before the clock starts

    import xrf_assets.core.audit.study_dose
    import xrf_assets.core.ingest.run
    import xrf_assets.core.linking.links  # noqa: F401

    start = time.perf_counter()
    figures: dict[str, Any] = {}
    if stage == "discovery":
        from xrf_assets.core.ingest.discovery import discover

        figures["files"] = len(discover(input_dir).files)
    elif stage in ("ingest", "rerun"):
        figures |= _ingest(input_dir, output)
    elif stage == "publish":
        figures |= _publish(output)
    elif stage == "link":
        from xrf_assets.core.linking.links import link_images, link_inputs

        store = _store(output)
        result = link_images(*link_inputs(store))  # as the link asset reads its tables
        store.write("event_image_links", result.links)
        store.write("unlinked_images", result.unlinked)
        figures["links"] = result.links.height
    elif stage == "audit":
        from xrf_assets.core.audit.scope import archive_study_months

        store = _store(output)
        months = archive_study_months(store.scan).get_column("month").unique().sort().to_list()
        for month in months:
            for table, df in _audit_month(month, store).items():
                store.write(table, df, month=month)
        figures["months"] = len(months)
    elif stage == "tables":
        figures |= _tables_store(int(input_dir.name), base, per_event, output)
    else:
        raise SystemExit(f"unknown stage {stage}")
    figures["seconds"] = time.perf_counter() - start
    _stop_fork_server()
    return figures


def _stop_fork_server() -> None:
    """Stop and reap the reader pool's fork server, so that its reaped workers' CPU time and peak
    RSS reach this process's children's usage, and so the parent's ``wait4``: an orphaned fork
    server would take them away."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is not None and getattr(server, "_forkserver_pid", None):
        server._stop()


# -- link and audit on tables built directly ---------------------------------------------------
_UID_COLUMNS = {
    "images": ("sop_instance_uid", "study_instance_uid", "series_instance_uid", "patient_id"),
    "irradiation_events": (
        "irradiation_event_uid",
        "report_sop_instance_uid",
        "study_instance_uid",
        "patient_id",
    ),
    "accumulated_dose": ("report_sop_instance_uid", "study_instance_uid"),
    "event_image_refs": (
        "irradiation_event_uid",
        "referenced_sop_instance_uid",
        "report_sop_instance_uid",
    ),
}


def tiled_tables(base: dict[str, Any], images: int, per_event: float = 5.0) -> dict[str, Any]:
    """The base tables repeated until they hold ``images`` images, about ``per_event`` images per
    irradiation event (the issue's 1M images / 200k events; the generator's corpus has about 0.65).
    Copy ``k`` has ``.k`` after every UID and patient ID, its dates ``k`` days on (as the file
    copies are made) and ``#k`` after its room: the rooms of another site, so a room's day holds
    as many images at 1M as at 10k: an archive grows by rooms and years, not by procedures per
    room and day (the clock offsets are estimated per room and day). Within a copy each image
    stands ``m`` times, ``.i`` after its SOP Instance UID and after the report's references to
    it, with the same times and event UIDs: the frames of one run stored as ``m`` images, each
    linked by the same UID or window as the original, so every link stays determinable."""
    import polars as pl

    ratio = base["images"].height / max(base["irradiation_events"].height, 1)
    m = max(1, round(per_event / ratio))
    copies = math.ceil(images / (base["images"].height * m))
    replicated = {"images": "sop_instance_uid", "event_image_refs": "referenced_sop_instance_uid"}
    out = {}
    for table, df in base.items():
        frames = []
        for k in range(copies):
            suffix = f".{k}"
            exprs = [pl.col(c) + suffix for c in _UID_COLUMNS[table] if c in df.columns]
            if "room_id" in df.columns:  # another site's rooms: the same images per room-day
                exprs.append(pl.col("room_id") + f"#{k}")
            if table == "images":
                exprs.append(pl.col("irradiation_event_uids").list.eval(pl.element() + suffix))
            shift = pl.duration(days=k)
            exprs += [
                pl.col(c) + shift
                for c, t in df.schema.items()
                if t in (pl.Date(),) or isinstance(t, pl.Datetime)
            ]
            copy = df.with_columns(exprs)
            if table in replicated and m > 1:
                uid = pl.col(replicated[table])
                frames += [copy.with_columns(uid + f".{i}") for i in range(m)]
            else:
                frames.append(copy)
        out[table] = pl.concat(frames)
    return out


def _tables_store(images: int, base: Path, per_event: float, output: Path) -> dict[str, Any]:
    """The ``base`` ingest output's tables tiled to ``images`` images, written to a store at
    ``output`` (the stages ``link`` and ``audit`` then read it as they read an ingest's)."""
    base_store, store = _store(base), _store(output)
    tables = tiled_tables({t: base_store.read(t) for t in _UID_COLUMNS}, images, per_event)
    for table, df in tables.items():
        store.write(table, df)
    return {"images": tables["images"].height, "events": tables["irradiation_events"].height}


# -- the parent ---------------------------------------------------------------------------------
def measure(stage: str, input_dir: Path | str, output: Path, *options: str) -> dict[str, Any]:
    """Run ``stage`` in a child process; its figures plus the peak RSS of its process tree."""
    cmd = [sys.executable, __file__, "--stage", stage, "--input", str(input_dir), *options]
    child = subprocess.Popen([*cmd, "--output", str(output)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"stage {stage} failed ({child.returncode}): {out[-2000:]}")
    figures = json.loads(out.strip().splitlines()[-1])
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    # CPU seconds of the tree (imports included): on a shared machine wall time follows the load
    figures["cpu_s"] = usage.ru_utime + usage.ru_stime
    return figures


def exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) against log(size): 1 is linear growth."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def _sizes(text: str) -> list[int]:
    return sorted(int(s) for s in text.split(",") if s.strip())


def _print_table(title: str, rows: dict[str, dict[int, dict[str, Any]]], unit: str) -> None:
    print(f"\n{title}")
    sizes = sorted({n for by in rows.values() for n in by})
    print(
        f"{'stage':<14}" + "".join(f"{n:>22,}" for n in sizes) + f"{'exp wall':>10}{'exp cpu':>10}"
    )
    for stage, by in rows.items():
        cells = "".join(
            f"{by[n]['seconds']:>10.2f} s {by[n]['peak_rss_mb']:>6.0f} MB" if n in by else " " * 22
            for n in sizes
        )
        fits = [exponent([(n, by[n][k]) for n in sorted(by)]) for k in ("seconds", "cpu_s")]
        print(f"{stage:<14}{cells}" + "".join("" if f is None else f"{f:>10.2f}" for f in fits))
        print(f"{'  cpu s':<14}" + "".join(f"{by[n]['cpu_s']:>12.1f} cpu s{'':>5}" for n in sizes))
    print(f"(columns: {unit}; cells: wall seconds, peak RSS of the stage's process tree; CPU")
    print(" seconds of the tree, imports included; exponents of wall time, then of CPU time)")


def _files_stages(work: Path, outputs: Path, sizes: list[int], template: int) -> None:
    roots = build_corpus(work, sizes, template)
    rows: dict[str, dict[int, dict[str, Any]]] = {s: {} for s in STAGES}
    for n in sizes:
        output = outputs / str(n)
        shutil.rmtree(output, ignore_errors=True)
        for stage in STAGES:
            rows[stage][n] = figures = measure(stage, roots[n], output)
            print(f"{n:>9} files  {stage:<10} {json.dumps(figures)}", flush=True)
    _print_table("Stages on files", rows, "files")
    top = max(sizes)
    first, again = rows["ingest"][top]["seconds"], rows["rerun"][top]["seconds"]
    print(
        f"re-run with nothing new at {top:,} files: {again:.2f} s = {again / first:.1%} "
        f"of the first ingest ({first:.2f} s), files read {rows['rerun'][top]['read']} "
        "(goal < 5 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="file counts")
    parser.add_argument("--tables", default="", help="image counts for link/audit on tables")
    parser.add_argument(
        "--base",
        type=Path,
        help="ingest output the --tables are tiled from (default: the "
        "smallest size's; with --sizes '' only the tables run)",
    )
    parser.add_argument(
        "--per-event", type=float, default=5.0, help="images per event of the --tables"
    )
    parser.add_argument("--template", type=int, default=1000, help="files per copy")
    parser.add_argument("--work", type=Path, default=Path("data/scale"))
    parser.add_argument("--out", type=Path, help="outputs (default: WORK/out)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus and outputs")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.stage:
        figures = run_stage(args.stage, Path(args.input), args.output, args.base, args.per_event)
        print(json.dumps(figures))
        return
    sizes = _sizes(args.sizes)
    work = args.work.resolve()
    outputs = (args.out or work / "out").resolve()
    try:
        if sizes:
            _files_stages(work, outputs, sizes, args.template)
        tables = _sizes(args.tables)
        if tables:
            base = (args.base or outputs / str(min(sizes))).resolve()
            trows: dict[str, dict[int, dict[str, Any]]] = {"link": {}, "audit": {}}
            for n in tables:
                output = outputs / f"tables-{n}"
                shutil.rmtree(output, ignore_errors=True)
                options = ["--base", str(base), "--per-event", str(args.per_event)]
                built = measure("tables", Path(str(n)), output, *options)
                print(f"{n:>9} images tables       {json.dumps(built)}", flush=True)
                for stage in trows:
                    trows[stage][n] = figures = built | measure(stage, "", output)
                    print(f"{n:>9} images {stage:<12} {json.dumps(figures)}", flush=True)
                if not args.keep:
                    shutil.rmtree(output, ignore_errors=True)
            _print_table("Link and audit on tables built directly", trows, "images")
    finally:
        if sizes and not args.keep:  # only what this run built
            shutil.rmtree(outputs, ignore_errors=True)
            shutil.rmtree(work / "corpus", ignore_errors=True)


if __name__ == "__main__":
    main()
