"""Asset metadata from the table contracts, so the UI shows each table's columns and units."""

from __future__ import annotations

from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from schemas import contract
from xrf_assets.core.store import WriteInfo


def column_schema(table: str) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=c.type,
                description=f"{c.description} [{c.unit}]" if c.unit else c.description,
            )
            for c in contract(table).columns
        ]
    )


def table_metadata(info: WriteInfo, **extra: Any) -> dict[str, Any]:
    """Row count, path and column schema of one written table, plus asset-specific figures."""
    return {
        "dagster/row_count": info.rows,
        "dagster/column_schema": column_schema(info.table),
        "path": MetadataValue.path(str(info.path)),
        **extra,
    }
