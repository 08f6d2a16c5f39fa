"""Ingest's private state: what was extracted from every file, so that unchanged files are not read
again and the published tables can be rebuilt from it alone.

``<output>/_state/`` holds numbered segments and a manifest. A segment is a folder with the file
rows of one batch (``files.parquet``: the dicom_files columns plus ``mtime_ns``, ``present`` and
``data_seg``) and the table rows extracted from those files (with their ``source_path``). A
segment is written and synced in full before the manifest, replaced atomically (``os.replace``),
names it; a run killed at any point leaves either the old manifest or the new one, and folders no
manifest names are removed by the next run. The latest segment naming a path wins; its
``data_seg`` says which segment holds that path's rows (a file that disappears gets a new row,
``present`` false, pointing at its old rows). At the end of a run the segments are merged into one.

Rows are staged as extracted, without ``room_id``: rooms are assigned when the tables are published
(rooms.py), so editing the rooms file needs no file read. Rows are staged after patient identity is
pseudonymized, but with the real file paths: the state is private (mode 0700, restored on every
open) and only keyed file ids are published. The manifest keeps a fingerprint of the privacy
settings, and staging made under other settings is refused rather than mixed. A segment whose write
fails (a full disk) is removed at once, so the failure does not keep the disk full."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from schemas import contract
from xrf_assets.core.store import frame_from_rows, fsync_folder

STATE_DIR = "_state"
MANIFEST = "manifest.json"
FORMAT = 1
ROW_TABLES: tuple[str, ...] = (
    "images",
    "irradiation_events",
    "accumulated_dose",
    "event_image_refs",
)
FILES = "files"
_FILE_EXTRAS = {"mtime_ns": pl.Int64(), "present": pl.Boolean(), "data_seg": pl.Int64()}


class StateError(RuntimeError):
    """The staging state cannot be used as it is; the message says what to do."""


def files_schema() -> pl.Schema:
    """Staged file rows: the dicom_files contract plus the change key and segment pointer."""
    return pl.Schema({**dict(contract("dicom_files").schema), **_FILE_EXTRAS})


# columns publish derives rather than staging them
_PUBLISHED_ONLY = ("room_id",)


def row_schema(table: str) -> pl.Schema:
    """A table's contract without the columns publish derives, plus ``source_path`` (tables that
    publish it keep their own)."""
    schema = {n: t for n, t in contract(table).schema.items() if n not in _PUBLISHED_ONLY}
    schema.setdefault("source_path", pl.String())
    return pl.Schema(schema)


def empty_rows() -> dict[str, pl.DataFrame]:
    return {t: pl.DataFrame(schema=row_schema(t)) for t in ROW_TABLES}


def staged_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Extracted rows in staged shape; ``frame_from_rows`` checks the contract columns."""
    names = row_schema(table).names()
    if "source_path" in contract(table).column_names:
        return frame_from_rows(table, rows).select(names)
    sources = pl.Series("source_path", [r["source_path"] for r in rows], pl.String())
    frame = frame_from_rows(
        table, ({k: v for k, v in r.items() if k != "source_path"} for r in rows)
    )
    return frame.with_columns(sources).select(names)


@dataclass(frozen=True)
class Staging:
    """The current state: one row per path ever seen, and the rows of those files."""

    files: pl.DataFrame
    rows: Mapping[str, pl.DataFrame]


@dataclass(frozen=True)
class StagedScan:
    """The same state with the rows as lazy scans of the segments' Parquet: publish and
    compaction take one table at a time, so no run holds every staged table at once (at a
    million files they are gigabytes)."""

    files: pl.DataFrame
    rows: Mapping[str, pl.LazyFrame]

    @staticmethod
    def merged(parts: list[StagedScan]) -> StagedScan:
        """One state from the shards' (a path is staged by one shard; a folder above the shard
        depth that cannot be listed is reported by each, identically)."""
        files = [p.files for p in parts if p.files.height]
        if not files:
            return StagedScan(pl.DataFrame(schema=files_schema()), _empty_scans())
        return StagedScan(
            pl.concat(files).unique("path", keep="first", maintain_order=True).sort("path"),
            {t: pl.concat([p.rows[t] for p in parts]) for t in ROW_TABLES},
        )

    def collect(self) -> Staging:
        """The whole state in memory (re-keying shards, tests); publish and compaction scan."""
        return Staging(self.files, {t: lf.collect() for t, lf in self.rows.items()})


def _empty_scans() -> dict[str, pl.LazyFrame]:
    return {t: df.lazy() for t, df in empty_rows().items()}


def _write_synced(df: pl.DataFrame | pl.LazyFrame, target: Path) -> None:
    if isinstance(df, pl.LazyFrame):  # streamed: the rows never all in memory
        df.sink_parquet(target, compression="zstd")
    else:
        df.write_parquet(target, compression="zstd")
    with open(target, "rb") as fh:
        os.fsync(fh.fileno())


class StagingArea:
    """The segments under ``<output>/_state`` (or a shard's ``folder``: shards.py), held under an
    exclusive lock while open."""

    def __init__(
        self,
        output_root: str | os.PathLike[str],
        privacy_fingerprint: str,
        folder: str = STATE_DIR,
    ) -> None:
        self.dir = Path(output_root) / folder
        self.fingerprint = privacy_fingerprint
        self._segments: list[int] = []
        self._next = 1
        self._lock: int | None = None
        self.was_reset = False

    # -- lifetime ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def open(self, reset_on_mismatch: bool = False) -> Iterator[StagingArea]:
        """Lock, read the manifest, drop folders it does not name.

        Staging made under other privacy settings is discarded if ``reset_on_mismatch`` (a full
        rebuild), else refused: its hashes cannot be mixed with new ones.
        """
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)  # real paths live here: private, whatever the umask
        self._lock = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateError(f"{self.dir}: another ingest is running on this output") from None
            self._load_manifest(reset_on_mismatch)
            self._remove_orphans()
            yield self
        finally:
            os.close(self._lock)
            self._lock = None

    def _load_manifest(self, reset_on_mismatch: bool) -> None:
        path = self.dir / MANIFEST
        if not path.exists():
            self._segments, self._next = [], 1
            return
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise StateError(f"{path}: unknown state format; delete {self.dir} to rebuild")
        self._next = int(manifest["next_segment"])
        if manifest["privacy"] != self.fingerprint:
            if reset_on_mismatch:
                self._segments, self.was_reset = [], True
                self._write_manifest()
                return
            raise StateError(
                f"{self.dir} was staged under other privacy settings (mode or key changed): "
                "run a full rebuild, or use a new output folder"
            )
        self._segments = [int(s) for s in manifest["segments"]]

    @property
    def version(self) -> str:
        """Changes with every segment appended, merged or discarded (the manifest's content)."""
        return json.dumps([self.fingerprint, self._segments, self._next])

    def _write_manifest(self) -> None:
        body = {
            "format": FORMAT,
            "privacy": self.fingerprint,
            "segments": self._segments,
            "next_segment": self._next,
        }
        tmp = self.dir / f".{MANIFEST}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(body, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.dir / MANIFEST)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_folder(self.dir)

    def _segments_on_disk(self) -> list[int]:
        try:
            return [int(s) for s in json.loads((self.dir / MANIFEST).read_text())["segments"]]
        except (OSError, ValueError, KeyError):
            return []

    def _seg_dir(self, seg: int) -> Path:
        return self.dir / f"seg-{seg:08d}"

    def _remove_orphans(self) -> None:
        keep = {self._seg_dir(s).name for s in self._segments}
        for child in self.dir.iterdir():
            if child.is_dir() and child.name not in keep:
                shutil.rmtree(child)
            elif child.name.endswith(".tmp"):
                child.unlink()

    # -- writing ----------------------------------------------------------------------------
    def append(
        self,
        files: pl.DataFrame,
        rows: Mapping[str, pl.DataFrame] | Mapping[str, pl.LazyFrame] | None = None,
    ) -> int:
        """Stage file rows (``data_seg`` null means: the rows are in this segment) and rows."""
        seg = self._next
        folder = self._seg_dir(seg)
        folder.mkdir()
        try:
            files = files.with_columns(pl.col("data_seg").fill_null(seg))
            _write_synced(
                files.select(files_schema().names()).cast(files_schema()),
                folder / f"{FILES}.parquet",
            )
            rows = rows or empty_rows()
            for table in ROW_TABLES:
                schema = row_schema(table)
                _write_synced(
                    rows[table].select(schema.names()).cast(schema), folder / f"{table}.parquet"
                )
            fsync_folder(folder)
            self._next = seg + 1
            self._segments.append(seg)
            self._write_manifest()
        except BaseException:
            if self._segments[-1:] == [seg]:
                self._segments.pop()
            if seg not in self._segments_on_disk():  # unnamed: removing it loses nothing
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return seg

    def compact(self) -> None:
        """Merge all segments into one, so the next run reads a single folder."""
        if len(self._segments) <= 1:
            return
        old = list(self._segments)
        state = self.scan()
        self._segments = []
        try:
            self.append(
                state.files.with_columns(pl.lit(None, pl.Int64()).alias("data_seg")), state.rows
            )
        except BaseException:
            self._segments = old
            raise
        for seg in old:
            shutil.rmtree(self._seg_dir(seg))

    # -- reading ----------------------------------------------------------------------------
    def files(self) -> pl.DataFrame:
        """One row per path, from the latest segment that names it."""
        frames = [pl.read_parquet(self._seg_dir(s) / f"{FILES}.parquet") for s in self._segments]
        if not frames:
            return pl.DataFrame(schema=files_schema())
        return pl.concat(frames).unique("path", keep="last", maintain_order=True).sort("path")

    def scan(self) -> StagedScan:
        """The effective file rows and, for each table, a scan of the rows their ``data_seg``
        points at (the segment files must stay while it is read: under this area's lock)."""
        files = self.files()
        if not self._segments:
            return StagedScan(files, _empty_scans())
        wanted = files.lazy().select(
            pl.col("path").alias("source_path"), pl.col("data_seg").alias("_seg")
        )
        rows = {}
        for table in ROW_TABLES:
            names = row_schema(table).names()  # segments staged before rooms moved hold room_id
            frames = [
                pl.scan_parquet(self._seg_dir(s) / f"{table}.parquet")
                .select(names)
                .with_columns(pl.lit(s, pl.Int64()).alias("_seg"))
                for s in self._segments
            ]
            rows[table] = (
                pl.concat(frames)
                .join(wanted, on=["source_path", "_seg"], how="semi", maintain_order="left")
                .drop("_seg")
            )
        return StagedScan(files, rows)

    def load(self) -> Staging:
        return self.scan().collect()
