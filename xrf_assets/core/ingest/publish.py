"""The published ingest tables as a pure function of the staging state (and the rooms file).

Order matters and is fixed: (1) one file per SOP Instance UID (0008,0018): a file still present
beats one that is gone, then the newer modification time, then the first path; (2) re-sent dose
reports resolved by ``resolve_report_duplicates``; (3) rooms assigned from the device identity and
the rooms file, here only (staged rows have no ``room_id``); (4) every row sorted by its key.
Privacy was applied when the rows were staged.
Because nothing here depends on the order in which files were read, any split of the work into
batches and runs gives the same tables as one full run.
"""

from __future__ import annotations

import polars as pl

from schemas import contract
from xrf_assets.core.ingest.resent_reports import resolve_report_duplicates
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.ingest.staging import Staging

# table -> sort key of its published rows
SORT_KEYS: dict[str, list[str]] = {
    "dicom_files": ["path"],
    "images": ["sop_instance_uid"],
    "irradiation_events": ["irradiation_event_uid"],
    "accumulated_dose": ["report_sop_instance_uid", "acquisition_plane"],
    "event_image_refs": [
        "irradiation_event_uid",
        "referenced_sop_instance_uid",
        "referenced_sop_class_uid",
        "report_sop_instance_uid",
    ],
}


def _kept_files(files: pl.DataFrame) -> pl.DataFrame:
    """For every SOP Instance UID among usable files, the file whose rows are kept."""
    return (
        files.filter((pl.col("status") == "ok") & pl.col("sop_instance_uid").is_not_null())
        .sort(["present", "mtime_ns", "path"], descending=[True, True, False], nulls_last=True)
        .unique("sop_instance_uid", keep="first", maintain_order=True)
        .select(
            "sop_instance_uid",
            pl.col("path").alias("kept_path"),
            pl.col("study_instance_uid").alias("kept_study"),
        )
    )


def _final_status(
    files: pl.DataFrame, kept: pl.DataFrame, superseded: pl.DataFrame
) -> pl.DataFrame:
    """dicom_files: read status, then duplicate / superseded / missing with their reasons."""
    files = files.join(kept, on="sop_instance_uid", how="left").join(
        superseded, on="sop_instance_uid", how="left"
    )
    usable = pl.col("status") == "ok"
    duplicate = usable & pl.col("kept_path").is_not_null() & (pl.col("kept_path") != pl.col("path"))
    gone = ~pl.col("present")
    status = (
        pl.when(gone)
        .then(pl.lit("missing"))
        .when(duplicate)
        .then(pl.lit("duplicate"))
        .when(usable & pl.col("superseded_reason").is_not_null())
        .then(pl.lit("superseded"))
        .otherwise(pl.col("status"))
    )
    duplicate_reason = pl.format(
        "same SOP Instance UID as '{}', which is kept (newer file, or same time and first path)",
        pl.col("kept_path"),
    ) + pl.when(pl.col("study_instance_uid").eq_missing(pl.col("kept_study"))).then(
        pl.lit("")
    ).otherwise(
        pl.lit("; the two differ in Study Instance UID (0020,000D): the sender reused a UID")
    )
    gone_reason = (
        pl.when(duplicate)
        .then(
            pl.format(
                "file no longer under the input root; its object is now read from '{}'",
                pl.col("kept_path"),
            )
        )
        .when(usable)
        .then(pl.lit("file no longer under the input root; the rows read from it are kept"))
        .otherwise(
            pl.format(
                "file no longer under the input root (it was {}: {})",
                pl.col("status"),
                pl.col("reason").fill_null(""),
            )
        )
    )
    reason = (
        pl.when(gone)
        .then(gone_reason)
        .when(duplicate)
        .then(duplicate_reason)
        .when(usable)
        .then(pl.col("superseded_reason"))
        .otherwise(pl.col("reason"))
    )
    return files.with_columns(status.alias("status"), reason.alias("reason")).drop(
        "kept_path", "kept_study", "superseded_reason"
    )


def publish(staging: Staging, rooms: RoomDirectory | None = None) -> dict[str, pl.DataFrame]:
    """Every ingest table in contract shape and sorted: dedup, then re-sent reports resolved,
    then rooms assigned by ``rooms`` (the default rule when None)."""
    rooms = rooms or RoomDirectory()
    kept = _kept_files(staging.files)
    kept_paths = kept.get_column("kept_path")

    def rows(table: str) -> pl.DataFrame:
        df = staging.rows[table].filter(pl.col("source_path").is_in(kept_paths.implode()))
        return df.select(c for c in contract(table).column_names if c in df.columns)

    resolution = resolve_report_duplicates(
        rows("irradiation_events"), rows("accumulated_dose"), rows("event_image_refs")
    )
    superseded = pl.DataFrame(
        {
            "sop_instance_uid": list(resolution.superseded),
            "superseded_reason": list(resolution.superseded.values()),
        },
        schema={"sop_instance_uid": pl.String(), "superseded_reason": pl.String()},
    )
    files = _final_status(staging.files, kept, superseded)
    frames = {
        "dicom_files": files,
        "images": with_room_ids(rows("images"), rooms),
        "irradiation_events": with_room_ids(resolution.events, rooms),
        "accumulated_dose": resolution.accumulated,
        "event_image_refs": resolution.refs,
    }
    return {
        table: df.select(contract(table).column_names).sort(SORT_KEYS[table], nulls_last=True)
        for table, df in frames.items()
    }
