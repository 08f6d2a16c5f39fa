"""Skin dose family: peak skin dose and skin dose maps per study, one month partition per run.

Reads the ingest's irradiation events (and study_dose for procedures); the geometry conventions
file and the PSD alert level are run config, so a site can set its own.
"""

import os
from pathlib import Path

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from schemas import contract
from xrf_assets.assets.metadata import markdown_table, table_metadata
from xrf_assets.assets.partitions import monthly_partitions
from xrf_assets.core.skin.audit import PSD_ALERT_GY, psd_alerts, psd_by_room_and_procedure
from xrf_assets.core.skin.geometry import Conventions
from xrf_assets.core.skin.study import build_skin_dose
from xrf_assets.core.skin.svg import render
from xrf_assets.resources import XrfSettings


class SkinDoseConfig(Config):
    psd_alert_gy: float = PSD_ALERT_GY
    geometry_file: str | None = None  # default: xrf_assets/defaults/skin_geometry.yaml


def _write_text(target: Path, text: str) -> None:
    """Write then rename, like the table store."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


@asset(
    group_name="audit",
    deps=["irradiation_events"],
    partitions_def=monthly_partitions,
    description=contract("skin_dose").description,
    kinds={"parquet", "svg"},
)
def skin_dose(
    context: AssetExecutionContext, settings: XrfSettings, config: SkinDoseConfig
) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    conventions = Conventions.load(Path(config.geometry_file) if config.geometry_file else None)
    df, maps = build_skin_dose(store.read("irradiation_events"), month, conventions)
    for skin_map, path in zip(maps, df.get_column("map_file").drop_nulls(), strict=True):
        _write_text(store.root / path, render(skin_map, config.psd_alert_gy))
    info = store.write("skin_dose", df, month=month)
    alerts = psd_alerts(df, month, config.psd_alert_gy)
    top = df.sort("peak_skin_dose_gy", descending=True, nulls_last=True).select(
        "room_id",
        "acquisition_plane",
        "peak_skin_dose_gy",
        "dose_rp_total_gy",
        "map_file",
        "reason",
    )
    return MaterializeResult(
        metadata=table_metadata(
            info,
            studies_with_psd=int(df.get_column("peak_skin_dose_gy").count()),
            studies_at_or_over_psd_alert=alerts.height,
            psd_alert_gy=config.psd_alert_gy,
            skin_dose_maps=MetadataValue.path(str(store.root / f"skin_dose_maps/month={month}")),
        )
        | {"summary": MetadataValue.md(f"**Peak skin dose, {month}**\n\n{markdown_table(top)}")}
    )


@asset(
    group_name="audit",
    deps=[skin_dose, "study_dose"],
    partitions_def=monthly_partitions,
    description=contract("skin_dose_by_room_month").description,
    kinds={"parquet"},
)
def skin_dose_by_room_month(
    context: AssetExecutionContext, settings: XrfSettings, config: SkinDoseConfig
) -> MaterializeResult:
    store, month = settings.store(), context.partition_key
    df = psd_by_room_and_procedure(
        store.read("skin_dose", month=month),
        store.read("study_dose", month=month),
        month,
        config.psd_alert_gy,
    )
    info = store.write("skin_dose_by_room_month", df, month=month)
    return MaterializeResult(
        metadata=table_metadata(info)
        | {"summary": MetadataValue.md(markdown_table(df.drop("month")))}
    )


assets = [skin_dose, skin_dose_by_room_month]
