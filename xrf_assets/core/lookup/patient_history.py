"""``xrf-dose patient ID``: one patient's studies over time, with rolling sums, and the alerts.

ID is study_dose.patient_id as published: in pseudonymize mode the keyed hash, so the lookup
needs no key and shows nothing the tables do not. A study's figures are study_dose's (the
device's totals where sent; image-header estimates marked); its peak skin dose is the highest
plane row of skin_dose, as the PSD alert takes it. The rolling sums run over the patient's
studies in date order (then UID), up to and including each study: all of them (cumulative), and
those of the 12 months and of the 90 days ending with its date. A study without a figure adds
nothing to a sum (the sums are then lower bounds; the study shows '-').
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from xrf_assets.core.lookup.study_card import ALERT_COLUMNS, LookupNotFound, alerts_table
from xrf_assets.core.lookup.text import cell, number, table, to_json
from xrf_assets.core.store import TableStore

STUDY_COLUMNS = (
    "study_date",
    "month",
    "study_instance_uid",
    "room_id",
    "procedure",
    "dose_source",
    "dap_total_gy_cm2",
    "dap_source",
    "dose_rp_total_gy",
    "dose_rp_source",
    "fluoro_time_s",
    "fluoro_time_source",
)
# figure -> (study_dose column, unit); sums are named <figure>_<window>_<unit as in the column>
SUMMED = {"dap": ("dap_total_gy_cm2", "Gy.cm2"), "dose_rp": ("dose_rp_total_gy", "Gy")}


def year_before(day: date) -> date:
    """The same day 12 months earlier (29 February: the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


@dataclass(frozen=True)
class Window:
    name: str  # column infix
    description: str  # for the header
    after: Callable[[date], date | None]  # a study counts if dated after this (None: all)


WINDOWS = (
    Window("cumulative", "cumulative: every study up to this one", lambda d: None),
    Window("12mo", "12mo: the studies dated after the same day 12 months earlier", year_before),
    Window(
        "90d", "90d: the studies of the 90 days ending with this date", lambda d: d - timedelta(90)
    ),
)


def sum_column(figure: str, window: Window) -> str:
    column, _ = SUMMED[figure]
    return f"{figure}_{window.name}_{column.split('_total_')[1]}"


def rolling_sums(studies: pl.DataFrame) -> pl.DataFrame:
    """``studies`` (in date order) with the sums of DAP and Dose (RP) per window up to each."""
    dates = studies["study_date"].to_list()
    sums: dict[str, list[float]] = {}
    for figure, (column, _) in SUMMED.items():
        values = studies[column].to_list()
        for window in WINDOWS:
            sums[sum_column(figure, window)] = [
                sum(
                    v
                    for d, v in zip(dates[: i + 1], values[: i + 1], strict=True)
                    if v is not None and ((after := window.after(day)) is None or d > after)
                )
                for i, day in enumerate(dates)
            ]
    return studies.with_columns(pl.DataFrame(sums, schema=dict.fromkeys(sums, pl.Float64)))


@dataclass(frozen=True)
class PatientHistory:
    patient_id: str
    studies: pl.DataFrame  # STUDY_COLUMNS, peak_skin_dose_gy, then the rolling sums
    alerts: pl.DataFrame  # dose_alerts rows of the patient

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "windows": {w.name: w.description for w in WINDOWS},
            "studies": self.studies.to_dicts(),
            "alerts": self.alerts.to_dicts(),
        }

    def to_json(self) -> str:
        return to_json(self.to_dict())

    def render(self) -> str:
        return render_patient_history(self)


def patient_history(store: TableStore, patient_id: str) -> PatientHistory:
    """The studies study_dose publishes for ``patient_id``; :class:`LookupNotFound` if none."""
    where = pl.col("patient_id") == patient_id
    studies = store.read("study_dose", where=where).sort("study_date", "study_instance_uid")
    if studies.is_empty():
        raise LookupNotFound(
            f"no patient {patient_id} in study_dose under {store.root} (give the patient_id the "
            "tables publish: in pseudonymize mode its keyed hash)"
        )
    psd = (
        store.read("skin_dose", where=where)
        .group_by("study_instance_uid")
        .agg(peak_skin_dose_gy=pl.col("peak_skin_dose_gy").max())
    )
    studies = studies.select(STUDY_COLUMNS).join(psd, on="study_instance_uid", how="left")
    alerts = (
        store.read("dose_alerts", where=where)
        .sort("month", "scope", "rule", descending=[False, True, False])
        .select(ALERT_COLUMNS)
    )
    return PatientHistory(patient_id, rolling_sums(studies), alerts)


def render_patient_history(history: PatientHistory) -> str:
    """The history as aligned plain text for the terminal."""
    studies = history.studies
    estimates = studies.filter(pl.col("dose_source") == "image_headers").height
    lines = [
        f"Patient {history.patient_id}: {studies.height} "
        f"{'study' if studies.height == 1 else 'studies'}, "
        f"{cell(studies['study_date'].min())} to {cell(studies['study_date'].max())}",
        "Figures as study_dose publishes them (the device's totals where sent; * marks "
        f"image-header estimates: {estimates}); PSD: highest plane of skin_dose.",
        "Rolling sums of DAP (Gy.cm2) and Dose (RP) (Gy) over the patient's studies in date "
        "order, each up to and including its row:",
        *(f"  {w.description}" for w in WINDOWS),
        "",
    ]
    sum_headers = [f"{'DAP' if f == 'dap' else 'RP'} {w.name}" for f in SUMMED for w in WINDOWS]
    rows = []
    for s in studies.iter_rows(named=True):
        star = "*" if s["dose_source"] == "image_headers" else ""
        rows.append(
            [
                cell(s["study_date"]),
                cell(s["room_id"]),
                cell(s["procedure"]),
                number(s["dap_total_gy_cm2"], "Gy.cm2") + star,
                number(s["dose_rp_total_gy"], "Gy"),
                number(s["fluoro_time_s"], "s") + star,
                number(s["peak_skin_dose_gy"], "Gy"),
                *(number(s[sum_column(f, w)], SUMMED[f][1]) for f in SUMMED for w in WINDOWS),
                s["study_instance_uid"],
            ]
        )
    headers = ["date", "room", "procedure", "DAP Gy.cm2", "Dose(RP) Gy", "fluoro s", "PSD Gy"]
    lines.append(
        table(
            [*headers, *sum_headers, "study"],
            rows,
            [False, False, False, *([True] * (4 + len(sum_headers))), False],
        )
    )
    if history.alerts.is_empty():
        lines += ["", "Alerts (dose_alerts): none"]
    else:
        lines += ["", "Alerts (dose_alerts):", alerts_table(history.alerts)]
    return "\n".join(lines)
