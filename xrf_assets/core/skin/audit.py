"""What the monthly audit takes from ``skin_dose``: PSD alert rows and PSD statistics.

The alert rule (default 3 Gy, NCRP 168 and SIR's follow-up trigger for a peak skin dose) yields
rows in the ``dose_alerts`` contract, for the alerts builder to concatenate with its own.
"""

from __future__ import annotations

import polars as pl

from schemas import contract
from xrf_assets.core.audit.months import conform
from xrf_assets.core.audit.statistics import UNKNOWN_ROOM, UNMAPPED_PROCEDURE

PSD_ALERT_GY = 3.0


def psd_alerts(
    skin_dose: pl.DataFrame, month: str, threshold_gy: float = PSD_ALERT_GY
) -> pl.DataFrame:
    """``dose_alerts`` rows: studies whose peak skin dose (any plane row) reaches the threshold."""
    over = (
        skin_dose.filter(pl.col("peak_skin_dose_gy") >= threshold_gy)
        .group_by("study_instance_uid")
        .agg(
            pl.col("patient_id", "room_id", "study_date").first(),
            value=pl.col("peak_skin_dose_gy").max(),
        )
        .select(
            "patient_id",
            "study_instance_uid",
            "room_id",
            "study_date",
            "value",
            month=pl.lit(month),
            scope=pl.lit("study"),
            rule=pl.lit("study_peak_skin_dose_gy"),
            unit=pl.lit("Gy"),
            threshold=pl.lit(threshold_gy),
            source=pl.lit("skin_dose"),
            estimate=pl.lit(False),
            window_study_uids=pl.concat_list(pl.col("study_instance_uid")),
        )
        .sort("value", "study_instance_uid", descending=[True, False])
    )
    empty = pl.DataFrame(schema=contract("dose_alerts").schema)
    return conform("dose_alerts", pl.concat([empty, over], how="diagonal_relaxed"))


def psd_by_room_and_procedure(
    skin_dose: pl.DataFrame,
    study_dose: pl.DataFrame,
    month: str,
    threshold_gy: float = PSD_ALERT_GY,
) -> pl.DataFrame:
    """``skin_dose_by_room_month``: PSD distribution per room and procedure (study_dose's)."""
    studies = (
        skin_dose.filter(pl.col("acquisition_plane").is_in(["single_plane", "total"]))
        .join(
            study_dose.select("study_instance_uid", "procedure"),
            on="study_instance_uid",
            how="left",
        )
        .with_columns(
            pl.col("room_id").fill_null(UNKNOWN_ROOM),
            pl.col("procedure").fill_null(UNMAPPED_PROCEDURE),
        )
    )
    psd = pl.col("peak_skin_dose_gy")
    out = (
        studies.group_by("room_id", "procedure")
        .agg(
            study_count=pl.len(),
            psd_computed_count=psd.count(),
            psd_median_gy=psd.median(),
            psd_p75_gy=psd.quantile(0.75, interpolation="linear"),
            psd_max_gy=psd.max(),
            psd_at_or_over_alert_count=(psd >= threshold_gy).sum(),
            psd_to_dose_rp_median_ratio=(psd / pl.col("dose_rp_total_gy")).median(),
        )
        .with_columns(month=pl.lit(month))
        .sort("room_id", "procedure")
    )
    return conform("skin_dose_by_room_month", out)
