"""Do a report's events add up to the totals it sends (TID 10003 sums vs TID 10002/10004)?

Vendors round each event value and each total separately, so the sums differ from the totals by
up to the rounding step times the number of events: Siemens Artis zee events sum to 2.49 mGy
against a sent 2.52 mGy (1.2 %), Eurocolumbus DAP 8e-6 against 9e-6 Gy.m2 (11 %, four events each
rounded to 1e-6 Gy.m2), and the Siemens Fluorospot sends Dose (RP) totals in steps of 0.1 mGy
(0 mGy for one event of 0.035 mGy). A report is flagged only when the difference exceeds BOTH a
relative tolerance (5 %: far above rounding on real doses, far below the factor 10 or 1000 of a
unit error) and an absolute one a few rounding steps wide (2e-6 Gy.m2 = 0.02 Gy.cm2 of DAP,
5e-5 Gy = 0.05 mGy of Dose (RP)); both are negligible against clinical reference levels (tens of
Gy.cm2, Gy), so a flag means a missing event or a unit error, not rounding.

Times likewise: a plane's Total Fluoro Time (113730) and Total Acquisition Time (113855) against
the Irradiation Duration (113742) of its fluoroscopy and acquisition events, beyond 5 % and 1 s
(totals and start times are sent to the second: 55.0 s sent against 56.3 s summed is rounding; the
Canon Alphenix's 70 s against 6,718 s is not).
"""

from __future__ import annotations

import polars as pl

RELATIVE_TOLERANCE = 0.05
DAP_ABSOLUTE_TOLERANCE_GY_M2 = 2e-6
DOSE_RP_ABSOLUTE_TOLERANCE_GY = 5e-5

TIME_ABSOLUTE_TOLERANCE_S = 1.0
FLUORO = pl.col("event_type") == "fluoroscopy"
ACQUISITION = pl.col("event_type").is_in(("stationary", "stepping", "rotational"))

# name, event column, which events, accumulated_dose column, absolute tolerance
_QUANTITIES: tuple[tuple[str, str, pl.Expr, str, float], ...] = (
    ("dap", "dap_gy_m2", pl.lit(True), "dap_total_gy_m2", DAP_ABSOLUTE_TOLERANCE_GY_M2),
    ("dose_rp", "dose_rp_gy", pl.lit(True), "dose_rp_total_gy", DOSE_RP_ABSOLUTE_TOLERANCE_GY),
)
_TIMES: tuple[tuple[str, str, pl.Expr, str, float], ...] = (
    (
        "fluoro_time",
        "irradiation_duration_s",
        FLUORO,
        "total_fluoro_time_s",
        TIME_ABSOLUTE_TOLERANCE_S,
    ),
    (
        "acquisition_time",
        "irradiation_duration_s",
        ACQUISITION,
        "total_acquisition_time_s",
        TIME_ABSOLUTE_TOLERANCE_S,
    ),
)


def _within(sum_col: str, total_col: str, absolute: float) -> pl.Expr:
    diff = (pl.col(sum_col) - pl.col(total_col)).abs()
    return (diff <= absolute) | (diff <= RELATIVE_TOLERANCE * pl.col(total_col).abs())


def totals_consistency(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    """One row per accumulated_dose row: event sums beside the sent totals, and two flags.

    A plane's totals are compared with the events of that plane; a 'total' row with all the
    report's events. ``*_consistent`` is null where the comparison is impossible (a total not
    sent, or an event value missing); ``flagged`` (DAP, Dose (RP)) and ``times_flagged`` (fluoro
    and acquisition time) are true only for a known inconsistency.
    """
    aggs = [pl.len().alias("n_events")]
    for name, event_col, which, _, _ in (*_QUANTITIES, *_TIMES):
        value = pl.col(event_col).filter(which)
        aggs.append(pl.when(value.null_count() == 0).then(value.sum()).alias(f"{name}_events_sum"))
    by_plane = events.group_by("report_sop_instance_uid", "acquisition_plane").agg(aggs)
    whole = (
        events.group_by("report_sop_instance_uid")
        .agg(aggs)
        .with_columns(acquisition_plane=pl.lit("total"))
    )
    sums = pl.concat([by_plane, whole.select(by_plane.columns)])
    out = accumulated.select(
        "report_sop_instance_uid",
        "acquisition_plane",
        *(total_col for _, _, _, total_col, _ in (*_QUANTITIES, *_TIMES)),
    ).join(sums, on=["report_sop_instance_uid", "acquisition_plane"], how="left")
    out = out.with_columns(
        _within(f"{name}_events_sum", total_col, absolute).alias(f"{name}_consistent")
        for name, _, _, total_col, absolute in (*_QUANTITIES, *_TIMES)
    )
    return out.with_columns(
        flagged=_any_inconsistent(_QUANTITIES), times_flagged=_any_inconsistent(_TIMES)
    )


def _any_inconsistent(quantities: tuple[tuple[str, str, pl.Expr, str, float], ...]) -> pl.Expr:
    return pl.any_horizontal((~pl.col(f"{q[0]}_consistent")).fill_null(False) for q in quantities)
