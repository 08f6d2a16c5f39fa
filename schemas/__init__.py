"""Table contracts: the single definition of every output table's shape.

Each ``<table>.yaml`` beside this file names the table, its columns, their types and units and a
one-line meaning. Writers validate against these contracts and the BI data dictionary
(``schemas/README.md``, ``xrf-dose schema``) is generated from them, so a column exists in exactly
one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl
import yaml

CONTRACT_DIR = Path(__file__).parent

# Contract type names -> polars dtypes. Times from DICOM are local wall-clock times (naive);
# their UTC offset, where a file gives one, travels in a separate ``*_utc_offset_s`` column.
_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "timestamp_utc": pl.Datetime("us", "UTC"),
    "list[string]": pl.List(pl.String()),
    "list[float64]": pl.List(pl.Float64()),
}


class ContractError(ValueError):
    """A contract file is malformed (a developer error, caught by the tests)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    unit: str | None = None
    nullable: bool = True
    values: tuple[str, ...] | None = None  # closed vocabulary, where the column has one

    @property
    def dtype(self) -> pl.DataType:
        return _DTYPES[self.type]


@dataclass(frozen=True)
class Contract:
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    partitioned_by_month: bool = False
    group: str = "ingest"

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(path: Path) -> Contract:
    # libyaml's loader where PyYAML has it: every process that builds the definitions parses these
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    try:
        columns = tuple(
            Column(
                name=c["name"],
                type=c["type"],
                description=c["description"],
                unit=c.get("unit"),
                nullable=c.get("nullable", True),
                values=tuple(c["values"]) if c.get("values") else None,
            )
            for c in raw["columns"]
        )
        contract = Contract(
            name=raw["name"],
            description=raw["description"],
            columns=columns,
            primary_key=tuple(raw.get("primary_key", ())),
            partitioned_by_month=bool(raw.get("partitioned_by_month", False)),
            group=raw.get("group", "ingest"),
        )
    except KeyError as exc:
        raise ContractError(f"{path.name}: missing key {exc}") from exc
    if contract.name != path.stem:
        raise ContractError(f"{path.name}: name {contract.name!r} differs from the file name")
    names = contract.column_names
    if len(set(names)) != len(names):
        raise ContractError(f"{path.name}: duplicate column names")
    for c in columns:
        if c.type not in _DTYPES:
            raise ContractError(f"{path.name}: column {c.name!r} has unknown type {c.type!r}")
    for key in contract.primary_key:
        if key not in names:
            raise ContractError(f"{path.name}: primary key {key!r} is not a column")
    return contract


@cache
def contracts() -> dict[str, Contract]:
    """All contracts by table name, in file-name order."""
    return {p.stem: _parse(p) for p in sorted(CONTRACT_DIR.glob("*.yaml"))}


def contract(table: str) -> Contract:
    try:
        return contracts()[table]
    except KeyError:
        raise KeyError(f"no contract for table {table!r}; known: {sorted(contracts())}") from None
