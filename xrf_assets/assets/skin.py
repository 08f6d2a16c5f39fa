"""Skin dose family: peak skin dose and skin dose maps per study, one month partition per run.

Reads the ingest's irradiation events (and study_dose for procedures). The geometry conventions
file and the PSD alert level are settings (``skin_geometry_file``, ``alert_peak_skin_dose_gy``):
the same for every run whichever way it starts, and the level is the one ``dose_alerts`` applies.
"""

from pathlib import Path

from dagster import MaterializeResult, MetadataValue

from xrf_assets.assets.tables import MonthTables, monthly_asset
from xrf_assets.core.audit.alerts import psd_alerts
from xrf_assets.core.skin.audit import psd_by_room_and_procedure
from xrf_assets.core.skin.study import build_skin_dose
from xrf_assets.core.skin.svg import write_maps
from xrf_assets.resources import XrfSettings


@monthly_asset("skin_dose", reads=["irradiation_events"])
def skin_dose(tables: MonthTables, settings: XrfSettings) -> MaterializeResult:
    month, level = tables.month, settings.alert_thresholds().peak_skin_dose_gy
    df, maps = build_skin_dose(tables.read("irradiation_events"), month, settings.skin_geometry())
    write_maps(tables.store.root, maps, df.get_column("map_file").drop_nulls().to_list(), level)
    top = df.sort("peak_skin_dose_gy", descending=True, nulls_last=True).select(
        "room_id",
        "acquisition_plane",
        "peak_skin_dose_gy",
        "dose_rp_total_gy",
        "map_file",
        "reason",
    )
    maps_dir = Path(tables.store.root) / f"skin_dose_maps/month={month}"
    return tables.publish(
        df,
        f"Peak skin dose, {month}",
        top,
        studies_with_psd=int(df.get_column("peak_skin_dose_gy").count()),
        studies_at_or_over_psd_alert=psd_alerts(df, month, level).height,
        psd_alert_gy=level,
        skin_dose_maps=MetadataValue.path(str(maps_dir)),
    )


@monthly_asset("skin_dose_by_room_month", reads=["skin_dose", "study_dose"])
def skin_dose_by_room_month(tables: MonthTables, settings: XrfSettings) -> MaterializeResult:
    df = psd_by_room_and_procedure(
        tables.read("skin_dose"),
        tables.read("study_dose"),
        tables.month,
        settings.alert_thresholds().peak_skin_dose_gy,
    )
    return tables.publish(df, f"Peak skin dose per room, {tables.month}", df.drop("month"))


assets = [skin_dose, skin_dose_by_room_month]
