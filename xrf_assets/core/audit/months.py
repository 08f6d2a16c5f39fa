"""What the monthly audit modules share: which month a study belongs to, and month windows.

A study belongs to the month of its Study Date (0008,0020); where the report gives none, the date of
its first irradiation event (DateTime Started, 111526). Months are ``YYYY-MM`` strings, the keys of
the ``month=`` folders and of the Dagster partitions.
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from schemas import contract

MONTH_FORMAT = "%Y-%m"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> tuple[int, int]:
    """(year, month) of a ``YYYY-MM`` key; a malformed key is an error, never a guess."""
    m = _MONTH.match(month)
    if m is None:
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    return int(m.group(1)), int(m.group(2))


def shift_month(month: str, delta: int) -> str:
    """The month ``delta`` months after ``month`` (negative: before)."""
    year, mon = parse_month(month)
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_window(month: str, months: int) -> list[str]:
    """The ``months`` calendar months ending with ``month``, oldest first."""
    if months < 1:
        raise ValueError(f"a window needs at least one month, not {months}")
    return [shift_month(month, -back) for back in range(months - 1, -1, -1)]


def month_start(month: str) -> date:
    year, mon = parse_month(month)
    return date(year, mon, 1)


def month_end(month: str) -> date:
    """Last day of ``month``."""
    year, mon = parse_month(shift_month(month, 1))
    return date.fromordinal(date(year, mon, 1).toordinal() - 1)


def sum_or_null(expr: pl.Expr) -> pl.Expr:
    """Sum of the non-null values, null when there are none (polars' sum would give 0)."""
    return pl.when(expr.count() > 0).then(expr.sum())


def month_expr(date_column: str) -> pl.Expr:
    """``YYYY-MM`` of a date column, as the partition key."""
    return pl.col(date_column).dt.strftime(MONTH_FORMAT)


class AuditConfigError(ValueError):
    """A user-editable audit file (procedures, DRLs) is unusable; names the file and entry."""


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` in the contract's column order and types (the store validates what is left)."""
    c = contract(table)
    return df.select(c.column_names).cast(c.schema)
