"""``xrf-dose study UID``: one study's dose card from the published tables.

The card shows only what the tables publish (in pseudonymize mode the patient is the keyed hash
of study_dose.patient_id): the study_dose row with the source of each figure beside the device's
totals (TID 10004, accumulated_dose) and the sums of the events (TID 10003), the events, each
image with the event it was linked to and how (event_image_links), or why not (unlinked_images),
the study's peak skin dose (skin_dose) and the alerts naming it (dose_alerts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from xrf_assets.core.audit.study_dose import GY_M2_TO_GY_CM2
from xrf_assets.core.lookup.text import cell, number, table, to_json
from xrf_assets.core.store import TableStore

EVENT_COLUMNS = (
    "irradiation_event_uid",
    "acquisition_plane",
    "datetime_started",
    "event_type",
    "acquisition_protocol",
    "dap_gy_m2",
    "dose_rp_gy",
    "irradiation_duration_s",
    "kvp_kv",
    "plausibility",
    "unit_issues",
    "report_sop_instance_uid",
)
IMAGE_COLUMNS = (
    "sop_instance_uid",
    "study_instance_uid",
    "series_number",
    "instance_number",
    "acquisition_datetime",
    "number_of_frames",
)
LINK_COLUMNS = (
    "sop_instance_uid",
    "irradiation_event_uid",
    "link_method",
    "decided_by",
    "time_offset_s",
    "clock_offset_s",
    "clock_offset_source",
)
REPORT_COLUMNS = (
    "report_sop_instance_uid",
    "report_datetime",
    "acquisition_plane",
    "dap_total_gy_m2",
    "dose_rp_total_gy",
    "total_fluoro_time_s",
    "total_acquisition_time_s",
)
ALERT_COLUMNS = (
    "month",
    "study_instance_uid",
    "scope",
    "rule",
    "value",
    "threshold",
    "unit",
    "source",
    "estimate",
    "window_start_date",
    "window_end_date",
    "window_study_count",
    "window_study_uids",
)
SKIN_COLUMNS = ("acquisition_plane", "peak_skin_dose_gy", "psd_bound_gy", "map_file", "reason")
UNLINKED = "unlinked"

# study figure -> (unit, study_dose column, its source column, device total, events as sent,
# image headers); DAP twice, in Gy.m2 as stored and in Gy.cm2, the unit of alerts and DRLs
_FIGURES: dict[str, tuple[str, str, str, str | None, str | None, str | None]] = {
    "DAP": (
        "Gy.m2",
        "dap_total_gy_m2",
        "dap_source",
        "report_dap_total_gy_m2",
        "event_dap_total_gy_m2",
        "image_dap_total_gy_m2",
    ),
    "Dose (RP)": (
        "Gy",
        "dose_rp_total_gy",
        "dose_rp_source",
        "report_dose_rp_total_gy",
        "event_dose_rp_total_gy",
        None,
    ),
    "fluoro time": (
        "s",
        "fluoro_time_s",
        "fluoro_time_source",
        "report_fluoro_time_s",
        "event_fluoro_time_s",
        "image_fluoro_time_s",
    ),
    "acquisition time": (
        "s",
        "acquisition_time_s",
        "acquisition_time_source",
        "report_acquisition_time_s",
        "event_acquisition_time_s",
        None,
    ),
}
FLAG_COLUMNS = (
    "totals_mismatch",
    "times_mismatch",
    "image_dap_mismatch",
    "implausible_event_count",
    "dap_missing_event_count",
    "dose_rp_missing_event_count",
)


class LookupNotFound(LookupError):
    """Nothing published under the UID or ID asked for; the message says where it looked."""


@dataclass(frozen=True)
class StudyCard:
    study: dict[str, Any]  # the study_dose row
    patient: dict[str, Any]  # sex and age as the study's events (else images) publish them
    totals: pl.DataFrame  # figure, unit, value, source, device_total, event_sum, image_headers
    reports: pl.DataFrame  # accumulated_dose rows of the study's reports
    events: pl.DataFrame  # EVENT_COLUMNS and event_number (1.. by start time)
    images: pl.DataFrame  # one row per image and link: IMAGE_COLUMNS, the link or why none
    skin: pl.DataFrame  # skin_dose rows of the study
    alerts: pl.DataFrame  # dose_alerts rows naming the study (its own, and patient windows)

    @property
    def link_counts(self) -> dict[str, int]:
        """Links by method, then images without a link by reason (``unlinked: reason``)."""
        linked = self.images.drop_nulls("link_method")["link_method"].value_counts()
        unlinked = self.images.filter(pl.col("link_method").is_null())
        reasons = unlinked["unlinked_reason"].fill_null("(no reason published)").value_counts()
        counts = {m: n for m, n in linked.sort("link_method").iter_rows()}
        counts |= {f"{UNLINKED}: {r}": n for r, n in reasons.sort("unlinked_reason").iter_rows()}
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "patient": self.patient,
            "totals": self.totals.to_dicts(),
            "reports": self.reports.to_dicts(),
            "events": self.events.to_dicts(),
            "images": self.images.to_dicts(),
            "link_counts": self.link_counts,
            "skin_dose": self.skin.to_dicts(),
            "alerts": self.alerts.to_dicts(),
        }

    def to_json(self) -> str:
        return to_json(self.to_dict())

    def render(self) -> str:
        return render_study_card(self)


def _totals(study: dict[str, Any], skin: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for figure, (unit, value, source, device, events, images) in _FIGURES.items():
        row = {
            "figure": figure,
            "unit": unit,
            "value": study[value],
            "source": study[source],
            "device_total": study[device] if device else None,
            "event_sum": study[events] if events else None,
            "image_headers": study[images] if images else None,
        }
        rows.append(row)
        if unit == "Gy.m2":
            rows.append(
                row
                | {"unit": "Gy.cm2"}
                | {k: _cm2(row[k]) for k in ("value", "device_total", "event_sum", "image_headers")}
            )
    psd = skin["peak_skin_dose_gy"].max()  # the highest plane row, as the PSD alert takes it
    rows.append(
        {"figure": "peak skin dose", "unit": "Gy", "value": psd, "source": "skin_dose"}
        if psd is not None
        else {"figure": "peak skin dose", "unit": "Gy"}
    )
    schema = {
        "figure": pl.String,
        "unit": pl.String,
        "value": pl.Float64,
        "source": pl.String,
        "device_total": pl.Float64,
        "event_sum": pl.Float64,
        "image_headers": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def _cm2(value: float | None) -> float | None:
    return None if value is None else value * GY_M2_TO_GY_CM2


def _among(column: str, values: pl.Series) -> pl.Expr:
    """Rows whose ``column`` is one of ``values`` (one imploded list: polars 2 scans a plain
    list or Series in ``is_in`` a hundred times slower)."""
    return pl.col(column).is_in(values.implode())


def _images(store: TableStore, uid: str, events: pl.DataFrame) -> pl.DataFrame:
    """The study's images and those filed under another study but linked to its events, one row
    per image and link, else with the reason unlinked_images gives."""
    own = store.read("images", where=pl.col("study_instance_uid") == uid)
    links = store.read(
        "event_image_links",
        where=_among("sop_instance_uid", own["sop_instance_uid"])
        | _among("irradiation_event_uid", events["irradiation_event_uid"]),
    ).select(LINK_COLUMNS)
    elsewhere = links.filter(~_among("sop_instance_uid", own["sop_instance_uid"]))
    images = pl.concat(
        [
            own.select(IMAGE_COLUMNS),
            store.read(
                "images", where=_among("sop_instance_uid", elsewhere["sop_instance_uid"])
            ).select(IMAGE_COLUMNS),
        ]
    )
    unlinked = store.read(
        "unlinked_images", where=_among("sop_instance_uid", images["sop_instance_uid"])
    ).select(
        "sop_instance_uid",
        pl.col("reason").alias("unlinked_reason"),
        pl.col("nearest_gap_s").alias("unlinked_nearest_gap_s"),
    )
    return (
        images.join(links, on="sop_instance_uid", how="left")
        .join(
            events.select("irradiation_event_uid", "event_number"),
            on="irradiation_event_uid",
            how="left",
        )
        .join(unlinked, on="sop_instance_uid", how="left")
        .sort("acquisition_datetime", "series_number", "instance_number", "sop_instance_uid")
    )


def study_card(store: TableStore, uid: str) -> StudyCard:
    """The card of the study ``uid`` as published; :class:`LookupNotFound` if study_dose has no
    row for it."""
    rows = store.read("study_dose", where=pl.col("study_instance_uid") == uid)
    if rows.is_empty():
        raise LookupNotFound(_not_found(store, uid))
    study = rows.row(0, named=True)
    events = (
        store.read("irradiation_events", where=pl.col("study_instance_uid") == uid)
        .sort("datetime_started", "acquisition_plane", "irradiation_event_uid", nulls_last=True)
        .with_row_index("event_number", offset=1)
        .with_columns(pl.col("event_number").cast(pl.Int64))
    )
    images = _images(store, uid, events)
    skin = store.read("skin_dose", month=study["month"], where=pl.col("study_instance_uid") == uid)
    alerts = store.read(
        "dose_alerts",
        where=(pl.col("study_instance_uid") == uid)
        | pl.col("window_study_uids").list.contains(uid),
    ).sort("month", "scope", "rule", descending=[False, True, False])
    return StudyCard(
        study=study,
        patient=_patient(store, study, events),
        totals=_totals(study, skin),
        reports=store.read("accumulated_dose", where=pl.col("study_instance_uid") == uid)
        .select(REPORT_COLUMNS)
        .sort("report_datetime", "report_sop_instance_uid", "acquisition_plane"),
        events=events.select("event_number", *EVENT_COLUMNS),
        images=images,
        skin=skin.select(SKIN_COLUMNS),
        alerts=alerts.select(ALERT_COLUMNS),
    )


def _patient(store: TableStore, study: dict[str, Any], events: pl.DataFrame) -> dict[str, Any]:
    """The patient as published: study_dose's ID (a keyed hash in pseudonymize mode), and sex and
    age (whole years in pseudonymize mode) of the study's events, else of its images."""
    rows = events
    if rows.is_empty():
        where = pl.col("study_instance_uid") == study["study_instance_uid"]
        rows = store.read("images", where=where)
    return {
        "patient_id": study["patient_id"],
        "patient_sex": rows["patient_sex"].drop_nulls().first(),
        "patient_age_years": rows["patient_age_years"].drop_nulls().first(),
    }


def _not_found(store: TableStore, uid: str) -> str:
    where = pl.col("study_instance_uid") == uid
    heights = {t: store.read(t, where=where).height for t in ("irradiation_events", "images")}
    seen = [f"{n} {t}" for t, n in heights.items() if n]
    if seen:
        return (
            f"study {uid} has {' and '.join(seen)} rows but no study_dose row under "
            f"{store.root}: its month is not audited (see xrf-dose run)"
        )
    return f"no study {uid} in study_dose under {store.root}"


def _how(row: dict[str, Any]) -> str:
    """How the image's event is known: the image's own event UID, the report's reference, or a
    time window (with what decided between windows), else why no event was linked."""
    method = row["link_method"]
    if method is None:
        return f"{UNLINKED}: {row['unlinked_reason'] or '(no reason published)'}"
    if method == "time_window" and row["decided_by"] not in (None, "time"):
        return f"{method} ({row['decided_by']})"
    return str(method)


def _section(title: str, frame: pl.DataFrame, body: str) -> list[str]:
    """A titled block of the card; 'none' where the tables have no row for it."""
    return ["", f"{title}: none"] if frame.is_empty() else ["", f"{title}:", body]


def render_study_card(card: StudyCard) -> str:
    """The card as aligned plain text for the terminal."""
    s, p = card.study, card.patient
    age = p["patient_age_years"]
    lines = [
        f"Study {s['study_instance_uid']}",
        f"  patient      {cell(p['patient_id'])} (sex {cell(p['patient_sex'])}, age "
        f"{'-' if age is None else f'{age:g}'} years)",
        f"  date         {cell(s['study_date'])} (month {s['month']})",
        f"  room         {cell(s['room_id'])} ({cell(s['modality'])})",
        f"  procedure    {cell(s['procedure'])} "
        f"(study description: {cell(s['study_description'])})",
        f"  accession    {cell(s['accession_number'])}",
        f"  dose source  {s['dose_source']}: {s['report_count']} dose report(s), "
        f"{s['event_count']} events, {s['image_count']} images ({s['linked_image_count']} linked)",
        "",
        "Totals (value: the study's figure, taken from source; device total: the reports'",
        "accumulated dose, TID 10004; events as sent: TID 10003 summed, flagged values included;",
        "headers: the image-header estimate, (0018,115E) and (0018,1242)):",
        table(
            ["figure", "unit", "value", "source", "device total", "events as sent", "headers"],
            [
                [
                    t["figure"],
                    t["unit"],
                    number(t["value"], t["unit"]),
                    cell(t["source"]),
                    *(number(t[k], t["unit"]) for k in ("device_total", "event_sum")),
                    number(t["image_headers"], t["unit"]),
                ]
                for t in card.totals.iter_rows(named=True)
            ],
            [False, False, True, False, True, True, True],
        ),
        "  checks: " + "; ".join(f"{c.replace('_', ' ')} {cell(s[c])}" for c in FLAG_COLUMNS),
    ]
    lines += _section(
        "Dose reports (accumulated_dose)",
        card.reports,
        table(
            ["report", "content time", "plane", "DAP Gy.m2", "Dose(RP) Gy", "fluoro s", "acq s"],
            [
                [
                    r["report_sop_instance_uid"],
                    cell(r["report_datetime"]),
                    r["acquisition_plane"],
                    number(r["dap_total_gy_m2"], "Gy.m2"),
                    number(r["dose_rp_total_gy"], "Gy"),
                    number(r["total_fluoro_time_s"], "s"),
                    number(r["total_acquisition_time_s"], "s"),
                ]
                for r in card.reports.iter_rows(named=True)
            ],
            [False, False, False, True, True, True, True],
        ),
    )
    lines += _section(
        f"Irradiation events ({card.events.height})",
        card.events,
        table(
            [
                *("#", "started", "plane", "type", "protocol", "DAP Gy.m2", "Dose(RP) Gy"),
                *("duration s", "kVp", "event", "flags"),
            ],
            [
                [
                    str(e["event_number"]),
                    cell(e["datetime_started"]),
                    cell(e["acquisition_plane"]),
                    cell(e["event_type"]),
                    cell(e["acquisition_protocol"]),
                    number(e["dap_gy_m2"], "Gy.m2"),
                    number(e["dose_rp_gy"], "Gy"),
                    number(e["irradiation_duration_s"], "s"),
                    number(e["kvp_kv"], "kV"),
                    e["irradiation_event_uid"],
                    "; ".join(f for f in (e["plausibility"], e["unit_issues"]) if f) or "",
                ]
                for e in card.events.iter_rows(named=True)
            ],
            [True, False, False, False, False, True, True, True, True, False, False],
        ),
    )
    counts = ", ".join(f"{k} {n}" for k, n in card.link_counts.items()) or "none"
    lines += _section(
        f"Images ({card.images['sop_instance_uid'].n_unique()}; links by method: {counts})",
        card.images,
        "(from start: the image time, clock corrected, after the event's start; clock: the "
        "offset of the image clock from the report clock)\n"
        + table(
            [
                *("acquired", "series", "instance", "frames", "event #", "how"),
                *("from start s", "clock s", "image"),
            ],
            [
                [
                    cell(i["acquisition_datetime"]),
                    cell(i["series_number"]),
                    cell(i["instance_number"]),
                    cell(i["number_of_frames"]),
                    cell(i["event_number"]),
                    _how(i),
                    number(i["time_offset_s"], "s"),
                    number(i["clock_offset_s"], "s"),
                    i["sop_instance_uid"]
                    + (
                        ""
                        if i["study_instance_uid"] == s["study_instance_uid"]
                        else f" (filed under study {cell(i['study_instance_uid'])})"
                    ),
                ]
                for i in card.images.iter_rows(named=True)
            ],
            [False, True, True, True, True, False, True, True, False],
        ),
    )
    lines += _section(
        "Peak skin dose (skin_dose)",
        card.skin,
        table(
            ["plane", "PSD Gy", "bound Gy", "map, or why no PSD"],
            [
                [
                    k["acquisition_plane"],
                    number(k["peak_skin_dose_gy"], "Gy"),
                    number(k["psd_bound_gy"], "Gy"),
                    cell(k["map_file"] if k["peak_skin_dose_gy"] is not None else k["reason"]),
                ]
                for k in card.skin.iter_rows(named=True)
            ],
            [False, True, True, False],
        ),
    )
    lines += _section(
        "Alerts (dose_alerts: this study's rules, and patient windows that include it)",
        card.alerts,
        alerts_table(card.alerts),
    )
    return "\n".join(lines)


def alerts_table(alerts: pl.DataFrame) -> str:
    """dose_alerts rows: rule, figure and threshold, and the study (study rules) or the window
    of studies summed (patient rules)."""
    return table(
        ["month", "scope", "rule", "value", "threshold", "unit", "source", "study or window"],
        [
            [
                a["month"],
                a["scope"],
                a["rule"],
                number(a["value"], a["unit"]),
                number(a["threshold"], a["unit"]),
                a["unit"],
                cell(a["source"]) + (" (estimate)" if a["estimate"] else ""),
                cell(a["study_instance_uid"])
                if a["scope"] == "study"
                else f"{cell(a['window_start_date'])}..{cell(a['window_end_date'])}, "
                f"{a['window_study_count']} studies",
            ]
            for a in alerts.iter_rows(named=True)
        ],
        [False, False, False, True, True, False, False, False],
    )
