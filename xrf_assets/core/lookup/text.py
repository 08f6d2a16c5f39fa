"""Plain aligned text and JSON for the lookups: what a terminal shows and what a script reads.

Numbers are shown to a fixed precision per unit (DAP in Gy.m2 to 1e-6, i.e. 0.01 Gy.cm2; Dose
(RP) to 0.1 mGy; times to 0.1 s); ``--json`` carries the published values unrounded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

DECIMALS = {"Gy.m2": 6, "Gy.cm2": 2, "Gy": 4, "s": 1, "min": 1, "kV": 0}
MISSING = "-"


def number(value: float | None, unit: str) -> str:
    """``value`` to the precision of its unit; '-' where the table has no value."""
    if value is None:
        return MISSING
    return f"{value:.{DECIMALS.get(unit, 3)}f}"


def cell(value: Any) -> str:
    """A non-numeric value as text; datetimes to the second, as devices send them."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """Columns padded to their widest cell, numbers (``right``) right-aligned; two spaces apart."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(data: dict[str, Any]) -> str:
    """``data`` as indented JSON, dates and datetimes in ISO 8601 (local time, as published)."""
    return json.dumps(data, default=_plain, indent=2, allow_nan=False)
