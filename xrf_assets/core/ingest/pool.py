"""Read files in worker processes, in bounded batches, surviving a worker that dies.

At most two batches are in flight, so memory stays flat however large the tree. Workers start from
a fork server (not a fork of a process that may run Dagster's or polars' threads). A worker killed
by a file (a crash in a C extension, the out-of-memory killer) breaks the pool: the batch is then
read again one file at a time in fresh pools, and the file that kills its worker is rejected with
a reason instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from xrf_assets.core.ingest.read_file import FileOutcome, ReaderContext, read_one

WORKER_DIED = "the reader process died on this file (crash in the DICOM parser or out of memory)"
_CONTEXT: ReaderContext | None = None


def _init_worker(ctx: ReaderContext) -> None:
    global _CONTEXT
    _CONTEXT = ctx


def _read_in_worker(path: str) -> FileOutcome:
    assert _CONTEXT is not None, "worker not initialised"
    return read_one(_CONTEXT, path)


def _chunks(paths: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


def _new_pool(ctx: ReaderContext, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("forkserver"),
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
) -> Iterator[list[FileOutcome]]:
    """Outcomes of ``paths``, one list per batch, in input order; ``workers=1`` reads inline."""
    if workers == 1:
        for batch in _chunks(paths, batch_size):
            yield [read_one(ctx, p) for p in batch]
        return
    chunk = max(1, batch_size // (4 * workers))
    batches = list(_chunks(paths, batch_size))
    pool = _new_pool(ctx, workers)
    try:
        pending = None
        for i, batch in enumerate(batches):
            following = None
            try:
                if pending is None:
                    pending = pool.map(_read_in_worker, batch, chunksize=chunk)
                if i + 1 < len(batches):  # keep the workers busy while this batch is staged
                    following = pool.map(_read_in_worker, batches[i + 1], chunksize=chunk)
                outcomes = list(pending)
            except BrokenProcessPool:
                pool.shutdown(cancel_futures=True)
                outcomes = _isolated(ctx, batch)
                pool, following = _new_pool(ctx, workers), None
            yield outcomes
            pending = following
    finally:
        pool.shutdown(cancel_futures=True)
