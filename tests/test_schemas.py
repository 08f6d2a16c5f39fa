"""The contracts are well formed, units sit in column names, and the data dictionary is current."""

from __future__ import annotations

import pytest

from schemas import contracts
from schemas.dictionary import README, render_markdown

# unit in the contract -> the suffix the column name must end with
UNIT_SUFFIX = {
    "Gy.m2": "_gy_m2",
    "Gy.cm2": "_gy_cm2",
    "Gy": "_gy",
    "mGy": "_mgy",
    "s": "_s",
    "ms": "_ms",
    "min": "_min",
    "mm": "_mm",
    "m": "_m",
    "m2": "_m2",
    "kV": "_kv",
    "mA": "_ma",
    "mA.s": "_mas",
    "uA.s": "_uas",
    "deg": "_deg",
    "/s": "_per_s",
    "kg": "_kg",
    "year": "_years",
    "byte": "_bytes",
}

EXPECTED_TABLES = {
    "dicom_files",
    "images",
    "irradiation_events",
    "accumulated_dose",
    "event_image_refs",
    "event_image_links",
    "unlinked_images",
    "study_dose",
    "dose_by_room_month",
    "dose_by_protocol_month",
    "drl_comparison",
    "dose_alerts",
}


def test_every_table_of_the_product_has_a_contract() -> None:
    assert set(contracts()) >= EXPECTED_TABLES


@pytest.mark.parametrize("table", sorted(contracts()))
def test_physical_quantities_carry_their_unit_in_the_name(table: str) -> None:
    for col in contracts()[table].columns:
        if col.unit is None or col.unit == "1":
            continue
        assert col.unit in UNIT_SUFFIX, f"{table}.{col.name}: unit {col.unit!r} has no naming rule"
        suffix = UNIT_SUFFIX[col.unit]
        assert col.name.endswith(suffix) or f"{suffix}_" in col.name, (
            f"{table}.{col.name} is in {col.unit} but its name lacks {suffix!r}"
        )


@pytest.mark.parametrize("table", sorted(contracts()))
def test_monthly_tables_have_a_month_column_first(table: str) -> None:
    c = contracts()[table]
    assert ("month" in c.column_names) == c.partitioned_by_month
    if c.partitioned_by_month:
        assert c.column_names[0] == "month"
        assert not c.column("month").nullable


def test_data_dictionary_is_generated_from_the_contracts() -> None:
    assert README.read_text(encoding="utf-8") == render_markdown(), (
        "schemas/README.md is stale: run `xrf-dose schema --write`"
    )
