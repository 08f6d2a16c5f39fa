"""The skin dose assets on the real Azurion report: table, map image, statistics, alert level."""

from pathlib import Path

import polars as pl
import pydicom
import pytest
from builders.corpus import corpus_file
from dagster import DagsterInstance, materialize

from xrf_assets.assets import audit, skin
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.store import TableStore, frame_from_rows
from xrf_assets.resources import XrfSettings

MONTH = "2018-10"  # Study Date of RF-RDSR-Philips_Azurion.dcm


@pytest.fixture
def settings(tmp_path: Path) -> XrfSettings:
    path = corpus_file("RF-RDSR-Philips_Azurion.dcm")
    extract = extract_report(pydicom.dcmread(path, stop_before_pixels=True), path.name)
    store = TableStore(tmp_path / "out")
    events = frame_from_rows("irradiation_events", extract.events)
    store.write("irradiation_events", with_room_ids(events, RoomDirectory()))  # as publish does
    store.write("accumulated_dose", frame_from_rows("accumulated_dose", extract.accumulated))
    for table in ("images", "event_image_links"):
        store.write(table, frame_from_rows(table, []))
    return XrfSettings(
        input_dir=str(tmp_path / "in"),
        output_dir=str(tmp_path / "out"),
        alert_peak_skin_dose_gy=0.3,
    )


def test_skin_dose_month_with_map_statistics_and_configured_alert_level(
    settings: XrfSettings, instance: DagsterInstance
) -> None:
    result = materialize(
        [*audit.assets, *skin.assets],
        partition_key=MONTH,
        resources={"settings": settings},
        instance=instance,
    )
    assert result.success
    store = settings.store()
    table = store.read("skin_dose", MONTH)
    assert table.height == 1
    row = table.row(0, named=True)
    assert 0.2 < row["peak_skin_dose_gy"] < 0.55  # Dose (RP) 0.548 Gy, mostly PA through the table
    image = store.root / row["map_file"]
    assert image.read_text().startswith("<svg") and MONTH in row["map_file"]
    assert row["study_instance_uid"] not in row["map_file"]
    meta = result.asset_materializations_for_node("skin_dose")[0].metadata
    assert meta["studies_with_psd"].value == 1
    assert meta["studies_at_or_over_psd_alert"].value == 1  # 0.35 Gy >= the 0.3 Gy configured
    stats = store.read("skin_dose_by_room_month", MONTH)
    assert stats.select("study_count", "psd_computed_count", "psd_at_or_over_alert_count").row(
        0
    ) == (
        1,
        1,
        1,
    )
    assert stats.item(0, "psd_max_gy") == pytest.approx(row["peak_skin_dose_gy"])
    alerts = store.read("dose_alerts", MONTH).filter(pl.col("rule") == "study_peak_skin_dose_gy")
    assert alerts.select("study_instance_uid", "value", "threshold", "source").row(0) == (
        row["study_instance_uid"],
        pytest.approx(row["peak_skin_dose_gy"]),
        0.3,
        "skin_dose",
    )
