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
from datetime import date, datetime

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
    event_uids: tuple[str, ...]
    event_dates: frozenset[date]
    content_time: datetime | None

    def rank(self) -> tuple[bool, int, datetime, str]:
        """Sort key, best first when sorted in reverse."""
        consistent = self.study_date is not None and self.study_date in self.event_dates
        return consistent, len(self.event_uids), self.content_time or datetime.min, self.uid


def _check_one_file_per_report(events: pl.DataFrame) -> None:
    """Files sharing a SOP Instance UID are deduplicated before this step (by the ingest stage)."""
    sources = events.group_by("report_sop_instance_uid").agg(pl.col("source_path").unique())
    for uid, paths in sources.filter(pl.col("source_path").list.len() > 1).iter_rows():
        raise ValueError(  # paths left out: they may name a patient, and this reaches the log
            f"report SOP Instance UID {uid} comes from {len(paths)} files: deduplicate files "
            "by SOP Instance UID before resolving re-sent reports"
        )


def _reports(events: pl.DataFrame, accumulated: pl.DataFrame) -> list[_Report]:
    times = dict(
        accumulated.group_by("report_sop_instance_uid")
        .agg(pl.col("report_datetime").max())
        .iter_rows()
    )
    per_report = events.group_by("report_sop_instance_uid").agg(
        pl.col("study_instance_uid").first(),
        pl.col("study_date").first(),
        pl.col("irradiation_event_uid"),
        pl.col("datetime_started").dt.date().drop_nulls().unique().alias("event_dates"),
    )
    return [
        _Report(uid, study, study_date, tuple(uids), frozenset(dates), times.get(uid))
        for uid, study, study_date, uids, dates in per_report.iter_rows()
    ]


def _reason(report: _Report, holder: _Report) -> str:
    n = len(report.event_uids)
    if holder.study == report.study:
        return (
            f"re-sent report: all {n} of its irradiation events are in report {holder.uid} "
            f"of the same study ({len(holder.event_uids)} events)"
        )
    return (
        f"all {n} of its irradiation event UIDs are already reported under study {holder.study} "
        f"by report {holder.uid}; this copy names study {report.study} (study date "
        f"{report.study_date}, events of {', '.join(sorted(map(str, report.event_dates)))}). "
        "An event UID names one exposure, so its dose is counted once, under the report whose "
        "study date matches its events"
    )


def resolve_report_duplicates(
    events: pl.DataFrame, accumulated: pl.DataFrame, refs: pl.DataFrame
) -> ReportResolution:
    """Deduplicated frames (input row order kept) and {superseded report: reason}.

    Raises ValueError if one report SOP Instance UID comes from two files: that is the ingest
    stage's file-level dedup, which must run first.
    """
    _check_one_file_per_report(events)
    reports = sorted(_reports(events, accumulated), key=_Report.rank, reverse=True)
    owner: dict[str, _Report] = {}
    superseded: dict[str, str] = {}
    for report in reports:
        mine = [uid for uid in report.event_uids if uid not in owner]
        if not mine:
            superseded[report.uid] = _reason(report, owner[report.event_uids[0]])
            continue
        for uid in mine:
            owner[uid] = report
    kept = pl.DataFrame(
        {
            "irradiation_event_uid": list(owner),
            "report_sop_instance_uid": [r.uid for r in owner.values()],
        },
        schema={"irradiation_event_uid": pl.String, "report_sop_instance_uid": pl.String},
    )
    return ReportResolution(
        events=events.join(kept, on=list(kept.columns), how="semi", maintain_order="left"),
        accumulated=accumulated.filter(~pl.col("report_sop_instance_uid").is_in(list(superseded))),
        refs=refs.join(kept, on=list(kept.columns), how="semi", maintain_order="left"),
        superseded=superseded,
    )
