"""What the Dagster UI shows of a materialization: column schemas from the contracts, run figures
and small markdown tables. The domain core returns plain results; formatting them lives here."""

from __future__ import annotations

from typing import Any

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from schemas import contract
from xrf_assets.core.ingest.run import IngestSummary
from xrf_assets.core.linking.links import METHODS, REASONS, LinkResult
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


def ingest_figures(summary: IngestSummary) -> dict[str, Any]:
    """The run's counts and output paths for the UI (no patient data: counts and paths only)."""
    meta: dict[str, Any] = {
        "input_dir": summary.input_dir,
        "output_dir": summary.output_dir,
        "privacy": summary.privacy,
        "full_rebuild": summary.full_rebuild,
        "files_seen": summary.files_seen,
        "files_read": summary.files_read,
        "files_unchanged": summary.files_unchanged,
    }
    meta |= {f"status_{k}": v for k, v in sorted(summary.by_status.items())}
    meta |= {f"kind_{k}": v for k, v in sorted(summary.by_kind.items())}
    meta |= {f"rows_{t}": w.rows for t, w in summary.written.items()}
    meta |= {f"path_{t}": str(w.path) for t, w in summary.written.items()}
    return meta


def link_figures(result: LinkResult) -> dict[str, Any]:
    """Links by method, unlinked images by reason, conflicts and the clock offsets per room."""
    by_method = result.links.get_column("link_method").value_counts()
    by_reason = result.unlinked.get_column("reason").value_counts()
    meta: dict[str, Any] = {"links": result.links.height, "unlinked_images": result.unlinked.height}
    for name, counted, key in (
        ("links", by_method, "link_method"),
        ("unlinked", by_reason, "reason"),
    ):
        found = dict(zip(counted.get_column(key), counted.get_column("count"), strict=True))
        values = METHODS if name == "links" else REASONS
        meta.update({f"{name}_{v}": int(found.get(v, 0)) for v in values})
    meta["conflicts"] = result.conflicts
    meta.update(result.counts)
    meta["clock_offsets"] = offsets_markdown(result.clock_offsets)
    return meta


def offsets_markdown(offsets: pl.DataFrame) -> str:
    """Per room: days by offset source, the offsets used and their confidence (-log10 chance,
    null for UID pairs), as a markdown table."""
    rows = (
        offsets.group_by("room_id", "source")
        .agg(
            days=pl.len(),
            median_s=pl.col("offset_s").median(),
            min_s=pl.col("offset_s").min(),
            max_s=pl.col("offset_s").max(),
            max_uncertainty_s=pl.col("uncertainty_s").max(),
            min_confidence=pl.col("confidence").min(),
        )
        .sort("room_id", "source")
    )
    lines = [
        "| room | source | days | median offset (s) | range (s) | max uncertainty (s) "
        "| min confidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows.iter_rows(named=True):
        lines.append(
            f"| {r['room_id']} | {r['source']} | {r['days']} | {r['median_s']:.1f} | "
            f"{r['min_s']:.1f} .. {r['max_s']:.1f} | {r['max_uncertainty_s']:.1f} | "
            + ("-" if r["min_confidence"] is None else f"{r['min_confidence']:.1f}")
            + " |"
        )
    return "\n".join(lines)


def _cell(value: object, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value).replace("|", "\\|")


def markdown_table(df: pl.DataFrame, digits: int = 3) -> str:
    """A small frame as a Markdown table for the Dagster UI (floats to ``digits`` digits)."""
    if df.is_empty():
        return "_none_"
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * df.width]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
