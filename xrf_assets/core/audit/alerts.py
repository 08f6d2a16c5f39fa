"""High-dose alerts: studies, and patients over a rolling window, at or above follow-up thresholds.

Defaults follow NCRP Report 168's substantial radiation dose levels: reference air kerma (Dose (RP),
113738) 5 Gy, KAP (DAP, 122130) 500 Gy.cm2, fluoroscopy time 60 min. Skin dose adds up over
procedures weeks apart, so the same thresholds apply to a patient's studies summed over a rolling
window of calendar months ending with the audited month (earlier months' events are read too).
A patient is alerted in a month only if they have a study in it, so one crossing is alerted once
per new exposure rather than every month after. Studies without a Patient ID get study alerts only.

Each rule reads one study figure of ``study_dose`` (study_dose.py: the device's own total where
sent, never an event value flagged implausible) and names its source; figures estimated from image
headers (studies without a dose report) alert too, marked ``estimate``. A rule is one line of
``RULES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas import contract
from xrf_assets.core.audit.months import conform, month_end, month_start, month_window
from xrf_assets.core.audit.study_dose import IMAGE_HEADERS


@dataclass(frozen=True)
class AlertThresholds:
    dose_rp_gy: float = 5.0
    dap_gy_cm2: float = 500.0
    fluoro_time_min: float = 60.0
    peak_skin_dose_gy: float = 3.0  # NCRP 168 / SIR follow-up trigger
    window_months: int = 6


@dataclass(frozen=True)
class Rule:
    quantity: str  # AlertThresholds field holding the threshold
    unit: str
    value: pl.Expr  # the study figure in the rule's unit
    source: str  # study_dose column naming where the figure came from


RULES: dict[str, Rule] = {
    "dose_rp_gy": Rule("dose_rp_gy", "Gy", pl.col("dose_rp_total_gy"), "dose_rp_source"),
    "dap_gy_cm2": Rule("dap_gy_cm2", "Gy.cm2", pl.col("dap_total_gy_cm2"), "dap_source"),
    "fluoro_time_min": Rule(
        "fluoro_time_min", "min", pl.col("fluoro_time_s") / 60.0, "fluoro_time_source"
    ),
}
_ESTIMATE = pl.col("dose_source") == IMAGE_HEADERS


def _study_rows(
    df: pl.DataFrame, rule: str, unit: str, threshold: float, source: pl.Expr, estimate: pl.Expr
) -> pl.DataFrame:
    """``dose_alerts`` rows of the studies of ``df`` whose ``value`` reaches ``threshold``."""
    return df.filter(pl.col("value") >= threshold).select(
        "patient_id",
        "study_instance_uid",
        "room_id",
        "study_date",
        "value",
        scope=pl.lit("study"),
        rule=pl.lit(rule),
        unit=pl.lit(unit),
        threshold=pl.lit(threshold),
        source=source,
        estimate=estimate,
        window_study_uids=pl.concat_list(pl.col("study_instance_uid")),
    )


def _study_alerts(studies: pl.DataFrame, thresholds: AlertThresholds) -> list[pl.DataFrame]:
    return [
        _study_rows(
            studies.with_columns(value=rule.value),
            f"study_{name}",
            rule.unit,
            getattr(thresholds, rule.quantity),
            pl.col(rule.source),
            _ESTIMATE,
        )
        for name, rule in RULES.items()
    ]


def psd_alerts(skin_dose: pl.DataFrame, month: str, threshold_gy: float) -> pl.DataFrame:
    """``dose_alerts`` of the studies whose peak skin dose (their highest plane row of the month's
    ``skin_dose``) reaches the threshold; a skin dose is computed, never an image estimate."""
    studies = skin_dose.group_by("study_instance_uid").agg(
        pl.col("patient_id", "room_id", "study_date").first(),
        value=pl.col("peak_skin_dose_gy").max(),
    )
    rows = _study_rows(
        studies.drop_nulls("value"),
        "study_peak_skin_dose_gy",
        "Gy",
        threshold_gy,
        pl.lit("skin_dose"),
        pl.lit(False),
    )
    empty = pl.DataFrame(schema=contract("dose_alerts").schema)
    rows = pl.concat([empty, rows.with_columns(month=pl.lit(month))], how="diagonal_relaxed")
    return conform("dose_alerts", rows)


def _patient_alerts(
    window: pl.DataFrame, month: str, thresholds: AlertThresholds
) -> list[pl.DataFrame]:
    exposed = window.filter(pl.col("month") == month).select("patient_id").unique()
    per_patient = (
        window.filter(pl.col("patient_id").is_not_null())
        .join(exposed, on="patient_id", how="semi")
        .sort("study_date", "study_instance_uid")
    )
    start = month_start(month_window(month, thresholds.window_months)[0])
    out = []
    for name, rule in RULES.items():
        threshold = getattr(thresholds, rule.quantity)
        out.append(
            per_patient.group_by("patient_id")
            .agg(
                value=rule.value.sum(),
                source=pl.col(rule.source).drop_nulls().unique().sort().str.join(", "),
                estimate=_ESTIMATE.any(),
                study_date=pl.col("study_date").max(),
                window_study_count=pl.len(),
                window_study_uids=pl.col("study_instance_uid"),
            )
            .filter(pl.col("value") >= threshold)
            .with_columns(
                scope=pl.lit("patient"),
                rule=pl.lit(f"patient_window_{name}"),
                unit=pl.lit(rule.unit),
                threshold=pl.lit(threshold),
                window_start_date=pl.lit(start),
                window_end_date=pl.lit(month_end(month)),
            )
        )
    return out


def build_dose_alerts(
    studies: pl.DataFrame,
    month: str,
    thresholds: AlertThresholds,
    skin_dose: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``dose_alerts`` of ``month``: one row per study or patient and rule at or over its threshold.

    ``studies`` are :func:`~xrf_assets.core.audit.study_dose.study_totals` rows of at least the
    window's months (all months are fine); ``skin_dose``, the month's ``skin_dose`` rows, adds the
    peak skin dose rule (the tissue-reaction follow-up trigger, ``peak_skin_dose_gy``).
    """
    window = studies.filter(pl.col("month").is_in(month_window(month, thresholds.window_months)))
    frames = [
        *_study_alerts(window.filter(pl.col("month") == month), thresholds),
        *_patient_alerts(window, month, thresholds),
    ]
    if skin_dose is not None:
        frames.append(psd_alerts(skin_dose, month, thresholds.peak_skin_dose_gy))
    out = (
        pl.concat(frames, how="diagonal_relaxed")
        .with_columns(month=pl.lit(month))
        .sort(
            "scope",
            "rule",
            "value",
            "patient_id",
            "study_instance_uid",
            descending=[True, False, True, False, False],
            nulls_last=True,
        )
    )
    return conform("dose_alerts", out)
