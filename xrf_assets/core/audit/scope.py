"""The rows of the ingest tables that the audit of one month reads, and only those.

The ingest tables hold the whole archive, not one month: read whole for every month, auditing M
months of an N-file archive costs M x N, and one month at 1M files held every table (3.2-4.2 GB).
A month's audit needs the studies placed in its alert window (the month and those before it, by
:func:`~xrf_assets.core.audit.study_dose.study_months`, the one rule) with every row of each,
whatever the row's own date: a study's rows may cross a month edge, and the patient-window alerts
sum a patient's earlier studies. A study placed in a month has a row dated in it (the row its date
comes from), so the rows dated in the window name every candidate; the candidates' rows are then
read whole and placed. Add the accumulated doses of their events' reports, the links naming their
events and the images those links name (a PACS merge files them under another study), and the
count of events no month holds, from the placement columns alone. An Irradiation Event UID is
unique in the archive (the primary key of ``irradiation_events``: the store refuses a table that
repeats one), so the uniqueness check over the window's events is the archive's.

Each read is a lazy scan with its filter, so polars decodes only the matching rows (and skips the
row groups whose statistics exclude the dates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from xrf_assets.core.audit.months import month_end, month_start
from xrf_assets.core.audit.study_dose import study_months

Scan = Callable[[str], pl.LazyFrame]

# The columns study_months and unplaced_event_count read, per table.
PLACEMENT_COLUMNS = {
    "irradiation_events": ["study_instance_uid", "study_date", "datetime_started"],
    "images": ["study_instance_uid", "study_date", "acquisition_datetime"],
}
# The columns the window's studies are audited from (study_dose.py, image_dose.py, checks.py,
# report_totals.py): a fourth of the events' and images' columns, so a window held whole fits.
AUDIT_COLUMNS = {
    "irradiation_events": [
        *PLACEMENT_COLUMNS["irradiation_events"],
        "irradiation_event_uid",
        "report_sop_instance_uid",
        "patient_id",
        "accession_number",
        "room_id",
        "modality",
        "study_description",
        "event_type",
        "acquisition_plane",
        "acquisition_protocol",
        "irradiation_duration_s",
        "dap_gy_m2",
        "dose_rp_gy",
        "plausibility",
        "source_path",
    ],
    "images": [
        *PLACEMENT_COLUMNS["images"],
        "sop_instance_uid",
        "series_instance_uid",
        "irradiation_event_uids",
        "patient_id",
        "accession_number",
        "room_id",
        "study_description",
        "instance_number",
        "acquisition_protocol_name",
        "protocol_name",
        "dap_gy_m2",
        "actual_frame_duration_ms",
        "number_of_frames",
        "exposure_time_ms",
    ],
    "accumulated_dose": [
        "report_sop_instance_uid",
        "study_instance_uid",
        "acquisition_plane",
        "dap_total_gy_m2",
        "dose_rp_total_gy",
        "total_fluoro_time_s",
        "total_acquisition_time_s",
    ],
}
_STUDY = pl.col("study_instance_uid")


@dataclass(frozen=True)
class WindowRows:
    """Every row of the studies placed in the window: ``events`` and ``images``, and the
    ``accumulated`` dose rows of those events' reports (``AUDIT_COLUMNS`` of each)."""

    events: pl.DataFrame
    accumulated: pl.DataFrame
    images: pl.DataFrame


def _dated_in(table: str, first: str, last: str) -> pl.Expr:
    """Rows of ``table`` whose study date or time lies in the months ``first`` to ``last``."""
    start, end = month_start(first), month_end(last)
    study_date, time = PLACEMENT_COLUMNS[table][1:]
    return _STUDY.is_not_null() & (
        pl.col(study_date).is_between(start, end) | pl.col(time).dt.date().is_between(start, end)
    )


def study_rows(scan: Scan, table: str, studies: pl.Series) -> pl.DataFrame:
    """The rows of ``table`` (events or images) of ``studies``, their ``AUDIT_COLUMNS``."""
    return (
        scan(table).filter(_STUDY.is_in(studies.implode())).select(AUDIT_COLUMNS[table]).collect()
    )


def window_rows(scan: Scan, months: Sequence[str]) -> WindowRows:
    """The rows :func:`~xrf_assets.core.audit.study_dose.study_totals` of ``months`` (a
    contiguous window, oldest first) reads: its result on them is its result on the archive."""
    candidates = pl.concat(
        scan(t).filter(_dated_in(t, months[0], months[-1])).select("study_instance_uid")
        for t in PLACEMENT_COLUMNS
    ).unique()
    uids = candidates.collect().get_column("study_instance_uid")
    events, images = (study_rows(scan, t, uids) for t in PLACEMENT_COLUMNS)
    placed = study_months(events, images).filter(pl.col("month").is_in(list(months)))
    events, images = (d.join(placed, on="study_instance_uid", how="semi") for d in (events, images))
    reports = events.get_column("report_sop_instance_uid").unique()
    accumulated = (
        scan("accumulated_dose")
        .filter(pl.col("report_sop_instance_uid").is_in(reports.implode()))
        .select(AUDIT_COLUMNS["accumulated_dose"])
    )
    return WindowRows(events, accumulated.collect(), images)


def event_links(scan: Scan, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``event_image_links`` naming ``events``, and the images they name (SOP Instance UID and
    study, wherever the image is filed): what ``links_within_study`` compares."""
    links = (
        scan("event_image_links")
        .filter(
            pl.col("irradiation_event_uid").is_in(
                events.get_column("irradiation_event_uid").implode()
            )
        )
        .collect()
    )
    images = (
        scan("images")
        .filter(pl.col("sop_instance_uid").is_in(links.get_column("sop_instance_uid").implode()))
        .select("sop_instance_uid", "study_instance_uid")
        .collect()
    )
    return links, images


def placement_rows(scan: Scan, table: str) -> pl.DataFrame:
    """Every row of ``table`` with only the columns a study's month is taken from."""
    return scan(table).select(PLACEMENT_COLUMNS[table]).collect()


def archive_study_months(scan: Scan) -> pl.DataFrame:
    """:func:`~xrf_assets.core.audit.study_dose.study_months` of the archive, from the placement
    columns alone."""
    return study_months(*(placement_rows(scan, t) for t in PLACEMENT_COLUMNS))
