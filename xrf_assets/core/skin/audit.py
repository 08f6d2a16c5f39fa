"""What the monthly audit takes from ``skin_dose``: PSD statistics per room and procedure.

The PSD alert rule (default 3 Gy, NCRP 168 and SIR's follow-up trigger for a peak skin dose) is
one of the dose alerts (:func:`xrf_assets.core.audit.alerts.psd_alerts`).
"""

from __future__ import annotations

import polars as pl

from xrf_assets.core.audit.months import conform
from xrf_assets.core.audit.statistics import UNKNOWN_ROOM, UNMAPPED_PROCEDURE

PSD_ALERT_GY = 3.0


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
