"""What one month's report shows, read from the published tables only.

Every figure comes from a published table (study_dose, dose_by_*_month, drl_comparison, dose_alerts,
skin_dose, unlinked_images, dicom_files): in pseudonymize mode the report can show no more than
they do. Tables without a month (unlinked_images, dicom_files) are narrowed to the month through
its studies in study_dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from xrf_assets.core.audit.months import month_window, parse_month
from xrf_assets.core.audit.study_dose import GY_M2_TO_GY_CM2
from xrf_assets.core.store import TableStore

TREND_MONTHS = 12
TOP_SKIN_MAPS = 3  # maps embedded beside those at or over the PSD alert level
MAX_SKIN_MAPS = 12
MAX_REASONS = 25  # rows of the data quality table; the rest are summed in one line


class ReportError(ValueError):
    """The month cannot be reported (its audit is not published); the message says what to run."""


@dataclass(frozen=True)
class SkinMapFigure:
    study_instance_uid: str
    acquisition_plane: str
    room_id: str | None
    peak_skin_dose_gy: float
    svg: str | None  # None: map_file named but not found under the output root


@dataclass(frozen=True)
class MonthContent:
    month: str
    studies: pl.DataFrame  # study_dose of the month
    by_room: pl.DataFrame  # dose_by_room_month
    by_procedure: pl.DataFrame  # dose_by_procedure_month
    drl: pl.DataFrame  # per procedure: median, p75 (local DRL candidate), reference level
    trend: pl.DataFrame  # dose_by_room_month of the 12 months ending with the month
    trend_months: list[str]  # those 12 months, oldest first
    alerts: pl.DataFrame  # dose_alerts
    skin: pl.DataFrame  # skin_dose
    skin_by_room: pl.DataFrame  # skin_dose_by_room_month
    skin_maps: list[SkinMapFigure]
    flagged: pl.DataFrame  # studies with mismatched totals or implausible values
    unlinked: pl.DataFrame  # unlinked images of the month's studies: reason, room, count
    files: pl.DataFrame  # dicom_files not read in full: status, reason, counts


def _drl(by_procedure: pl.DataFrame, drl: pl.DataFrame) -> pl.DataFrame:
    """p75 of each procedure's study DAP (dose_by_procedure_month) beside its reference level
    (drl_comparison): the local DRL candidate against the national or European level."""
    levels = drl.select("procedure", "drl_dap_gy_cm2", "drl_source")
    return (
        by_procedure.select(
            "procedure", "study_count", "dap_median_gy_cm2", "dap_p75_drl_candidate_gy_cm2"
        )
        .join(levels, on="procedure", how="left")
        .with_columns(
            p75_to_drl_ratio=pl.col("dap_p75_drl_candidate_gy_cm2") / pl.col("drl_dap_gy_cm2"),
            p75_above_drl=pl.col("dap_p75_drl_candidate_gy_cm2") > pl.col("drl_dap_gy_cm2"),
        )
        .sort("procedure")
    )


def _trend(store: TableStore, month: str) -> tuple[pl.DataFrame, list[str]]:
    window = month_window(month, TREND_MONTHS)
    present = set(store.months("dose_by_room_month"))
    frames = [store.read("dose_by_room_month", m) for m in window if m in present]
    trend = pl.concat(frames) if frames else store.read("dose_by_room_month", month)
    return trend.sort("month", "room_id", "modality"), window


def _plausibility_codes(events: pl.DataFrame) -> pl.DataFrame:
    """Per study: the plausibility codes of its events ('code: detail; ...'), counted."""
    codes = (
        events.filter(pl.col("plausibility").is_not_null())
        .select("study_instance_uid", pl.col("plausibility").str.split("; ").alias("code"))
        .explode("code")
        .with_columns(pl.col("code").str.split(":").list.first().str.strip_chars())
        .group_by("study_instance_uid", "code")
        .len()
        .sort("study_instance_uid", "code")
    )
    return codes.group_by("study_instance_uid", maintain_order=True).agg(
        pl.format("{} x{}", "code", "len").str.join(", ").alias("implausible_values")
    )


def _flagged(studies: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    flags = {
        "totals_mismatch": "DAP/Dose (RP) total differs from its events",
        "times_mismatch": "fluoro/acquisition time total differs from its events",
        "image_dap_mismatch": "image headers claim more DAP",
    }
    flagged = studies.filter(
        pl.any_horizontal(*(pl.col(c).fill_null(False) for c in flags))
        | (pl.col("implausible_event_count") > 0)
    )
    what = pl.concat_list(
        *(pl.when(pl.col(c).fill_null(False)).then(pl.lit(text)) for c, text in flags.items()),
        pl.when(pl.col("implausible_event_count") > 0).then(
            pl.format("{} implausible events", "implausible_event_count")
        ),
    ).list.drop_nulls()
    return (
        flagged.with_columns(
            flags=what.list.join("; "),
            event_dap_total_gy_cm2=pl.col("event_dap_total_gy_m2") * GY_M2_TO_GY_CM2,
            report_dap_total_gy_cm2=pl.col("report_dap_total_gy_m2") * GY_M2_TO_GY_CM2,
        )
        .join(_plausibility_codes(events), on="study_instance_uid", how="left")
        .sort("study_date", "study_instance_uid")
    )


def _unlinked(store: TableStore, studies: pl.DataFrame) -> pl.DataFrame:
    images = store.read("images").select("sop_instance_uid", "study_instance_uid")
    month_images = images.join(
        studies.select("study_instance_uid", "room_id"), on="study_instance_uid", how="inner"
    )
    return (
        store.read("unlinked_images")
        .join(month_images, on="sop_instance_uid", how="inner")
        .group_by("reason", "room_id")
        .agg(image_count=pl.len())
        .sort("reason", "room_id", nulls_last=True)
    )


def _files(store: TableStore, studies: pl.DataFrame) -> pl.DataFrame:
    """Files not read in full (dicom_files status other than ok), by status and kind of reason
    (UIDs, file ids and numbers as #, so one kind is one row): those of the month's studies,
    and the whole input tree (an unreadable file has no study to place it in a month)."""
    files = store.read("dicom_files").filter(pl.col("status") != "ok")
    month_uids = studies.get_column("study_instance_uid").implode()
    reason = (
        pl.col("reason")
        .fill_null("(no reason given)")
        .str.replace_all(r"\b[0-2](?:\.\d+){3,}\b", "#")  # UIDs
        .str.replace_all(r"\bfile-[0-9a-f]+\b", "#")  # keyed file ids
        .str.replace_all(r"\d+(?:\.\d+)?", "#")
    )
    return (
        files.with_columns(reason)
        .group_by("status", "reason")
        .agg(
            month_file_count=pl.col("study_instance_uid").is_in(month_uids).sum(),
            file_count=pl.len(),
        )
        .sort(["file_count", "status", "reason"], descending=[True, False, False])
    )


def _skin_maps(store: TableStore, skin: pl.DataFrame, alert_gy: float) -> list[SkinMapFigure]:
    """The maps of every study plane at or over the PSD alert level, and of the three highest
    (at most twelve: a map is thousands of SVG cells)."""
    mapped = skin.drop_nulls(["map_file", "peak_skin_dose_gy"])
    top = mapped.sort(["peak_skin_dose_gy", "study_instance_uid"], descending=[True, False])
    over = top.filter(pl.col("peak_skin_dose_gy") >= alert_gy).height
    figures = []
    for row in top.head(min(max(over, TOP_SKIN_MAPS), MAX_SKIN_MAPS)).iter_rows(named=True):
        path = Path(store.root) / row["map_file"]
        figures.append(
            SkinMapFigure(
                row["study_instance_uid"],
                row["acquisition_plane"],
                row["room_id"],
                row["peak_skin_dose_gy"],
                path.read_text(encoding="utf-8") if path.is_file() else None,
            )
        )
    return figures


def load_month(store: TableStore, month: str, psd_alert_gy: float) -> MonthContent:
    """The month's published audit; a month whose study_dose is not published cannot be reported."""
    parse_month(month)
    if month not in store.months("study_dose"):
        raise ReportError(
            f"no published audit for {month} under {store.root}: run the monthly_audit job "
            "(or xrf-dose run) for that month first"
        )
    studies = store.read("study_dose", month)
    by_procedure = store.read("dose_by_procedure_month", month)
    skin = store.read("skin_dose", month)
    trend, window = _trend(store, month)
    return MonthContent(
        month=month,
        studies=studies,
        by_room=store.read("dose_by_room_month", month),
        by_procedure=by_procedure,
        drl=_drl(by_procedure, store.read("drl_comparison", month)),
        trend=trend,
        trend_months=window,
        alerts=store.read("dose_alerts", month).sort("scope", "rule", "study_date", "value"),
        skin=skin,
        skin_by_room=store.read("skin_dose_by_room_month", month),
        skin_maps=_skin_maps(store, skin, psd_alert_gy),
        flagged=_flagged(studies, store.read("irradiation_events")),
        unlinked=_unlinked(store, studies),
        files=_files(store, studies),
    )
