"""Read files in worker processes, in bounded batches, surviving a worker that dies.

At most two batches are in flight, so memory stays flat however large the tree. Workers start from
a fork server (not a fork of a process that may run Dagster's or polars' threads). A worker killed
by a file (a crash in a C extension, the out-of-memory killer) breaks the pool: the batch is then
read again one file at a time in fresh pools, and the file that kills its worker is rejected with
a reason instead of stopping the run.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

import polars as pl

from xrf_assets.core.ingest.read_file import FileOutcome, ReaderContext, read_many, read_one
from xrf_assets.core.ingest.staging import ROW_TABLES, staged_frame

WORKER_DIED = "the reader process died on this file (crash in the DICOM parser or out of memory)"
_CONTEXT: ReaderContext | None = None
# Workers fork from a server that has imported the reader once (pydicom, polars: ~1.5 s of CPU a
# process), so a worker, and every fresh pool of the isolation path, starts in milliseconds.
SERVER = multiprocessing.get_context("forkserver")  # also the month audits' (pipelines)
_READY = "xrf_assets.core.ingest.server_ready"  # imported last: see that module
SERVER.set_forkserver_preload([__name__, _READY])


def start_reader_server(also: Sequence[str] = ()) -> None:
    """Start the fork server now, so that it imports the reader, and the modules ``also`` names,
    on another core while the caller goes on (``xrf-dose run`` calls it before importing
    Dagster, whose month audit workers fork from it too: seconds of start-up)."""
    from multiprocessing import forkserver

    SERVER.set_forkserver_preload([__name__, *also, _READY])
    forkserver.ensure_running()


def _init_worker(ctx: ReaderContext) -> None:
    global _CONTEXT
    _CONTEXT = ctx


def _read_in_worker(path: str) -> FileOutcome:
    assert _CONTEXT is not None, "worker not initialised"
    return read_one(_CONTEXT, path)


@dataclass(frozen=True)
class ReadBatch:
    """Files read: their outcomes, whose rows are taken out into ``frames``, the rows of each
    row table in staged shape (one frame per table, in the files' order)."""

    outcomes: list[FileOutcome]
    frames: dict[str, pl.DataFrame]

    @staticmethod
    def of(outcomes: list[FileOutcome]) -> ReadBatch:
        """The outcomes' rows as staged frames, built where the files were read: in a worker,
        so the one process that stages every batch only joins them (building them there took
        ~46 ms of its CPU per 1,000 images, pickling the row dicts ~23 ms more)."""
        rows = {t: [r for o in outcomes for r in o.rows.get(t, ())] for t in ROW_TABLES}
        frames = {t: staged_frame(t, r) if r else _no_rows(t) for t, r in rows.items()}
        return ReadBatch([replace(o, rows={}) for o in outcomes], frames)

    @staticmethod
    def joined(parts: Sequence[ReadBatch]) -> ReadBatch:
        return ReadBatch(
            [o for p in parts for o in p.outcomes],
            {t: pl.concat([p.frames[t] for p in parts]) for t in ROW_TABLES},
        )


@functools.cache
def _no_rows(table: str) -> pl.DataFrame:
    """A row table's empty staged frame, built once a process: most chunks of files have rows
    for one or two of the tables, and an empty one took 0.3-1.8 ms to build (70 columns)."""
    return staged_frame(table, [])


def _read_chunk_in_worker(paths: Sequence[str]) -> ReadBatch:
    """One task of many files: their first bytes are read ahead while each is parsed."""
    assert _CONTEXT is not None, "worker not initialised"
    return ReadBatch.of(read_many(_CONTEXT, paths))


def _chunks(paths: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


def _new_pool(ctx: ReaderContext, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=SERVER,
        initializer=_init_worker,
        initargs=(ctx,),
    )


class ReaderPoolError(RuntimeError):
    """Worker processes die before reading any file: a fault of the setup, not of a file."""


def _probe() -> bool:
    return _CONTEXT is not None


def _working_pool(ctx: ReaderContext) -> ProcessPoolExecutor:
    """A one-worker pool that has shown it can start, so a death is blamed on the file it read."""
    pool = _new_pool(ctx, 1)
    try:
        pool.submit(_probe).result()
    except BrokenProcessPool:
        pool.shutdown(cancel_futures=True)
        raise ReaderPoolError(
            "worker processes die before reading any file (a script that starts the ingest must "
            "guard it with `if __name__ == '__main__':`)"
        ) from None
    return pool


def _isolated(ctx: ReaderContext, batch: Sequence[str]) -> list[FileOutcome]:
    """One file per task, a fresh pool after each death: only the guilty file is lost."""
    out = []
    pool = _working_pool(ctx)
    try:
        for path in batch:
            try:
                out.append(pool.submit(_read_in_worker, path).result())
            except BrokenProcessPool:
                out.append(FileOutcome(path, reason=WORKER_DIED))
                pool.shutdown(cancel_futures=True)
                pool = _working_pool(ctx)
    finally:
        pool.shutdown(cancel_futures=True)
    return out


def read_batches(
    ctx: ReaderContext, paths: Sequence[str], workers: int, batch_size: int
) -> Iterator[ReadBatch]:
    """``paths`` read, one :class:`ReadBatch` per batch, in input order; ``workers=1`` reads
    inline."""
    if workers == 1:
        for batch in _chunks(paths, batch_size):
            yield ReadBatch.of(read_many(ctx, batch))
        return
    chunk = max(1, batch_size // (4 * workers))
    batches = list(_chunks(paths, batch_size))
    pool = _new_pool(ctx, workers)

    def submit(batch: Sequence[str]) -> Iterator[ReadBatch]:
        return pool.map(_read_chunk_in_worker, list(_chunks(batch, chunk)))

    try:
        pending = None
        for i, batch in enumerate(batches):
            following = None
            try:
                if pending is None:
                    pending = submit(batch)
                if i + 1 < len(batches):  # keep the workers busy while this batch is staged
                    following = submit(batches[i + 1])
                read = ReadBatch.joined(list(pending))
            except BrokenProcessPool:
                pool.shutdown(cancel_futures=True)
                read = ReadBatch.of(_isolated(ctx, batch))
                pool, following = _new_pool(ctx, workers), None
            yield read
            pending = following
    finally:
        pool.shutdown(cancel_futures=True)
