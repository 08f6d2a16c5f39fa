"""Monthly dose distributions per room and procedure (of studies) and per protocol (of events).

Each quantity gets count-robust summaries: mean, median (the typical value), 75th percentile (the
conventional local DRL candidate), 95th percentile and maximum. Percentiles interpolate linearly
between order statistics (numpy's default), so a reviewer can recompute them in a spreadsheet.
Nulls (a value not sent, or sent in an unknown unit) are left out of the statistics, and counted.
Studies without a dose report enter with the dose their image headers give (image_dose.py) and are
counted as estimates (``estimated_study_count``, ``estimated_event_count``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from xrf_assets.core.audit.image_dose import image_runs
from xrf_assets.core.audit.months import conform
from xrf_assets.core.audit.study_dose import GY_M2_TO_GY_CM2, IMAGE_HEADERS

UNKNOWN_ROOM = "(unknown)"
UNMAPPED_PROCEDURE = "(unmapped)"
PROTOCOL_NOT_SENT = "(not sent)"


@dataclass(frozen=True)
class Quantity:
    """One summarised quantity: column name prefix, unit suffix, and its input expression."""

    prefix: str
    unit: str
    source: pl.Expr


# (statistic suffix, aggregation); the 75th percentile is named as the local DRL candidate.
_STATISTICS: tuple[tuple[str, str], ...] = (
    ("mean", "mean"),
    ("median", "median"),
    ("p75_drl_candidate", "p75"),
    ("p95", "p95"),
    ("max", "max"),
)
_AGGREGATIONS = {
    "mean": lambda e: e.mean(),
    "median": lambda e: e.median(),
    "p75": lambda e: e.quantile(0.75, interpolation="linear"),
    "p95": lambda e: e.quantile(0.95, interpolation="linear"),
    "max": lambda e: e.max(),
}

STUDY_QUANTITIES = (
    Quantity("dap", "gy_cm2", pl.col("dap_total_gy_cm2")),
    Quantity("dose_rp", "gy", pl.col("dose_rp_total_gy")),
    Quantity("fluoro_time", "s", pl.col("fluoro_time_s")),
)
EVENT_QUANTITIES = (
    Quantity("dap", "gy_cm2", pl.col("dap_gy_m2") * GY_M2_TO_GY_CM2),
    Quantity("dose_rp", "gy", pl.col("dose_rp_gy")),
    Quantity("irradiation_duration", "s", pl.col("irradiation_duration_s")),
)


def _summaries(quantities: tuple[Quantity, ...]) -> list[pl.Expr]:
    exprs = []
    for q in quantities:
        exprs.append(q.source.null_count().alias(f"{q.prefix}_missing_count"))
        exprs.extend(
            _AGGREGATIONS[agg](q.source).alias(f"{q.prefix}_{stat}_{q.unit}")
            for stat, agg in _STATISTICS
        )
    return exprs


_ESTIMATED_STUDIES = (pl.col("dose_source") == IMAGE_HEADERS).sum().alias("estimated_study_count")


def dose_by_room(study_dose: pl.DataFrame, month: str) -> pl.DataFrame:
    """``dose_by_room_month``: the month's studies per room and kind (fluoroscopy/radiography)."""
    out = (
        study_dose.with_columns(pl.col("room_id").fill_null(UNKNOWN_ROOM))
        .group_by("room_id", "modality")
        .agg(
            pl.len().alias("study_count"),
            pl.col("patient_id").n_unique().alias("patient_count"),
            _ESTIMATED_STUDIES,
            *_summaries(STUDY_QUANTITIES),
        )
        .with_columns(month=pl.lit(month))
        .sort("room_id", "modality", nulls_last=True)
    )
    return conform("dose_by_room_month", out)


def dose_by_procedure(study_dose: pl.DataFrame, month: str) -> pl.DataFrame:
    """``dose_by_procedure_month``: the month's studies per standard procedure."""
    out = (
        study_dose.with_columns(pl.col("procedure").fill_null(UNMAPPED_PROCEDURE))
        .group_by("procedure")
        .agg(pl.len().alias("study_count"), _ESTIMATED_STUDIES, *_summaries(STUDY_QUANTITIES))
        .with_columns(month=pl.lit(month))
        .sort("procedure")
    )
    return conform("dose_by_procedure_month", out)


def dose_by_protocol(
    events: pl.DataFrame, images: pl.DataFrame, study_dose: pl.DataFrame, month: str
) -> pl.DataFrame:
    """``dose_by_protocol_month``: events of the month's studies per room and Acquisition Protocol.

    Per room, because a protocol name is a setting of one device: the same name on two systems is
    two different distributions. Studies without a dose report add their image runs (each
    irradiation once, protocol from (0018,9423) else (0018,1030)), counted as estimated events.
    """
    estimated = study_dose.filter(pl.col("dose_source") == IMAGE_HEADERS)
    runs = image_runs(
        images.join(estimated.select("study_instance_uid"), on="study_instance_uid", how="semi")
    ).with_columns(estimated=pl.lit(True))
    reported = events.join(
        study_dose.select("study_instance_uid"), on="study_instance_uid", how="semi"
    ).with_columns(estimated=pl.lit(False))
    columns = [
        "study_instance_uid",
        "room_id",
        "acquisition_protocol",
        "dap_gy_m2",
        "dose_rp_gy",
        "irradiation_duration_s",
        "estimated",
    ]
    out = (
        pl.concat([reported, runs], how="diagonal_relaxed")
        .select(columns)
        .with_columns(
            pl.col("room_id").fill_null(UNKNOWN_ROOM),
            pl.col("acquisition_protocol").fill_null(PROTOCOL_NOT_SENT),
        )
        .group_by("room_id", "acquisition_protocol")
        .agg(
            pl.len().alias("event_count"),
            pl.col("estimated").sum().alias("estimated_event_count"),
            pl.col("study_instance_uid").n_unique().alias("study_count"),
            *_summaries(EVENT_QUANTITIES),
        )
        .with_columns(month=pl.lit(month))
        .sort("room_id", "acquisition_protocol")
    )
    return conform("dose_by_protocol_month", out)
