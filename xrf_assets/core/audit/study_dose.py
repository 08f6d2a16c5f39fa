"""Per-study dose figures: the device's own totals where sent, else its events', else its images'.

Every study figure (DAP, Dose (RP), fluoroscopy time, acquisition time) follows one rule, taken per
dose report and summed over the study's reports:

1. the device's accumulated total (TID 10004 113722/113725/113730/113855; summed over planes where
   the report sends no 'total' row), as the console shows it and as OpenREM reports it;
2. else the sum of the event values (TID 10003), leaving out values flagged implausible
   (``irradiation_events.plausibility``);
3. a study without any dose report: its image headers (:mod:`image_dose`), an estimate.

Why the device's total wins where the two differ: it is what the operator saw and what the device
accumulates over every exposure. An event sum below it (u104 Philips: 16 % under) means events the
report left out; one above it has come from event values that cannot be physical (Canon Alphenix:
48 fluoroscopy events summing to 6,718 s against the 70 s the device counted). Both sums are kept
(``event_*``, ``report_*``), the source of each figure is named (``*_source``), and a difference
beyond the vendors' rounding is flagged (``totals_mismatch``, ``times_mismatch``). Image
(0018,115E) values are never added to a report's figures: they are a cross-check there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from xrf_assets.core.audit.image_dose import image_dose
from xrf_assets.core.audit.months import conform, month_expr, sum_or_null
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.report_totals import (
    ACQUISITION,
    DAP_ABSOLUTE_TOLERANCE_GY_M2,
    FLUORO,
    RELATIVE_TOLERANCE,
    totals_consistency,
)
from xrf_assets.core.extract.irradiation_events import implausible

GY_M2_TO_GY_CM2 = 1e4
DEVICE_TOTAL, EVENT_SUM, IMAGE_HEADERS = "device_total", "event_sum", "image_headers"

# A study's date: its (earliest) Study Date (0008,0020), else the date of its first event.
STUDY_DATE = pl.coalesce(
    pl.col("study_date").min(), pl.col("datetime_started").min().dt.date()
).alias("study_date")
# A study known from its images only: Study Date, else the date of its first acquisition.
IMAGE_STUDY_DATE = pl.coalesce(
    pl.col("study_date").min(), pl.col("acquisition_datetime").min().dt.date()
).alias("study_date")


@dataclass(frozen=True)
class _Figure:
    """One study figure: its column, the event values behind it and the device total beside it."""

    column: str  # study_dose column; event_<column> and report_<column> hold the two sums
    event_column: str
    events: pl.Expr  # which events count
    total_column: str  # accumulated_dose column
    value: str  # irradiation_events.implausible(value) leaves an event's value out
    source: str  # study_dose column naming where the figure came from


_ALL = pl.lit(True)
_DURATION = "irradiation_duration_s"
FIGURES = (
    _Figure("dap_total_gy_m2", "dap_gy_m2", _ALL, "dap_total_gy_m2", "dap", "dap_source"),
    _Figure(
        "dose_rp_total_gy", "dose_rp_gy", _ALL, "dose_rp_total_gy", "dose_rp", "dose_rp_source"
    ),
    _Figure(
        "fluoro_time_s", _DURATION, FLUORO, "total_fluoro_time_s", "duration", "fluoro_time_source"
    ),
    _Figure(
        "acquisition_time_s",
        _DURATION,
        ACQUISITION,
        "total_acquisition_time_s",
        "duration",
        "acquisition_time_source",
    ),
)


def _events_sum(value: pl.Expr, events: pl.Expr) -> pl.Expr:
    """Sum over the events that count: 0 without such events, null when none gives a value."""
    return pl.when(events.sum() == 0).then(pl.lit(0.0)).otherwise(sum_or_null(value.filter(events)))


def _majority(column: str) -> pl.Expr:
    """Most frequent non-null value of the group; ties go to the first in sort order."""
    return pl.col(column).drop_nulls().mode().sort().first()


def _mismatch(flag: str) -> pl.Expr:
    """True when a compared row is flagged, false when they agree, null when none was compared."""
    return pl.when(pl.col(flag).is_not_null().any()).then(pl.col(flag).any())


def _report_figures(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    """One row per report: its event sums, the totals it sends, its figures and their sources."""
    acc = accumulated.join(
        events.select("report_sop_instance_uid").unique(), on="report_sop_instance_uid", how="semi"
    )
    has_total = (pl.col("acquisition_plane") == "total").any().over("report_sop_instance_uid")
    counted = (pl.col("acquisition_plane") == "total") == has_total
    sent = acc.group_by("report_sop_instance_uid").agg(
        sum_or_null(pl.col(f.total_column).filter(counted)).alias(f"report_{f.column}")
        for f in FIGURES
    )
    compared = {
        "totals_mismatch": ("flagged", ("dap_consistent", "dose_rp_consistent")),
        "times_mismatch": (
            "times_flagged",
            ("fluoro_time_consistent", "acquisition_time_consistent"),
        ),
    }
    checked = (
        totals_consistency(events, acc)
        .with_columns(
            pl.when(pl.any_horizontal(pl.col(c).is_not_null() for c in cols))
            .then(pl.col(flag))
            .alias(name)
            for name, (flag, cols) in compared.items()
        )
        .group_by("report_sop_instance_uid")
        .agg(_mismatch(name).alias(name) for name in compared)
    )
    sums = events.group_by("report_sop_instance_uid").agg(
        pl.col("study_instance_uid").first(),
        *(
            _events_sum(pl.col(f.event_column), f.events).alias(f"event_{f.column}")
            for f in FIGURES
        ),
        *(
            _events_sum(
                pl.when(~implausible(f.value)).then(pl.col(f.event_column)), f.events
            ).alias(f"plausible_{f.column}")
            for f in FIGURES
        ),
    )
    return (
        sums.join(sent, on="report_sop_instance_uid", how="left")
        .join(checked, on="report_sop_instance_uid", how="left")
        .with_columns(
            pl.coalesce(f"report_{f.column}", f"plausible_{f.column}").alias(f.column)
            for f in FIGURES
        )
        .with_columns(
            pl.when(pl.col(f"report_{f.column}").is_not_null())
            .then(pl.lit(DEVICE_TOTAL))
            .when(pl.col(f.column).is_not_null())
            .then(pl.lit(EVENT_SUM))
            .alias(f.source)
            for f in FIGURES
        )
    )


def report_totals(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    """Per study: its figures (module rule), the event and device sums behind them, two flags.

    A report's 'total' row is used where it sends one, else its planes are summed; reports with no
    event left (superseded by a re-sent report) do not count. ``totals_mismatch`` (DAP, Dose (RP))
    and ``times_mismatch`` (fluoro, acquisition time) are true where
    :func:`~xrf_assets.core.audit.report_totals.totals_consistency` flags a row of one of the
    study's reports (beyond the vendors' rounding), null where no row could be compared.
    """
    sources = [
        pl.col(f.source).drop_nulls().unique().sort().str.join("+").replace("", None)
        for f in FIGURES
    ]
    return (
        _report_figures(events, accumulated)
        .group_by("study_instance_uid")
        .agg(
            *(
                sum_or_null(pl.col(f"{kind}{f.column}")).alias(f"{kind}{f.column}")
                for f in FIGURES
                for kind in ("", "event_", "report_")
            ),
            *sources,
            totals_mismatch=_mismatch("totals_mismatch"),
            times_mismatch=_mismatch("times_mismatch"),
        )
    )


def _reported_studies(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    is_fluoro, is_acq = FLUORO, ACQUISITION
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
            event_count=pl.len(),
            fluoro_event_count=is_fluoro.sum(),
            acquisition_event_count=is_acq.sum(),
            dap_missing_event_count=pl.col("dap_gy_m2").null_count(),
            dose_rp_missing_event_count=pl.col("dose_rp_gy").null_count(),
            implausible_event_count=pl.col("plausibility").is_not_null().sum(),
            report_count=pl.col("report_sop_instance_uid").n_unique(),
        )
        .filter(pl.col("study_date").is_not_null())
    )
    return studies.join(
        report_totals(events, accumulated), on="study_instance_uid", how="left"
    ).with_columns(dose_source=pl.lit("dose_report"))


def _image_only_studies(images: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Studies known from images alone, with the dose their headers give (estimates)."""
    only = images.filter(pl.col("study_instance_uid").is_not_null()).join(
        events.select("study_instance_uid"), on="study_instance_uid", how="anti"
    )
    studies = (
        only.group_by("study_instance_uid")
        .agg(
            patient_id=pl.col("patient_id").drop_nulls().first(),
            accession_number=pl.col("accession_number").drop_nulls().first(),
            room_id=_majority("room_id"),
            study_date=IMAGE_STUDY_DATE,
            study_description=pl.col("study_description").drop_nulls().first(),
        )
        .filter(pl.col("study_date").is_not_null())
        .join(image_dose(only), on="study_instance_uid", how="left")
    )
    from_images = pl.lit(IMAGE_HEADERS)
    return studies.with_columns(
        modality=pl.lit("fluoroscopy"),  # XA / XRF images
        dap_total_gy_m2="image_dap_total_gy_m2",
        fluoro_time_s="image_fluoro_time_s",
        dap_source=pl.when(pl.col("image_dap_total_gy_m2").is_not_null()).then(from_images),
        fluoro_time_source=pl.when(pl.col("image_fluoro_time_s").is_not_null()).then(from_images),
        dose_source=from_images,
        **dict.fromkeys(
            (
                "event_count",
                "fluoro_event_count",
                "acquisition_event_count",
                "dap_missing_event_count",
                "dose_rp_missing_event_count",
                "implausible_event_count",
                "report_count",
            ),
            pl.lit(0),
        ),
    )


def study_totals(
    events: pl.DataFrame,
    accumulated: pl.DataFrame,
    images: pl.DataFrame,
    months: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per study (any month) with its month, figures, sums, sources, counts and checks.

    Computed once per audit run and passed on to the checks, ``study_dose`` and the alerts.
    Studies with a dose report come from their events (their images are a cross-check:
    ``image_dap_total_gy_m2``, ``image_dap_mismatch``); studies with images only get the dose their
    headers give. Events without a Study Instance UID, and studies with no date at all, cannot be
    placed and are left out (see :func:`unplaced_event_count`).

    ``months``: only the studies placed in those months (a month's audit window). Their rows are
    those of a run over every month (a study's row depends on its own rows alone), and the audit
    of one month of a many-year archive then costs its window, not every study again.
    """
    if months is not None:
        placed = study_months(events, images).filter(pl.col("month").is_in(list(months)))
        keep = placed.select("study_instance_uid")
        events, accumulated, images = (
            df.join(keep, on="study_instance_uid", how="semi")
            for df in (events, accumulated, images)
        )
    reported = _reported_studies(events, accumulated)
    checked = reported.join(image_dose(images), on="study_instance_uid", how="left").with_columns(
        image_dap_mismatch=_above(pl.col("image_dap_total_gy_m2"), pl.col("dap_total_gy_m2"))
    )
    return (
        pl.concat([checked, _image_only_studies(images, events)], how="diagonal_relaxed")
        .with_columns(
            month=month_expr("study_date"),
            dap_total_gy_cm2=pl.col("dap_total_gy_m2") * GY_M2_TO_GY_CM2,
        )
        .sort("study_date", "study_instance_uid")
    )


def _above(images: pl.Expr, report: pl.Expr) -> pl.Expr:
    """Image headers claim more DAP than the report beyond rounding (they hold only stored runs,
    so less is expected, more is not); null where either is missing."""
    diff = images - report
    return (diff > DAP_ABSOLUTE_TOLERANCE_GY_M2) & (diff > RELATIVE_TOLERANCE * report.abs())


def study_months(events: pl.DataFrame, images: pl.DataFrame) -> pl.DataFrame:
    """study_instance_uid -> month, for the studies :func:`study_totals` places (the same rule)."""
    reported = (
        events.filter(pl.col("study_instance_uid").is_not_null())
        .group_by("study_instance_uid")
        .agg(STUDY_DATE)
    )
    imaged = (
        images.filter(pl.col("study_instance_uid").is_not_null())
        .join(reported, on="study_instance_uid", how="anti")
        .group_by("study_instance_uid")
        .agg(IMAGE_STUDY_DATE)
    )
    return (
        pl.concat([reported, imaged])
        .filter(pl.col("study_date").is_not_null())
        .select("study_instance_uid", month=month_expr("study_date"))
        .sort("month", "study_instance_uid")
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
    studies: pl.DataFrame,
    events: pl.DataFrame,
    images: pl.DataFrame,
    links: pl.DataFrame,
    month: str,
    procedures: ProcedureMap,
) -> pl.DataFrame:
    """The ``study_dose`` rows of ``month``: :func:`study_totals` rows plus image counts and the
    procedure."""
    studies = studies.filter(pl.col("month") == month)
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
