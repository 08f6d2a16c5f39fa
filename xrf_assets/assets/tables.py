"""Table assets as their contracts declare them, and the one way a monthly asset reads and writes.

A table's asset group, partitioning and description come from its contract (schemas/<table>.yaml:
``group``, ``partitioned_by_month``, ``description``), not from asset code. A monthly asset names
the tables it reads once (``monthly_asset(reads=...)``): they are its Dagster deps and the only
tables :class:`MonthTables` gives it, so the graph cannot drift from what the code reads.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
)

from schemas import contract
from xrf_assets.assets.metadata import markdown_table, table_metadata
from xrf_assets.assets.partitions import monthly_partitions
from xrf_assets.core.store import TableStore
from xrf_assets.resources import XrfSettings


def contract_spec(table: str) -> dict[str, Any]:
    """Group, partitions, description and kind of a table's asset, from its contract."""
    c = contract(table)
    return {
        "group_name": c.group,
        "partitions_def": monthly_partitions if c.partitioned_by_month else None,
        "description": c.description,
        "kinds": {"parquet"},
    }


def table_spec(table: str, deps: Sequence[str] = ()) -> AssetSpec:
    """The spec of one table written by a multi-asset."""
    return AssetSpec(table, deps=list(deps), **contract_spec(table))


@dataclass(frozen=True)
class MonthTables:
    """One month partition of the asset of ``table``: the tables it reads, and publishing it."""

    table: str
    store: TableStore
    month: str
    reads: frozenset[str]

    def _declared(self, table: str) -> None:
        if table not in self.reads:
            raise KeyError(f"{table} is not among the tables this asset declares it reads")

    def read(self, table: str, where: pl.Expr | None = None) -> pl.DataFrame:
        """The month's partition of a monthly table, else the whole table; ``where``: only the
        rows matching it (filtered while scanning)."""
        self._declared(table)
        monthly = contract(table).partitioned_by_month
        return self.store.read(table, month=self.month if monthly else None, where=where)

    def scan(self, table: str) -> pl.LazyFrame:
        """The whole table, lazily (:meth:`TableStore.scan`): for reads of a few rows or columns."""
        self._declared(table)
        return self.store.scan(table)

    def publish(
        self, df: pl.DataFrame, title: str, summary: pl.DataFrame, **figures: object
    ) -> MaterializeResult:
        """Write the month of the asset's own table and describe it in the UI: table metadata,
        figures, a markdown summary."""
        info = self.store.write(self.table, df, month=self.month)
        markdown = MetadataValue.md(f"**{title}**\n\n{markdown_table(summary)}")
        return MaterializeResult(metadata=table_metadata(info, **figures) | {"summary": markdown})


MonthCompute = Callable[[MonthTables, XrfSettings], Any]


def monthly_asset(
    table: str, reads: Sequence[str], check_specs: Sequence[AssetCheckSpec] = ()
) -> Callable[[MonthCompute], AssetsDefinition]:
    """An asset writing one month of ``table`` from the tables in ``reads`` (its deps).

    The decorated function gets the month's :class:`MonthTables` and the settings, and returns a
    MaterializeResult (or yields check results first, then it).
    """

    def build(compute: MonthCompute) -> AssetsDefinition:
        @asset(name=table, deps=list(reads), check_specs=list(check_specs), **contract_spec(table))
        def materialize_month(
            context: AssetExecutionContext, settings: XrfSettings
        ) -> Iterator[Any]:
            tables = MonthTables(table, settings.store(), context.partition_key, frozenset(reads))
            out = compute(tables, settings)
            yield from (out if isinstance(out, Iterator) else [out])

        return materialize_month

    return build
