"""BI tools read the monthly tables whole from their hive-partitioned folders (polars, DuckDB)."""

from pathlib import Path

import duckdb
import polars as pl
import pytest
from builders.audit_tables import known_events, known_images, known_links, known_studies
from polars.testing import assert_frame_equal

from schemas import contract
from xrf_assets.core.audit.alerts import AlertThresholds, build_dose_alerts
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.statistics import dose_by_room
from xrf_assets.core.audit.study_dose import build_study_dose
from xrf_assets.core.store import TableStore

MONTHS = ["2026-09", "2026-10"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> TableStore:
    store = TableStore(tmp_path_factory.mktemp("bi") / "out")
    events, totals = known_events(), known_studies()
    for month in MONTHS:
        studies = build_study_dose(
            totals, events, known_images(), known_links(), month, ProcedureMap.from_yaml()
        )
        store.write("study_dose", studies, month=month)
        store.write("dose_by_room_month", dose_by_room(studies, month), month=month)
        store.write("dose_alerts", build_dose_alerts(totals, month, AlertThresholds()), month=month)
    return store


def _glob(store: TableStore, table: str) -> str:
    return str(Path(store.table_dir(table)) / "**" / "*.parquet")


@pytest.mark.parametrize("table", ["study_dose", "dose_by_room_month", "dose_alerts"])
def test_polars_reads_every_month_with_the_contract_schema(store: TableStore, table: str) -> None:
    df = pl.read_parquet(_glob(store, table), hive_partitioning=True)
    df = df.select(contract(table).column_names)
    assert df.schema == contract(table).schema  # month comes back as the YYYY-MM string
    assert_frame_equal(df, store.read(table), check_row_order=False)


def test_duckdb_reads_months_and_columns(store: TableStore) -> None:
    con = duckdb.connect()
    rows = con.execute(
        "SELECT month, count(*), round(sum(dap_total_gy_cm2), 6) FROM read_parquet(?, "
        "hive_partitioning = true) GROUP BY month ORDER BY month",
        [_glob(store, "study_dose")],
    ).fetchall()
    # October: S12 (one image, no DAP) is a study too; S5 counts its device's 60 Gy.cm2
    assert rows == [("2026-09", 1, 200.0), ("2026-10", 10, 979.1)]
    types = dict(
        con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?, "
            "hive_partitioning = true))",
            [_glob(store, "dose_alerts")],
        ).fetchall()
    )
    assert types["month"] == "VARCHAR"
    assert types["window_study_uids"] == "VARCHAR[]"
    assert types["study_date"] == "DATE"
    alerts = con.execute(
        "SELECT rule, patient_id FROM read_parquet(?, hive_partitioning = true) "
        "WHERE month = '2026-10' AND scope = 'patient' ORDER BY rule, patient_id",
        [_glob(store, "dose_alerts")],
    ).fetchall()
    assert alerts == [
        ("patient_window_dap_gy_cm2", "P3"),
        ("patient_window_dose_rp_gy", "P3"),
        ("patient_window_dose_rp_gy", "P6"),
        ("patient_window_fluoro_time_min", "P4"),
    ]
