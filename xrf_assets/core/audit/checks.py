"""Checks on what the monthly audit reads, evaluated before it publishes anything.

A unit read wrongly for a device (dGy.cm2 taken as Gy.m2 is a factor 1e5) or an event counted
twice would put wrong doses on patients' records and into signed audits: those systemic faults
block the audit. A single odd record (one implausible event, an image linked to an event of
another study after a PACS merge) is a warning naming it: one file never blocks a month. Reports
whose own totals disagree with their events beyond the vendors' rounding are worth a look but are
common in real archives: that check only warns (and the studies carry ``totals_mismatch``).
Outcomes name event and report UIDs and published file names, never patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from xrf_assets.core.audit.months import month_expr, month_window
from xrf_assets.core.audit.report_totals import totals_consistency
from xrf_assets.core.audit.study_dose import IMAGE_HEADERS
from xrf_assets.core.extract.irradiation_events import EVENT_DAP_MAX_GY_M2, EVENT_DOSE_RP_MAX_GY

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    blocking: bool
    description: str
    failures: int = 0
    sample: list[dict[str, object]] = field(default_factory=list)


# Checks of the audit's inputs, name -> may block: a blocking failure stops the audit of the month
# from publishing. Only systemic faults block: an event counted twice, or a share of events out
# of physical bounds above BLOCKING_RATE (a unit read wrongly for a whole device); one odd record
# (an image re-filed under another study by a PACS merge or split, one implausible event) is a
# warning that names it, and the month is published. Checks not listed here only warn.
INPUT_CHECKS: dict[str, bool] = {
    "event_dose_within_physical_bounds": True,
    "unique_event_uids": True,
    "report_totals_match_events": False,
    "links_within_study": False,
}
# name -> share of the checked records that must fail before the check blocks (default: any)
BLOCKING_RATE: dict[str, float] = {"event_dose_within_physical_bounds": 0.05}


def _outcome(
    name: str, bad: pl.DataFrame, ok: str, problem: str, checked: int | None = None
) -> CheckOutcome:
    """``checked``: how many records the check looked at, for a rate-limited check."""
    failed = bad.height > 0
    rate = bad.height / checked if checked else 1.0
    may_block = INPUT_CHECKS.get(name, False)
    return CheckOutcome(
        name=name,
        passed=not failed,
        blocking=may_block and (not failed or rate > BLOCKING_RATE.get(name, 0.0)),
        description=problem.format(n=bad.height) if failed else ok,
        failures=bad.height,
        sample=bad.head(SAMPLE_SIZE).to_dicts(),
    )


def events_in_window(
    events: pl.DataFrame, studies: pl.DataFrame, month: str, window_months: int
) -> pl.DataFrame:
    """Events of the studies (``study_totals`` rows) whose month lies in the window ending with
    ``month``."""
    studies = studies.filter(pl.col("month").is_in(month_window(month, window_months)))
    return events.join(studies.select("study_instance_uid"), on="study_instance_uid", how="semi")


def check_event_bounds(events: pl.DataFrame) -> CheckOutcome:
    dap, dose = pl.col("dap_gy_m2"), pl.col("dose_rp_gy")
    bad = events.filter(
        (dap < 0) | (dap > EVENT_DAP_MAX_GY_M2) | (dose < 0) | (dose > EVENT_DOSE_RP_MAX_GY)
    ).select(
        "irradiation_event_uid", "report_sop_instance_uid", "source_path", "dap_gy_m2", "dose_rp_gy"
    )
    return _outcome(
        "event_dose_within_physical_bounds",
        bad,
        f"every event has 0 <= DAP <= {EVENT_DAP_MAX_GY_M2} Gy.m2 and "
        f"0 <= Dose (RP) <= {EVENT_DOSE_RP_MAX_GY} Gy",
        "{n} events have a DAP or Dose (RP) outside physical bounds (a unit read wrongly?)",
        checked=events.height,
    )


def check_unique_event_uids(events: pl.DataFrame) -> CheckOutcome:
    bad = (
        events.group_by("irradiation_event_uid")
        .agg(copies=pl.len(), source_paths=pl.col("source_path").unique().sort())
        .filter(pl.col("copies") > 1)
        .sort("irradiation_event_uid")
    )
    return _outcome(
        "unique_event_uids",
        bad,
        "every Irradiation Event UID (113769) appears once",
        "{n} Irradiation Event UIDs appear more than once: their dose would be counted twice",
    )


def check_report_totals(events: pl.DataFrame, accumulated: pl.DataFrame) -> CheckOutcome:
    reports = events.group_by("report_sop_instance_uid").agg(pl.col("source_path").first())
    bad = (
        totals_consistency(
            events, accumulated.join(reports, on="report_sop_instance_uid", how="semi")
        )
        .filter(pl.col("flagged"))
        .join(reports, on="report_sop_instance_uid")
        .select(
            "report_sop_instance_uid",
            "acquisition_plane",
            "source_path",
            "dap_events_sum",
            "dap_total_gy_m2",
            "dose_rp_events_sum",
            "dose_rp_total_gy",
        )
        .sort("report_sop_instance_uid", "acquisition_plane")
    )
    return _outcome(
        "report_totals_match_events",
        bad,
        "every report's totals (TID 10002) match the sum of its events within rounding",
        "{n} report totals differ from the sum of their events beyond rounding",
    )


def check_links_within_study(
    events: pl.DataFrame, images: pl.DataFrame, links: pl.DataFrame
) -> CheckOutcome:
    bad = (
        links.join(
            events.select("irradiation_event_uid", event_study="study_instance_uid"),
            on="irradiation_event_uid",
        )
        .join(
            images.select("sop_instance_uid", image_study="study_instance_uid"),
            on="sop_instance_uid",
        )
        .filter(pl.col("event_study") != pl.col("image_study"))
        .select("irradiation_event_uid", "sop_instance_uid", "link_method")
        .sort("irradiation_event_uid", "sop_instance_uid")
    )
    return _outcome(
        "links_within_study",
        bad,
        "every image is linked only to events of its own study",
        "{n} images are linked to an event of another study (a study merged or split in the "
        "PACS?): the links stand, the records are named",
    )


def audit_input_checks(
    events: pl.DataFrame,
    accumulated: pl.DataFrame,
    images: pl.DataFrame,
    links: pl.DataFrame,
    studies: pl.DataFrame,
    month: str,
    window_months: int,
) -> list[CheckOutcome]:
    """All checks over what the audit of ``month`` reads (the rolling window's events);
    ``studies`` are the audit's ``study_totals`` rows, computed once."""
    scope = events_in_window(events, studies, month, window_months)
    return [
        check_event_bounds(scope),
        check_unique_event_uids(events),
        check_report_totals(scope, accumulated),
        check_links_within_study(scope, images, links),
    ]


def check_imaged_studies_reported(
    images: pl.DataFrame, study_dose: pl.DataFrame, month: str
) -> CheckOutcome:
    """Studies of the month with images but no dose report: their dose is only estimated."""
    reported = study_dose.filter(pl.col("dose_source") != IMAGE_HEADERS)
    bad = (
        images.filter(month_expr("study_date") == month)
        .join(reported.select("study_instance_uid"), on="study_instance_uid", how="anti")
        .group_by("study_instance_uid")
        .agg(image_count=pl.len(), room_id=pl.col("room_id").drop_nulls().first())
        .sort("study_instance_uid")
    )
    return _outcome(
        "imaged_studies_have_dose_report",
        bad,
        "every study of the month with images has a dose report",
        "{n} studies of the month have images but no dose report: their dose is an estimate "
        "from image headers",
    )
