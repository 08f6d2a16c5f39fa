"""Per-study dose totals from the deduplicated irradiation events (TID 10003).

Totals are sums of event values, never of image (0018,115E) values (the event's DAP repeated in each
of its images). The report's own accumulated totals (TID 10002/10004) are kept beside them and a
study is flagged where the two disagree beyond the vendors' per-event rounding.
"""

from __future__ import annotations

import polars as pl

from xrf_assets.core.audit.months import conform, month_expr
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.report_totals import totals_consistency

GY_M2_TO_GY_CM2 = 1e4
ACQUISITION_EVENT_TYPES = ("stationary", "stepping", "rotational")

# A study's date: its (earliest) Study Date (0008,0020), else the date of its first event.
STUDY_DATE = pl.coalesce(
    pl.col("study_date").min(), pl.col("datetime_started").min().dt.date()
).alias("study_date")


def _sum_or_null(expr: pl.Expr) -> pl.Expr:
    """Sum of the non-null values, null when there are none (polars' sum would give 0)."""
    return pl.when(expr.count() > 0).then(expr.sum())


def _time_of(kind: pl.Expr) -> pl.Expr:
    """Summed Irradiation Duration of the events of one kind: 0 without such events, null when
    none of them gives a duration (the report's total is used then)."""
    duration = pl.col("irradiation_duration_s").filter(kind)
    return pl.when(kind.sum() == 0).then(pl.lit(0.0)).otherwise(_sum_or_null(duration))


def _majority(column: str) -> pl.Expr:
    """Most frequent non-null value of the group; ties go to the first in sort order."""
    return pl.col(column).drop_nulls().mode().sort().first()


def report_totals(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    """Per study: the totals its reports send, and whether one disagrees with its events.

    A report's 'total' row is used where it sends one, else its planes are summed; reports with no
    event left (superseded by a re-sent report) do not count. ``totals_mismatch`` is true where
    :func:`~xrf_assets.core.audit.report_totals.totals_consistency` flags a row of one of the
    study's reports (beyond the vendors' rounding), null where no row could be compared.
    """
    acc = accumulated.join(
        events.select("report_sop_instance_uid").unique(), on="report_sop_instance_uid", how="semi"
    )
    keys = ["report_sop_instance_uid", "acquisition_plane"]
    checked = totals_consistency(events, acc).select(
        *keys, "dap_consistent", "dose_rp_consistent", "flagged"
    )
    has_total = (pl.col("acquisition_plane") == "total").any().over("report_sop_instance_uid")
    counted = (pl.col("acquisition_plane") == "total") == pl.col("has_total")
    compared = pl.col("dap_consistent").is_not_null() | pl.col("dose_rp_consistent").is_not_null()
    return (
        acc.join(checked, on=keys, how="left")
        .with_columns(has_total=has_total)
        .group_by("study_instance_uid")
        .agg(
            report_dap_total_gy_m2=_sum_or_null(pl.col("dap_total_gy_m2").filter(counted)),
            report_dose_rp_total_gy=_sum_or_null(pl.col("dose_rp_total_gy").filter(counted)),
            report_fluoro_time_s=_sum_or_null(pl.col("total_fluoro_time_s").filter(counted)),
            report_acquisition_time_s=_sum_or_null(
                pl.col("total_acquisition_time_s").filter(counted)
            ),
            totals_mismatch=pl.when(compared.any()).then(pl.col("flagged").any()),
        )
    )


def study_totals(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    """One row per study of ``events`` (any month) with its month, totals, counts and report check.

    Events without a Study Instance UID, and studies with neither a study date nor an event time,
    cannot be placed and are left out (see :func:`unplaced_event_count`).
    """
    is_fluoro = pl.col("event_type") == "fluoroscopy"
    is_acq = pl.col("event_type").is_in(ACQUISITION_EVENT_TYPES)
    studies = (
        events.filter(pl.col("study_instance_uid").is_not_null())
        .sort("datetime_started", nulls_last=True)
        .group_by("study_instance_uid")
        .agg(
            patient_id=pl.col("patient_id").drop_nulls().first(),
            accession_number=pl.col("accession_number").drop_nulls().first(),
            room_id=_majority("room_id"),
            modality=_majority("modality"),
            study_date=STUDY_DATE,
            study_description=pl.col("study_description").drop_nulls().first(),
            dap_total_gy_m2=_sum_or_null(pl.col("dap_gy_m2")),
            dose_rp_total_gy=_sum_or_null(pl.col("dose_rp_gy")),
            event_fluoro_time_s=_time_of(is_fluoro),
            event_acquisition_time_s=_time_of(is_acq),
            event_count=pl.len(),
            fluoro_event_count=is_fluoro.sum(),
            acquisition_event_count=is_acq.sum(),
            dap_missing_event_count=pl.col("dap_gy_m2").null_count(),
            dose_rp_missing_event_count=pl.col("dose_rp_gy").null_count(),
            report_count=pl.col("report_sop_instance_uid").n_unique(),
        )
        .filter(pl.col("study_date").is_not_null())
    )
    return (
        studies.join(report_totals(events, accumulated), on="study_instance_uid", how="left")
        .with_columns(
            month=month_expr("study_date"),
            dap_total_gy_cm2=pl.col("dap_total_gy_m2") * GY_M2_TO_GY_CM2,
            fluoro_time_s=pl.coalesce("event_fluoro_time_s", "report_fluoro_time_s"),
            acquisition_time_s=pl.coalesce("event_acquisition_time_s", "report_acquisition_time_s"),
        )
        .sort("study_date", "study_instance_uid")
    )


def study_months(events: pl.DataFrame) -> pl.DataFrame:
    """study_instance_uid -> month, for the studies :func:`study_totals` can place."""
    return (
        events.filter(pl.col("study_instance_uid").is_not_null())
        .group_by("study_instance_uid")
        .agg(STUDY_DATE)
        .filter(pl.col("study_date").is_not_null())
        .select("study_instance_uid", month=month_expr("study_date"))
    )


def unplaced_event_count(events: pl.DataFrame) -> int:
    """Events no month can be given to: no Study Instance UID, or neither study date nor time."""
    no_uid = events.filter(pl.col("study_instance_uid").is_null()).height
    undated = (
        events.filter(pl.col("study_instance_uid").is_not_null())
        .group_by("study_instance_uid")
        .agg(
            n=pl.len(),
            dated=pl.col("study_date").is_not_null().any()
            | pl.col("datetime_started").is_not_null().any(),
        )
        .filter(~pl.col("dated"))
    )
    return no_uid + int(undated.get_column("n").sum())


def build_study_dose(
    events: pl.DataFrame,
    accumulated: pl.DataFrame,
    images: pl.DataFrame,
    links: pl.DataFrame,
    month: str,
    procedures: ProcedureMap,
) -> pl.DataFrame:
    """The ``study_dose`` rows of ``month``: study totals plus image counts and the procedure."""
    studies = study_totals(events, accumulated).filter(pl.col("month") == month)
    studies = studies.with_columns(
        procedure=procedures.map_descriptions(studies.get_column("study_description"))
    )
    image_counts = images.group_by("study_instance_uid").agg(image_count=pl.len())
    linked = (
        links.join(
            events.select("irradiation_event_uid", "study_instance_uid"), on="irradiation_event_uid"
        )
        .group_by("study_instance_uid")
        .agg(linked_image_count=pl.col("sop_instance_uid").n_unique())
    )
    rows = (
        studies.join(image_counts, on="study_instance_uid", how="left")
        .join(linked, on="study_instance_uid", how="left")
        .with_columns(pl.col("image_count", "linked_image_count").fill_null(0))
    )
    return conform("study_dose", rows)
