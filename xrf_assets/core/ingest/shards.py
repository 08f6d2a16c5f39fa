"""Shards of the input tree, so that the ingest runs as many independent steps (one per shard)
and one publish step merges them.

The shard of a path is fixed by its first ``depth`` folders (``ROOM/`` with depth 1,
``ROOM/YYYYMM/`` with depth 2): a CRC-32 of those names modulo the shard count, the same on every
machine and Python process. A shard step walks only its own folders (discovery.py ``keep``)
and stages into its own folder, ``<output>/_shards/<count>x<depth>/shard-KKKK/`` (its own
manifest, segments and lock: no two steps write one file); one shard is the single-step
``<output>/_state/``. Publish merges the shards' staging; duplicates and re-sent reports are
decided there, across shards, as they are across batches (publish.py).

``_shards/layout.json`` names the layout the staging is in (none: one shard, ``_state``). A
run with another shard count or depth re-keys the staging first: every shard's file rows and
table rows are split by the new shard function into the new layout's folders, then the layout file
is replaced (the switch), then the old folders are removed. No file is read again for it; killed
before the switch, the old layout stays and the half-written new one is removed by the next run;
killed after it, the next run removes the old folders.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from xrf_assets.core.ingest.staging import (
    STATE_DIR,
    StagedScan,
    Staging,
    StagingArea,
    StateError,
)
from xrf_assets.core.store import fsync_folder, write_text_atomic

SHARDS_DIR = "_shards"
LAYOUT_FILE = "layout.json"


@dataclass(frozen=True)
class ShardLayout:
    """How many shards, and how many leading folders of a path choose its shard."""

    count: int = 1
    depth: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or self.depth < 1:
            raise ValueError(f"shard count and depth must be at least 1, not {self}")

    @property
    def key(self) -> tuple[int, int]:
        """What identifies the layout: the depth does not matter with one shard."""
        return (self.count, self.depth if self.count > 1 else 1)

    def shard_of(self, path: str) -> int:
        """The shard of a path relative to the input root (forward slashes)."""
        if self.count == 1:
            return 0
        head = "/".join(path.split("/", self.depth)[: self.depth])
        return zlib.crc32(head.encode("utf-8", "surrogateescape")) % self.count

    def keeps(self, shard: int) -> Callable[[str, bool], bool] | None:
        """discovery's ``keep`` for one shard: folders above ``depth`` are walked by every
        shard, everything else by its own; None with one shard (the whole tree)."""
        if self.count == 1:
            return None

        def keep(path: str, is_folder: bool) -> bool:
            if is_folder and path.count("/") + 1 < self.depth:
                return True
            return self.shard_of(path) == shard

        return keep

    def folder(self, shard: int) -> str:
        """A shard's staging folder, relative to the output root."""
        if self.count == 1:
            return STATE_DIR
        return f"{SHARDS_DIR}/{self.count}x{self.depth}/shard-{shard:04d}"

    def areas(self, root: Path, fingerprint: str) -> list[StagingArea]:
        return [StagingArea(root, fingerprint, self.folder(k)) for k in range(self.count)]


def staged_layout(root: Path) -> ShardLayout:
    """The layout the staging under ``root`` is in."""
    path = root / SHARDS_DIR / LAYOUT_FILE
    if not path.exists():
        return ShardLayout()
    body = json.loads(path.read_text(encoding="utf-8"))
    return ShardLayout(int(body["count"]), int(body["depth"]))


def check_layout(root: Path, layout: ShardLayout) -> None:
    """A shard or publish step refuses staging in another layout (a run with other settings
    re-keyed it meanwhile): mixing the two would lose or double files."""
    staged = staged_layout(root)
    if staged.key != layout.key:
        raise StateError(
            f"the staging under {root} is in {staged.count} shard(s) of depth {staged.depth}, "
            f"this step expects {layout.count} of depth {layout.depth}: another run changed "
            "the shard settings; run the ingest again"
        )


def _remove(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)


def _stale_folders(root: Path, current: ShardLayout) -> list[Path]:
    """Staging folders of layouts other than ``current``."""
    stale = [] if current.count == 1 else [root / STATE_DIR]
    shards = root / SHARDS_DIR
    if shards.is_dir():
        keep = Path(current.folder(0)).parent.name if current.count > 1 else None
        stale += [c for c in shards.iterdir() if c.is_dir() and c.name != keep]
    return [f for f in stale if f.exists()]


def _switch(root: Path, layout: ShardLayout) -> None:
    """Name ``layout`` as the one the staging is in (atomic)."""
    shards = root / SHARDS_DIR
    if layout.count == 1:
        (shards / LAYOUT_FILE).unlink(missing_ok=True)
        if shards.is_dir():
            fsync_folder(shards)
        return
    body = json.dumps({"count": layout.count, "depth": layout.depth})
    write_text_atomic(shards / LAYOUT_FILE, body)


def _split(
    state: Staging, layout: ShardLayout, shard: int
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """One new shard's file rows (their rows now in the new segment) and table rows."""

    def mine(df: pl.DataFrame, column: str) -> pl.DataFrame:
        shards = [layout.shard_of(p) for p in df.get_column(column)]
        return df.filter(pl.Series(shards, dtype=pl.Int64) == shard)

    files = mine(state.files, "path").with_columns(pl.lit(None, pl.Int64).alias("data_seg"))
    return files, {t: mine(df, "source_path") for t, df in state.rows.items()}


def prepare_layout(
    root: Path, layout: ShardLayout, fingerprint: str, full_rebuild: bool, log: logging.Logger
) -> None:
    """Bring the staging under ``root`` into ``layout`` (re-keyed if it is in another) and remove
    folders of old layouts; holds every old shard's lock while it works."""
    current = staged_layout(root)
    if current.key != layout.key:
        with contextlib.ExitStack() as stack:
            old = [
                stack.enter_context(a.open(full_rebuild)) for a in current.areas(root, fingerprint)
            ]
            state = StagedScan.merged([a.scan() for a in old]).collect()
            for folder in _stale_folders(root, current):
                _remove(folder)  # a re-key killed before its switch, or older layouts
            (root / SHARDS_DIR).mkdir(mode=0o700, exist_ok=True)  # real paths below
            for k, area in enumerate(layout.areas(root, fingerprint)):
                files, rows = _split(state, layout, k)
                with area.open() as new:
                    if files.height:
                        new.append(files, rows)
            _switch(root, layout)
        if state.files.height:
            log.warning(
                "staging re-keyed from %d shard(s) of depth %d to %d of depth %d "
                "(%d files, none read again)",
                current.count,
                current.depth,
                layout.count,
                layout.depth,
                state.files.height,
            )
    for folder in _stale_folders(root, layout):
        _remove(folder)
