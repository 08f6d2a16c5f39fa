"""The one writer and reader of output tables.

Every table lives in ``<root>/<table>/`` as Parquet; monthly tables are hive-partitioned
(``<root>/<table>/month=YYYY-MM/part-0.parquet``) so that polars, DuckDB, pandas and Spark read a
table whole with ``<root>/<table>/**/*.parquet``. Writes validate against the contract in
``schemas/`` and are atomic (temporary file in the same folder, then rename), so a crash leaves the
previous file whole and readers never see half a file. Published files are created with the
process umask (mode 0666 & ~umask, like any file the user writes), so a group or BI account can
read them where the umask allows it. A write that fails (a full disk) removes its temporary file
at once; one left by a killed process (``.part-0.parquet.<pid>.<n>.tmp``) is removed by
:meth:`TableStore.remove_leftovers` once that process is gone.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from schemas import Contract, contract

PART_FILE = "part-0.parquet"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_TMP = re.compile(r"^\..+\.(\d+)\.\d+\.tmp$")  # .<target>.<pid>.<n>.tmp
_COUNTER = itertools.count()


class SchemaViolation(ValueError):
    """A frame does not match its table contract; the message names the table and the columns."""


def frame_from_rows(table: str, rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a frame in the contract's column order and types; keys a row lacks become null.

    A key the contract does not know is an error, so a typo in an extractor cannot drop a value.
    """
    c = contract(table)
    rows = list(rows)
    names = set(c.column_names)
    for row in rows:
        if not names.issuperset(row):
            unknown = sorted(set(row).difference(names))
            raise SchemaViolation(f"{table}: values for unknown columns {unknown}")
    # the dicts straight to polars: column lists built here first cost 2.7x (a reader's rows)
    return pl.from_dicts(rows, schema=c.schema, strict=False)


def validate(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Check names, order, types, nulls, vocabularies and primary key; return ``df`` as is."""
    c = contract(table)
    if df.columns != c.column_names:
        missing = [n for n in c.column_names if n not in df.columns]
        extra = [n for n in df.columns if n not in c.column_names]
        raise SchemaViolation(
            f"{table}: columns differ from the contract (missing {missing}, unexpected {extra}, "
            "or out of order)"
        )
    for col in c.columns:
        actual = df.schema[col.name]
        if actual != col.dtype:
            raise SchemaViolation(f"{table}.{col.name}: type {actual}, contract says {col.dtype}")
        series = df.get_column(col.name)
        if not col.nullable and series.null_count():
            raise SchemaViolation(f"{table}.{col.name}: {series.null_count()} null values")
        if col.values is not None:
            seen = series.drop_nulls().unique()
            bad = seen.filter(~seen.is_in(list(col.values)))
            if len(bad):
                raise SchemaViolation(
                    f"{table}.{col.name}: values {bad.to_list()[:5]} outside {list(col.values)}"
                )
    if c.primary_key and df.height:
        dupes = _key_duplicates(df, list(c.primary_key))
        if dupes:
            raise SchemaViolation(
                f"{table}: {dupes} rows share a primary key {list(c.primary_key)}"
            )
    return df


def _key_duplicates(df: pl.DataFrame, key: list[str]) -> int:
    """Rows that share a value of ``key`` with another row: compared whole only among the rows
    whose key hashes collide, as the exact check of every row of 1M links took 340 MB for its
    hash table of the keys (the hashes' own: 140 MB)."""
    collide = df.select(pl.struct(key).hash()).to_series().is_duplicated()
    return int(df.filter(collide).select(key).is_duplicated().sum())


def _new_temporary(target: Path) -> Path:
    """An exclusive new file beside ``target``, mode 0666 less the umask (mkstemp would give
    0600, unreadable to the group); its name carries the writer's pid for the clean-up."""
    while True:
        tmp = target.parent / f".{target.name}.{os.getpid()}.{next(_COUNTER)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _replace_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``target``, fsync it, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(target)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not stay full of a half-written copy
        raise


def _atomic_write(df: pl.DataFrame, target: Path) -> None:
    _replace_atomically(
        target, lambda tmp: df.write_parquet(tmp, compression="zstd", statistics=True)
    )


def write_text_atomic(target: Path, text: str) -> None:
    """A text output beside the tables (a skin dose map, a report), replaced as atomically."""
    _replace_atomically(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_file_atomic(target: Path, write: Callable[[Path], object]) -> None:
    """A file another program writes (a PDF Chromium prints): ``write`` gets the temporary path,
    which is renamed over ``target`` once written and synced."""
    _replace_atomically(target, write)


def fsync_folder(folder: Path) -> None:
    """Make a rename or link inside ``folder`` durable (the folder entry itself is synced)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a temporary or profile folder named with it is still in use."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_leftover_temporaries(folder: Path) -> list[Path]:
    """Temporary files under ``folder`` whose writer is gone (killed mid-write, or a name from
    before the pid was part of it), removed; ``_state`` cleans its own (see staging)."""
    removed: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "_state"]
        for name in filenames:
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            m = _TMP.match(name)
            if m and (int(m.group(1)) == os.getpid() or process_alive(int(m.group(1)))):
                continue  # being written now
            path = Path(dirpath) / name
            path.unlink(missing_ok=True)
            removed.append(path)
    return sorted(removed)


def _read_parquet(target: Path, where: pl.Expr | None) -> pl.DataFrame:
    """The file, or only its rows matching ``where`` (a scan: row groups are skipped by their
    statistics)."""
    if where is None:
        return pl.read_parquet(target)
    return pl.scan_parquet(target).filter(where).collect()


@dataclass(frozen=True)
class WriteInfo:
    table: str
    path: Path
    rows: int


class TableStore:
    """Output tables under one root folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def remove_leftovers(self) -> list[Path]:
        """Remove temporary files of writes that were killed (see the module docstring)."""
        return remove_leftover_temporaries(self.root)

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def path(self, table: str, month: str | None = None) -> Path:
        c = contract(table)
        if c.partitioned_by_month:
            if month is None or not _MONTH.match(month):
                raise ValueError(f"{table} is monthly: give month as YYYY-MM, not {month!r}")
            return self.table_dir(table) / f"month={month}" / PART_FILE
        if month is not None:
            raise ValueError(f"{table} is not partitioned by month")
        return self.table_dir(table) / PART_FILE

    def write(self, table: str, df: pl.DataFrame, month: str | None = None) -> WriteInfo:
        """Validate and atomically replace the table (or one month of a monthly table)."""
        c = contract(table)
        validate(table, df)
        target = self.path(table, month)
        if c.partitioned_by_month:
            wrong = df.filter(pl.col("month") != month).height
            if wrong:
                raise SchemaViolation(f"{table}: {wrong} rows do not belong to month {month}")
            df = df.drop("month")  # the partition folder carries it
        _atomic_write(df, target)
        return WriteInfo(table, target, df.height)

    def write_batches(self, table: str, batches: Iterable[pl.DataFrame]) -> WriteInfo:
        """Validate and atomically replace a table that arrives in batches, each written as it
        comes (a table too large to hold whole). Each batch is validated; the batches must not
        share a value of the first primary key column and come in its order (checked), so that
        each batch's key check covers the whole table."""
        c = contract(table)
        if c.partitioned_by_month:
            raise ValueError(f"{table} is monthly: write it a month at a time")
        target = self.path(table)
        rows = 0

        def write(tmp: Path) -> None:
            nonlocal rows
            writer: pq.ParquetWriter | None = None
            last: Any = None  # the first key column's largest value so far
            try:
                for df in batches:
                    validate(table, df)
                    if c.primary_key and df.height:
                        first = df.get_column(c.primary_key[0])
                        smallest: Any = first.min()
                        if last is not None and smallest <= last:
                            raise SchemaViolation(
                                f"{table}: batches overlap or are out of order in "
                                f"{c.primary_key[0]}"
                            )
                        last = first.max()
                    arrow = df.to_arrow()
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, arrow.schema, compression="zstd")
                    writer.write_table(arrow)
                    rows += df.height
                if writer is None:  # no batch: an empty table
                    c.empty().write_parquet(tmp, compression="zstd", statistics=True)
            finally:
                if writer is not None:
                    writer.close()

        _replace_atomically(target, write)
        return WriteInfo(table, target, rows)

    def read(
        self,
        table: str,
        month: str | None = None,
        where: pl.Expr | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """The table (or one month) in contract shape; empty with its schema if never written.

        ``where`` (on the file's columns, not ``month``) keeps only matching rows while scanning,
        so a lookup of one study or patient does not load a whole archive's table. ``columns``:
        only those, in that order (the others are never decoded).
        """
        c = contract(table)
        if columns is not None:
            lf = self.scan(table) if month is None else self.scan(table).filter(month=month)
            lf = lf if where is None else lf.filter(where)
            return lf.select(columns).collect()
        if c.partitioned_by_month:
            months = [month] if month is not None else self.months(table)
            frames = [f for m in months if (f := self._read_month(c, m, where)) is not None]
            return pl.concat(frames) if frames else c.empty()
        target = self.path(table)
        if not target.exists():
            return c.empty()
        return _read_parquet(target, where).select(c.column_names).cast(c.schema)

    def scan(self, table: str) -> pl.LazyFrame:
        """The whole table, lazily, in contract shape (a monthly one with its ``month`` column):
        what a reader selects and filters reaches the Parquet reader, which decodes only those
        columns and skips row groups whose statistics exclude the filter."""
        c = contract(table)
        if c.partitioned_by_month:
            months = self.months(table)
            if not months:
                return c.empty().lazy()
            frames = [
                pl.scan_parquet(self.path(table, m)).with_columns(pl.lit(m).alias("month"))
                for m in months
            ]
            return pl.concat(frames).select(c.column_names).cast(c.schema)
        target = self.path(table)
        if not target.exists():
            return c.empty().lazy()
        return pl.scan_parquet(target).select(c.column_names).cast(c.schema)

    def rows(self, table: str) -> int:
        """The table's row count, from the Parquet footers: no column is decoded."""
        return int(self.scan(table).select(pl.len()).collect().item())

    def _read_month(
        self, c: Contract, month: str, where: pl.Expr | None = None
    ) -> pl.DataFrame | None:
        target = self.path(c.name, month)
        if not target.exists():
            return None
        df = _read_parquet(target, where).with_columns(pl.lit(month).alias("month"))
        return df.select(c.column_names).cast(c.schema)

    def months(self, table: str) -> list[str]:
        """Months written for a monthly table, sorted."""
        found = []
        for d in self.table_dir(table).glob("month=*"):
            month = d.name.removeprefix("month=")
            if _MONTH.match(month) and (d / PART_FILE).exists():
                found.append(month)
        return sorted(found)
