"""The one writer: contract validation, atomic replacement, hive layout readable by BI tools."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import contract
from xrf_assets.core.store import (
    SchemaViolation,
    TableStore,
    frame_from_rows,
    remove_leftover_temporaries,
)

_FILLER = {
    pl.String: "x",
    pl.Int64: 0,
    pl.Float64: 0.0,
    pl.Boolean: False,
    pl.Date: date(2026, 1, 1),
}


def _valid_row(table: str, **values: object) -> dict[str, object]:
    """A row that fills the contract's required columns, so tests state only what they test."""
    row = {
        c.name: _FILLER[c.dtype.base_type()]
        for c in contract(table).columns
        if not c.nullable and c.dtype.base_type() in _FILLER
    }
    return row | values


def _links(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return frame_from_rows(
        "event_image_links",
        [{"irradiation_event_uid": e, "sop_instance_uid": s, "link_method": m} for e, s, m in rows],
    )


def test_round_trip_keeps_contract_types(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    df = frame_from_rows(
        "images",
        [
            {
                "sop_instance_uid": "1.2.3",
                "sop_class_uid": "1.2.840.10008.5.1.4.1.1.12.1",
                "source_path": "a/b.dcm",
                "irradiation_event_uids": ["1.9", "1.8"],
                "study_date": date(2026, 10, 3),
                "dap_gy_m2": 1.5e-4,
            }
        ],
    )
    store.write("images", df)
    assert_frame_equal(store.read("images"), df)


def test_unknown_column_is_refused() -> None:
    with pytest.raises(SchemaViolation, match="unknown columns"):
        frame_from_rows("unlinked_images", [{"sop_instance_uid": "1", "reasn": "ambiguous"}])


def test_values_outside_the_vocabulary_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaViolation, match="link_method"):
        TableStore(tmp_path).write("event_image_links", _links(("1", "2", "guess")))


def test_duplicate_primary_key_is_refused(tmp_path: Path) -> None:
    df = _links(("1", "2", "time_window"), ("1", "2", "report_reference"))
    with pytest.raises(SchemaViolation, match="primary key"):
        TableStore(tmp_path).write("event_image_links", df)


def test_key_check_counts_every_row_of_a_shared_key_only(tmp_path: Path) -> None:
    """Whole keys are compared where their hashes collide: keys that share one column's value
    (or hold each other's values) are distinct, and each row of a shared key counts."""
    rows = [(str(e), str(i), "time_window") for e in range(50) for i in range(40)]
    TableStore(tmp_path).write("event_image_links", _links(*rows))
    again = [rows[7], (*rows[7][:2], "report_reference")]
    with pytest.raises(SchemaViolation, match="3 rows share a primary key"):
        TableStore(tmp_path).write("event_image_links", _links(*rows, *again))


def test_null_in_required_column_is_refused(tmp_path: Path) -> None:
    df = frame_from_rows("unlinked_images", [{"sop_instance_uid": "1"}])
    with pytest.raises(SchemaViolation, match="reason"):
        TableStore(tmp_path).write("unlinked_images", df)


def test_failed_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    good = _links(("1", "2", "time_window"))
    store.write("event_image_links", good)
    with pytest.raises(SchemaViolation):
        store.write("event_image_links", _links(("1", "2", "guess")))
    assert_frame_equal(store.read("event_image_links"), good)
    leftovers = [
        p for p in store.table_dir("event_image_links").iterdir() if p.name != "part-0.parquet"
    ]
    assert leftovers == []


def test_a_table_written_in_batches_reads_as_one(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    batches = [
        _links(("1", "2", "time_window"), ("1", "3", "time_window")),
        _links(("2", "1", "time_window")),
    ]
    info = store.write_batches("event_image_links", iter(batches))
    assert info.rows == 3
    assert_frame_equal(store.read("event_image_links"), pl.concat(batches))
    assert store.rows("event_image_links") == 3  # from the footers of the batches' row groups
    store.write_batches("event_image_links", iter([]))
    assert_frame_equal(store.read("event_image_links"), contract("event_image_links").empty())


def test_batches_that_could_share_a_primary_key_are_refused(tmp_path: Path) -> None:
    """Each batch's key check covers the table only if no value of the first key column is in two
    batches: overlapping batches are refused, and the previous file stays."""
    store = TableStore(tmp_path)
    good = _links(("1", "2", "time_window"))
    store.write("event_image_links", good)
    overlapping = [_links(("1", "2", "time_window")), _links(("1", "3", "time_window"))]
    with pytest.raises(SchemaViolation, match="overlap"):
        store.write_batches("event_image_links", iter(overlapping))
    with pytest.raises(SchemaViolation, match="link_method"):
        store.write_batches("event_image_links", iter([_links(("2", "2", "guess"))]))
    assert_frame_equal(store.read("event_image_links"), good)
    assert [p.name for p in store.table_dir("event_image_links").iterdir()] == ["part-0.parquet"]


def test_write_replaces_by_rename(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    store.write("event_image_links", _links(("1", "2", "time_window")))
    inode = os.stat(store.path("event_image_links")).st_ino
    store.write("event_image_links", _links(("3", "4", "image_event_uid")))
    assert os.stat(store.path("event_image_links")).st_ino != inode
    assert store.read("event_image_links")["irradiation_event_uid"].to_list() == ["3"]


def test_monthly_table_is_hive_partitioned_and_readable_whole(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    for month, uid, dap in [("2026-09", "1.1", 0.01), ("2026-10", "1.2", 0.02)]:
        row = _valid_row("study_dose", month=month, study_instance_uid=uid, dap_total_gy_m2=dap)
        df = frame_from_rows("study_dose", [row])
        store.write("study_dose", df, month=month)
    assert (tmp_path / "study_dose" / "month=2026-10" / "part-0.parquet").exists()
    assert store.months("study_dose") == ["2026-09", "2026-10"]
    assert store.rows("study_dose") == 2

    pattern = f"{tmp_path}/study_dose/**/*.parquet"
    by_polars = pl.scan_parquet(pattern, hive_partitioning=True).collect().sort("month")
    assert by_polars.select("month", "dap_total_gy_m2").rows() == [
        ("2026-09", 0.01),
        ("2026-10", 0.02),
    ]
    by_duckdb = duckdb.sql(
        "select month, sum(dap_total_gy_m2) "
        f"from read_parquet('{pattern}', hive_partitioning = true) group by month order by month"
    ).fetchall()
    assert by_duckdb == [("2026-09", 0.01), ("2026-10", 0.02)]


def test_rows_of_another_month_are_refused(tmp_path: Path) -> None:
    df = frame_from_rows("study_dose", [_valid_row("study_dose", month="2026-09")])
    with pytest.raises(SchemaViolation, match="month 2026-10"):
        TableStore(tmp_path).write("study_dose", df, month="2026-10")


def test_never_written_table_reads_empty_with_its_schema(tmp_path: Path) -> None:
    df = TableStore(tmp_path).read("irradiation_events")
    assert df.height == 0 == TableStore(tmp_path).rows("irradiation_events")
    assert df.schema["dap_gy_m2"] == pl.Float64


def test_leftover_temporaries_of_live_writers_stay(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    mine = tmp_path / "t" / f".part-0.parquet.{os.getpid()}.3.tmp"  # being written now
    parent = tmp_path / "t" / f".part-0.parquet.{os.getppid()}.0.tmp"  # a live process
    legacy = tmp_path / "t" / ".part-0.parquet.k2j4h1.tmp"  # mkstemp name, from before
    state = tmp_path / "_state" / ".manifest.json.tmp"  # the staging cleans its own
    state.parent.mkdir()
    for p in (mine, parent, legacy, state):
        p.write_bytes(b"x")
    assert remove_leftover_temporaries(tmp_path) == [legacy]
    assert mine.exists() and parent.exists() and state.exists()
