"""The data dictionary for BI users, generated from the contracts (never edited by hand)."""

from __future__ import annotations

from schemas import CONTRACT_DIR, contracts

README = CONTRACT_DIR / "README.md"

_HEADER = """# Data dictionary

Generated from the contracts in this folder by `xrf-dose schema --write`; do not edit by hand.

Each table is a folder of Parquet files under the output root. Read one whole with
`polars.scan_parquet("<output>/<table>/**/*.parquet", hive_partitioning=True)` or DuckDB's
`read_parquet('<output>/<table>/**/*.parquet', hive_partitioning = true)`. Monthly tables are
partitioned by `month=YYYY-MM` (month of the study date). Physical quantities carry their unit in
the column name; times are the device's local wall-clock time, with the UTC offset in a separate
column where the file gives one.
"""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown() -> str:
    parts = [_HEADER]
    for c in contracts().values():
        layout = "monthly, `month=YYYY-MM`" if c.partitioned_by_month else "one file"
        key = ", ".join(f"`{k}`" for k in c.primary_key) or "none"
        parts.append(
            f"\n## `{c.name}`\n\n{_cell(c.description)}\n\n"
            f"Group: {c.group}. Layout: {layout}. Unique key: {key}.\n\n"
            "| column | type | unit | meaning |\n|---|---|---|---|"
        )
        for col in c.columns:
            meaning = col.description
            if col.values:
                meaning += " Values: " + ", ".join(f"`{v}`" for v in col.values) + "."
            if not col.nullable:
                meaning += " Never null."
            parts.append(f"| `{col.name}` | {col.type} | {col.unit or ''} | {_cell(meaning)} |")
    return "\n".join(parts) + "\n"
