"""Re-sent and copied dose reports: each irradiation event is counted once.

Devices re-send a study's report after every run, each time with all events so far, under a new
SOP Instance UID; archives also hold copies of a report filed under another study (the OpenREM
``Siemens-Zee_adjusted`` file: same events, a changed Study Instance UID and Study Date). An
Irradiation Event UID (113769) names one physical exposure, so its dose belongs to one report:

1. Reports are ranked: a report whose Study Date (0008,0020) is the date of one of its own events
   first (a copy re-filed under another study usually keeps the event times but not the date),
   then more events (the latest re-send holds a superset), then the later Content Date/Time, then
   the larger SOP Instance UID (only so that the order is total and the result deterministic).
2. Each event UID is taken from the best-ranked report that holds it.
3. A report left with no event of its own is superseded; the reason names the report (and, for a
   copy under another study, the study) that holds its events. Its accumulated totals and image
   references are dropped with it: they describe the same exposures.

A report that shares only some events keeps the others; two studies of one patient with
different events are unrelated and both stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl


@dataclass(frozen=True)
class ReportResolution:
    events: pl.DataFrame
    accumulated: pl.DataFrame
    refs: pl.DataFrame
    superseded: dict[str, str]  # report_sop_instance_uid -> reason


@dataclass(frozen=True)
class _Report:
    uid: str
    study: str | None
    study_date: date | None
    n_events: int
    event_dates: frozenset[date]


def _check_one_file_per_report(events: pl.DataFrame) -> None:
    """Files sharing a SOP Instance UID are deduplicated before this step (by the ingest stage)."""
    sources = events.group_by("report_sop_instance_uid").agg(pl.col("source_path").unique())
    for uid, paths in sources.filter(pl.col("source_path").list.len() > 1).iter_rows():
        raise ValueError(  # paths left out: they may name a patient, and this reaches the log
            f"report SOP Instance UID {uid} comes from {len(paths)} files: deduplicate files "
            "by SOP Instance UID before resolving re-sent reports"
        )


def _ranked_reports(events: pl.DataFrame, accumulated: pl.DataFrame) -> pl.DataFrame:
    """One row per report, best first (rule 1), with its ``rank`` and first event UID."""
    times = accumulated.group_by("report_sop_instance_uid").agg(
        pl.col("report_datetime").max().alias("content_time")
    )
    per_report = (
        events.with_row_index("_row")
        .group_by("report_sop_instance_uid")
        .agg(
            pl.col("study_instance_uid").first(),
            pl.col("study_date").first(),
            pl.len().alias("n_events"),
            pl.col("irradiation_event_uid").sort_by("_row").first().alias("first_event"),
            pl.col("datetime_started").dt.date().drop_nulls().unique().alias("event_dates"),
        )
        .join(times, on="report_sop_instance_uid", how="left")
        .with_columns(
            consistent=pl.col("study_date").is_not_null()
            & pl.col("event_dates").list.contains(pl.col("study_date")).fill_null(False)
        )
    )
    return per_report.sort(
        ["consistent", "n_events", "content_time", "report_sop_instance_uid"],
        descending=True,
        nulls_last=True,  # a report without a content time ranks as the earliest
    ).with_row_index("rank")


def _reason(report: _Report, holder: _Report) -> str:
    n = report.n_events
    if holder.study == report.study:
        return (
            f"re-sent report: all {n} of its irradiation events are in report {holder.uid} "
            f"of the same study ({holder.n_events} events)"
        )
    return (
        f"all {n} of its irradiation event UIDs are already reported under study {holder.study} "
        f"by report {holder.uid}; this copy names study {report.study} (study date "
        f"{report.study_date}, events of {', '.join(sorted(map(str, report.event_dates)))}). "
        "An event UID names one exposure, so its dose is counted once, under the report whose "
        "study date matches its events"
    )


# the only columns the decision reads: publish loads these, not the whole tables
DECIDING_EVENT_COLUMNS = (
    "report_sop_instance_uid",
    "study_instance_uid",
    "study_date",
    "irradiation_event_uid",
    "datetime_started",
    "source_path",
)
DECIDING_ACCUMULATED_COLUMNS = ("report_sop_instance_uid", "report_datetime")


@dataclass(frozen=True)
class ReportDecision:
    """The (event, report) pairs whose event another report owns, and the superseded reports.

    Held as the losing pairs, which are few (the events of re-sent and copied reports), not as
    the owning pairs, which are every event of an archive."""

    losers: pl.DataFrame  # irradiation_event_uid, report_sop_instance_uid
    superseded: dict[str, str]  # report_sop_instance_uid -> reason

    def kept_rows(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Event or reference rows of the events each report owns (order kept); a reference
        row's pair is one of its own report's event rows (dose_reports.py writes both)."""
        return rows.join(
            self.losers.lazy(), on=list(self.losers.columns), how="anti", maintain_order="left"
        )

    def accumulated(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Accumulated totals of the reports that are not superseded."""
        return rows.filter(~pl.col("report_sop_instance_uid").is_in(list(self.superseded)))


def decide_report_duplicates(events: pl.DataFrame, accumulated: pl.DataFrame) -> ReportDecision:
    """The decision from the deciding columns of the events and accumulated totals: each event
    UID goes to the best-ranked report holding it (rule 2), in columns rather than one Python
    object per event.

    Raises ValueError if one report SOP Instance UID comes from two files: that is the ingest
    stage's file-level dedup, which must run first.
    """
    _check_one_file_per_report(events)
    ranked = _ranked_reports(events, accumulated)
    pairs = (
        events.select("irradiation_event_uid", "report_sop_instance_uid")
        .join(ranked.select("report_sop_instance_uid", "rank"), on="report_sop_instance_uid")
        .with_columns(best=pl.col("rank").min().over("irradiation_event_uid"))
    )
    losers = (
        pairs.filter(pl.col("rank") != pl.col("best"))
        .select("irradiation_event_uid", "report_sop_instance_uid")
        .unique()
    )
    owners = pairs.filter(pl.col("rank") == pl.col("best"))
    holder_of = owners.select(
        pl.col("irradiation_event_uid").alias("first_event"), holder_rank="rank"
    ).unique()
    lost = (
        ranked.join(owners, on="report_sop_instance_uid", how="anti")
        .join(holder_of, on="first_event")
        .sort("rank")
    )
    holders = ranked.join(lost.select(rank="holder_rank"), on="rank", how="semi")
    by_rank = {r["rank"]: _report(r) for r in holders.iter_rows(named=True)}
    superseded = {
        r["report_sop_instance_uid"]: _reason(_report(r), by_rank[r["holder_rank"]])
        for r in lost.iter_rows(named=True)
    }
    return ReportDecision(losers, superseded)


def _report(row: dict[str, Any]) -> _Report:
    return _Report(
        row["report_sop_instance_uid"],
        row["study_instance_uid"],
        row["study_date"],
        row["n_events"],
        frozenset(row["event_dates"]),
    )


def resolve_report_duplicates(
    events: pl.DataFrame, accumulated: pl.DataFrame, refs: pl.DataFrame
) -> ReportResolution:
    """Deduplicated frames (input row order kept) and {superseded report: reason}.

    Raises ValueError if one report SOP Instance UID comes from two files (see
    :func:`decide_report_duplicates`).
    """
    decision = decide_report_duplicates(events, accumulated)
    return ReportResolution(
        events=decision.kept_rows(events.lazy()).collect(),
        accumulated=decision.accumulated(accumulated.lazy()).collect(),
        refs=decision.kept_rows(refs.lazy()).collect(),
        superseded=decision.superseded,
    )
