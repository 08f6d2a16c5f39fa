"""The ingest stage: new and changed files read once, staged, and the ingest tables published.

A run (1) walks the input tree, (2) compares it with the staging state by path, size and
modification time, (3) reads only new or changed files (all with ``full_rebuild``) in a process
pool, staging each batch as it completes, (4) marks vanished files missing, and (5) publishes
dicom_files, images, irradiation_events, accumulated_dose and event_image_refs from the whole
staging. Killed at any point, a run leaves every table as before or after it, and the next run
picks up from the last staged batch (and removes the temporary files the killed one left). Log
lines name files by their published name: a keyed file id in pseudonymize mode.

The same stage runs as separate steps (shards.py): :func:`prepare_shards` brings the staging into
the configured layout, :func:`ingest_shard` does (1)-(4) for one shard's part of the tree into that
shard's own staging, and :func:`publish_shards` does (5) from all shards' staging. Any executor may
place the shard steps on other machines that see the same input and output folders;
:func:`run_ingest` runs the three in turn, in this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from schemas import contract
from xrf_assets.core.ingest.discovery import Discovery, FoundFile, discover
from xrf_assets.core.ingest.pool import ReadBatch, read_batches
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.publish import code_digest, publish_each
from xrf_assets.core.ingest.read_file import FileOutcome, ReaderContext
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.shards import ShardLayout, check_layout, prepare_layout
from xrf_assets.core.ingest.staging import (
    ROW_TABLES,
    StagedScan,
    StagingArea,
    files_schema,
)
from xrf_assets.core.store import TableStore, WriteInfo, write_text_atomic

TABLES: tuple[str, ...] = ("dicom_files", *ROW_TABLES)


@dataclass(frozen=True)
class IngestSettings:
    input_dir: Path
    rooms: RoomDirectory  # applied at publish only: workers never see it
    privacy: PrivacySettings
    workers: int | None = None  # None: os.cpu_count(); 1: read inline
    batch_size: int = 1000  # files per staged batch: bounds memory and the work a crash loses
    full_rebuild: bool = False  # read every present file again
    # default one shard: the whole tree in one step, staged in _state
    shards: ShardLayout = field(default_factory=ShardLayout)


@dataclass(frozen=True)
class IngestSummary:
    input_dir: str
    output_dir: str
    privacy: str
    full_rebuild: bool
    files_seen: int
    files_read: int  # DICOM headers read by this run: 0 when nothing changed
    files_unchanged: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    written: dict[str, WriteInfo] = field(default_factory=dict)  # table -> what was published


@dataclass(frozen=True)
class ShardSummary:
    """What one shard step found and read."""

    shard: int
    files_seen: int
    files_read: int
    files_unchanged: int


class IngestError(ValueError):
    """The run cannot start (bad folders); nothing was read or written."""


def _check_folders(input_dir: Path, output_dir: Path) -> None:
    if not input_dir.is_dir():
        raise IngestError(f"input folder {input_dir} does not exist or is not a folder")
    if output_dir.resolve().is_relative_to(input_dir.resolve()):
        raise IngestError(
            f"output folder {output_dir} is inside the input folder {input_dir}: the input "
            "tree is never written to; choose an output folder elsewhere"
        )


def _mtime(ns: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ns // 1000, time_unit="us").dt.replace_time_zone("UTC")


def _file_rows(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Staged file rows; ``mtime`` is derived from ``mtime_ns`` so the two never disagree."""
    df = pl.DataFrame(list(rows), schema=files_schema(), strict=False)
    return df.with_columns(_mtime(pl.col("mtime_ns")).alias("mtime"))


def _outcome_row(outcome: FileOutcome, found: FoundFile) -> dict[str, Any]:
    return {
        "path": outcome.path,
        "size_bytes": found.size_bytes,
        "mtime_ns": found.mtime_ns,
        **outcome.header,
        "kind": outcome.kind,
        "status": outcome.status,
        "reason": outcome.reason,
        "issues": "; ".join(outcome.issues) or None,
        "present": True,
    }


@dataclass(frozen=True)
class _Plan:
    to_read: list[FoundFile]
    markers: pl.DataFrame  # file rows that change without a read (missing, back, unreadable)
    unchanged: int


def _plan(
    found: Discovery, state: pl.DataFrame, full_rebuild: bool, name: Callable[[str], str]
) -> _Plan:
    """Compare the walk with the staged file rows: what to read and what to mark; ``name``
    gives the published name of a path a reason mentions.

    Joins on the path over columns, not a dict of every staged row: at a million files the rows as
    Python dicts (some 60 values each) cost gigabytes and most of a re-run's time."""
    walk = pl.DataFrame(
        {
            "path": [f.path for f in found.files],
            "size_bytes": [f.size_bytes for f in found.files],
            "mtime_ns": [f.mtime_ns for f in found.files],
        },
        schema={"path": pl.String(), "size_bytes": pl.Int64(), "mtime_ns": pl.Int64()},
    )
    old = state.select("path", old_size="size_bytes", old_mtime="mtime_ns", old_present="present")
    same = (pl.col("old_size") == pl.col("size_bytes")) & (
        pl.col("old_mtime") == pl.col("mtime_ns")
    )
    compared = (
        walk.with_row_index("i")
        .join(old, on="path", how="left")
        .with_columns(same=same.fill_null(False) & (not full_rebuild))
    )
    to_read = [found.files[i] for i in compared.filter(~pl.col("same")).get_column("i")]
    kept = compared.filter("same")
    unchanged = kept.filter("old_present").height
    back = state.join(kept.filter(~pl.col("old_present")), on="path", how="semi")
    unreadable_paths = pl.Series([u.path for u in found.unreadable], dtype=pl.String())
    known = {
        r["path"]: r
        for r in state.filter(pl.col("path").is_in(unreadable_paths.implode())).iter_rows(
            named=True
        )
    }
    marked = []
    for u in found.unreadable:
        row = {
            "path": u.path,
            "size_bytes": u.size_bytes,
            "mtime_ns": u.mtime_ns,
            "kind": "unknown",
            "status": u.status,
            "reason": u.reason_naming(name),
            "present": True,
        }
        prior = known.get(u.path)
        if prior is None or any(prior[k] != v for k, v in row.items()):
            marked.append(row)
        else:
            unchanged += 1
    seen = pl.concat([walk.get_column("path"), unreadable_paths]).to_frame("path")
    gone = state.filter("present").join(seen, on="path", how="anti")
    columns = files_schema().names()
    markers = pl.concat(
        [
            back.with_columns(present=pl.lit(True)).select(columns),  # back, unchanged: staged
            _file_rows(marked).select(columns),
            gone.with_columns(present=pl.lit(False)).select(columns),
        ]
    )
    return _Plan(to_read, markers, unchanged)


class FileLines:
    """Per-file log lines, written as one message per level (a line each, at most ``most`` a
    message): in a Dagster run every message is an event, a database commit of ~10 ms, so a
    message per file cost hours on an archive whose every file has an issue."""

    def __init__(self, log: logging.Logger, most: int = 1000) -> None:
        self._log, self._most = log, most
        self._lines: dict[int, list[str]] = {}

    def add(self, level: int, line: str) -> None:
        lines = self._lines.setdefault(level, [])
        lines.append(line)
        if len(lines) >= self._most:
            self.flush()

    def flush(self) -> None:
        for level, lines in sorted(self._lines.items(), reverse=True):  # warnings first
            self._log.log(level, "%s", "\n".join(lines))
        self._lines.clear()

    def __enter__(self) -> FileLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def _log_outcome(lines: FileLines, o: FileOutcome, privacy: PrivacySettings) -> None:
    """Files are named by their published name (a keyed file id in pseudonymize mode): a path
    may name a patient, and the log ends up in Dagster's event log."""
    if o.status not in ("rejected", "partial", "ignored") and not o.issues:
        return  # nearly every file: no keyed name to compute (an HMAC each)
    name = privacy.file_id(o.path)
    if o.status in ("rejected", "partial"):
        lines.add(logging.WARNING, f"{o.status} {name}: {privacy.text(o.reason or '')}")
    elif o.status == "ignored":
        lines.add(logging.INFO, f"ignored {name}: {privacy.text(o.reason or '')}")
    for issue in o.issues:
        lines.add(logging.INFO, f"issue in {name}: {privacy.text(issue)}")


def _log_markers(log: logging.Logger, markers: pl.DataFrame, privacy: PrivacySettings) -> None:
    """Files gone since the last run, and entries of the walk that cannot be read as files."""
    with FileLines(log) as lines:
        for row in markers.iter_rows(named=True):
            name = privacy.file_id(row["path"])
            if not row["present"]:
                lines.add(logging.WARNING, f"missing {name}: no longer under the input root")
            elif row["data_seg"] is None:
                lines.add(logging.WARNING, f"{row['status']} {name}: {row['reason']}")


def _log_new_verdicts(log: logging.Logger, files: pl.DataFrame, before: pl.DataFrame) -> None:
    """Duplicates and superseded reports, when a file first gets that status (a later file or
    report can change the status of one read in an earlier run)."""
    was = before.select("path", pl.col("status").alias("was"))
    new = files.join(was, on="path", how="left").filter(
        pl.col("status").is_in(["duplicate", "superseded"])
        & pl.col("was").ne_missing(pl.col("status"))
    )
    with FileLines(log) as lines:
        for row in new.iter_rows(named=True):
            lines.add(logging.INFO, f"{row['status']} {row['path']}: {row['reason']}")


def _stage_batch(
    area: StagingArea,
    read: ReadBatch,
    found: dict[str, FoundFile],
    log: logging.Logger,
    privacy: PrivacySettings,
) -> None:
    with FileLines(log) as lines:
        for o in read.outcomes:
            _log_outcome(lines, o, privacy)
    files = _file_rows(_outcome_row(o, found[o.path]) for o in read.outcomes)
    area.append(files, read.frames)


@dataclass
class Progress:
    """Files read so far of ``total``, the rate and the time left, logged after each staged batch
    (every ``batch_size`` files: a few seconds of reading)."""

    total: int
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def line(self, read: int) -> str:
        self.done += read
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0.0
        share = 100 * self.done / self.total if self.total else 100.0
        return (
            f"read {self.done}/{self.total} files ({share:.0f} %), {rate:.0f} files/s, "
            f"{eta:.0f} s left"
        )


def prepare_shards(settings: IngestSettings, store: TableStore, log: logging.Logger) -> list[int]:
    """Check the folders and bring the staging into the configured shard layout (re-keyed if it
    was staged in another); the shards to ingest."""
    _check_folders(Path(settings.input_dir), store.root)
    layout = settings.shards
    prepare_layout(store.root, layout, settings.privacy.fingerprint, settings.full_rebuild, log)
    return list(range(layout.count))


def ingest_shard(
    settings: IngestSettings, store: TableStore, shard: int, log: logging.Logger
) -> ShardSummary:
    """Walk one shard's part of the input tree, read what changed, stage it in its own folder."""
    input_dir = Path(settings.input_dir)
    privacy, layout = settings.privacy, settings.shards
    part = f" (shard {shard + 1} of {layout.count})" if layout.count > 1 else ""
    log.info("ingest %s%s -> %s; privacy: %s", input_dir, part, store.root, privacy.description)
    area = StagingArea(store.root, privacy.fingerprint, layout.folder(shard))
    with area.open(reset_on_mismatch=settings.full_rebuild) as staging:
        check_layout(store.root, layout)
        if staging.was_reset:
            log.warning("privacy settings changed: staging discarded, every file is read again")
        found = discover(input_dir, layout.keeps(shard))
        plan = _plan(found, staging.files(), settings.full_rebuild, privacy.file_id)
        if plan.markers.height:
            _log_markers(log, plan.markers, privacy)
            staging.append(plan.markers)
        seen = len(found.files) + len(found.unreadable)
        log.info(
            "%d files found, %d to read, %d unchanged", seen, len(plan.to_read), plan.unchanged
        )
        by_path = {f.path: f for f in plan.to_read}
        ctx = ReaderContext(input_dir, privacy)
        workers = settings.workers or os.cpu_count() or 1
        paths = [f.path for f in plan.to_read]
        progress = Progress(len(paths))
        for read in read_batches(ctx, paths, workers, settings.batch_size):
            _stage_batch(staging, read, by_path, log, privacy)
            log.info("%s", progress.line(len(read.outcomes)))
        staging.compact()
    return ShardSummary(shard, seen, len(paths), plan.unchanged)


_PUBLISHED = "_published.json"  # in the output root: what the tables were last published from


def _publish_inputs(settings: IngestSettings, areas: list[StagingArea]) -> dict[str, Any]:
    """Everything the published tables are a function of: the staging of every shard, the
    privacy settings, the rooms rules, the table contracts and the code that reads, stages and
    publishes (this module's whole import closure)."""
    return {
        "staging": [a.version for a in areas],
        "privacy": settings.privacy.fingerprint,
        "rooms": settings.rooms.fingerprint,
        "contracts": {t: str(contract(t).schema) for t in TABLES},
        "code": code_digest(__name__),
    }


def _stamps(written: dict[str, WriteInfo]) -> dict[str, list[int]]:
    def stamp(path: Path) -> list[int]:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]

    return {t: stamp(w.path) for t, w in written.items()}


def _unchanged_tables(store: TableStore, inputs: dict[str, Any]) -> dict[str, WriteInfo] | None:
    """The tables as written by the last publish, if it was made from the same ``inputs`` and
    no table file was replaced or removed since: then publishing again would write the same
    bytes. None otherwise (and when the record is missing or unreadable)."""
    try:
        record = json.loads((store.root / _PUBLISHED).read_text(encoding="utf-8"))
        if record["inputs"] != inputs:
            return None
        written = {t: WriteInfo(t, store.path(t), int(record["rows"][t])) for t in TABLES}
        return written if _stamps(written) == record["stamps"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record_publish(
    store: TableStore, inputs: dict[str, Any], written: dict[str, WriteInfo]
) -> None:
    """Written after every table: a run killed before it publishes again next time."""
    body = {
        "inputs": inputs,
        "rows": {t: w.rows for t, w in written.items()},
        "stamps": _stamps(written),
    }
    write_text_atomic(store.root / _PUBLISHED, json.dumps(body))


def _publish(
    settings: IngestSettings, store: TableStore, areas: list[StagingArea], log: logging.Logger
) -> tuple[dict[str, WriteInfo], pl.DataFrame]:
    """Each table built and written batch by batch, before the next; the tables written, and
    dicom_files' status and kind."""
    (store.root / _PUBLISHED).unlink(missing_ok=True)
    staged = StagedScan.merged([a.scan() for a in areas])
    written: dict[str, WriteInfo] = {}
    files: list[pl.DataFrame] = []
    for table, batches in publish_each(staged, settings.rooms, settings.privacy):
        if table == "dicom_files":
            before = store.read("dicom_files", columns=["path", "status"])
            batches = _noting_verdicts(batches, before, files, log)
        written[table] = store.write_batches(table, batches)
    return {t: written[t] for t in TABLES}, pl.concat(files)


def _noting_verdicts(
    batches: Iterable[pl.DataFrame],
    before: pl.DataFrame,
    files: list[pl.DataFrame],
    log: logging.Logger,
) -> Iterator[pl.DataFrame]:
    """The dicom_files batches as they pass: new verdicts logged, status and kind kept."""
    for df in batches:
        _log_new_verdicts(log, df, before)
        files.append(df.select("status", "kind"))
        yield df


def publish_shards(
    settings: IngestSettings,
    store: TableStore,
    shards: list[ShardSummary],
    log: logging.Logger,
) -> IngestSummary:
    """Publish the five ingest tables from every shard's staging, holding all their locks; kept
    as they are when nothing was staged since the last publish and the rooms rules, privacy
    settings and contracts are the same (a re-run that reads and marks nothing)."""
    privacy, layout = settings.privacy, settings.shards
    with contextlib.ExitStack() as stack:
        areas = [
            stack.enter_context(a.open()) for a in layout.areas(store.root, privacy.fingerprint)
        ]
        check_layout(store.root, layout)
        leftovers = store.remove_leftovers()
        if leftovers:
            log.warning("removed %d temporary files left by an interrupted write", len(leftovers))
        inputs = _publish_inputs(settings, areas)
        written = _unchanged_tables(store, inputs)
        if written is not None:
            log.info("nothing staged since the last publish, same settings: tables kept")
            files = pl.read_parquet(store.path("dicom_files"), columns=["status", "kind"])
        else:
            written, files = _publish(settings, store, areas, log)
            _record_publish(store, inputs, written)
    summary = IngestSummary(
        input_dir=str(settings.input_dir),
        output_dir=str(store.root),
        privacy=privacy.description,
        full_rebuild=settings.full_rebuild,
        files_seen=sum(s.files_seen for s in shards),
        files_read=sum(s.files_read for s in shards),
        files_unchanged=sum(s.files_unchanged for s in shards),
        by_status=dict(Counter(files.get_column("status").to_list())),
        by_kind=dict(Counter(files.get_column("kind").to_list())),
        written=written,
    )
    log.info(
        "ingest done: %d read, %d unchanged, statuses %s",
        summary.files_read,
        summary.files_unchanged,
        summary.by_status,
    )
    return summary


def run_ingest(settings: IngestSettings, store: TableStore, log: logging.Logger) -> IngestSummary:
    """Read what changed under ``settings.input_dir`` and publish the ingest tables to ``store``:
    every shard in turn in this process, then publish."""
    shards = prepare_shards(settings, store, log)
    done = [ingest_shard(settings, store, k, log) for k in shards]
    return publish_shards(settings, store, done, log)
