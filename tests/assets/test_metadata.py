"""The markdown the Dagster UI shows for the audit's summaries."""

import polars as pl

from xrf_assets.assets.metadata import markdown_table


def test_markdown_table_is_readable() -> None:
    df = pl.DataFrame(
        {
            "room": ["A|1", "B"],
            "dap": [4570.12, 0.000123],
            "n": [3, None],
            "uids": [["1.2", "1.3"], []],
        }
    )
    assert markdown_table(df) == (
        "| room | dap | n | uids |\n|---|---|---|---|\n"
        "| A\\|1 | 4,570 | 3 | 1.2, 1.3 |\n| B | 0.000123 | - |  |"
    )
    assert markdown_table(df.clear()) == "_none_"
