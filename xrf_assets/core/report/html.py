"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no scripts.

Sections follow what a physicist files for a month (numbered, units in every heading) and end
with a review and signature block. The page carries no date of its own, so a rerun on the same
tables gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from html import escape

import polars as pl

from xrf_assets.core.audit.statistics import UNKNOWN_ROOM, UNMAPPED_PROCEDURE
from xrf_assets.core.report import charts
from xrf_assets.core.report.content import MAX_REASONS, MonthContent
from xrf_assets.core.report.settings import ReportSettings

SECTIONS: tuple[tuple[str, str], ...] = (
    ("studies", "Studies per room and procedure (count)"),
    ("rooms", "Dose per room: DAP (Gy.cm2), Dose (RP) (Gy), fluoroscopy time (min)"),
    ("procedures", "Dose per procedure: DAP (Gy.cm2), Dose (RP) (Gy), fluoroscopy time (min)"),
    ("drl", "Local DRL candidates (p75) against reference levels: study DAP (Gy.cm2)"),
    ("trend", "12-month trend per room: studies (count), median DAP (Gy.cm2)"),
    ("alerts", "Dose alerts: value and threshold (unit of the rule)"),
    ("skin", "High-dose studies: peak skin dose (Gy) and skin dose maps"),
    ("flagged", "Studies flagged: mismatched totals or implausible values (Gy.cm2, Gy, s)"),
    ("unlinked", "Unlinked images by reason (count)"),
    ("files", "Data quality: files not read in full, by reason (count)"),
    ("settings", "Settings the month was computed with (units in each name)"),
    ("signature", "Review and signature (date: YYYY-MM-DD)"),
)
HEADINGS = {key: f"{i}. {text}" for i, (key, text) in enumerate(SECTIONS, start=1)}

_CSS = """
body { font-family: sans-serif; font-size: 10.5pt; color: #222; margin: 2em auto; max-width: 62em; }
h1 { font-size: 18pt; margin-bottom: 0.2em; }
h2 { font-size: 13pt; border-bottom: 1px solid #999; margin-top: 1.6em; }
h3 { font-size: 11pt; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 9pt; }
th, td { border: 1px solid #bbb; padding: 2px 6px; vertical-align: top; }
th { background: #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr { break-inside: avoid; }
figure { margin: 0.6em 0; break-inside: avoid; }
figure svg { max-width: 100%; height: auto; }
p.note { color: #555; font-size: 9pt; }
dl.figures { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; }
dl.figures dt { font-weight: bold; }
table.sign td { height: 2.4em; min-width: 16em; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
"""


def number(value: float) -> str:
    """Four significant digits without an exponent (the precision of a dose figure)."""
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.2e}"


def _cell(value: object) -> str:
    if value is None:
        return "<td>&#8211;</td>"  # en dash: no value
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, float):
        return f'<td class="num">{number(value)}</td>'
    if isinstance(value, date):
        return f"<td>{value.isoformat()}</td>"
    if isinstance(value, list):
        return f"<td>{escape(', '.join(map(str, value)))}</td>"
    return f"<td>{escape(str(value))}</td>"


def table(frame: pl.DataFrame, columns: Sequence[tuple[str, str]], css: str = "") -> str:
    """``columns``: (column of ``frame``, heading with its unit)."""
    if frame.is_empty():
        return '<p class="note">None.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    rows = "".join(
        "<tr>" + "".join(_cell(row[c]) for c, _ in columns) + "</tr>"
        for row in frame.select([c for c, _ in columns]).iter_rows(named=True)
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _figure(svg: str | None, caption: str) -> str:
    if svg is None:
        return '<p class="note">No data to plot.</p>'
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _minutes(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        (pl.col(f"fluoro_time_{s}_s") / charts.SECONDS_PER_MINUTE).alias(f"fluoro_time_{s}_min")
        for s in ("median", "p75_drl_candidate", "max")
    )


_DOSE_COLUMNS = [
    ("study_count", "studies"),
    ("estimated_study_count", "of which estimated from images"),
    ("dap_median_gy_cm2", "DAP median (Gy.cm2)"),
    ("dap_p75_drl_candidate_gy_cm2", "DAP p75 (Gy.cm2)"),
    ("dap_max_gy_cm2", "DAP max (Gy.cm2)"),
    ("dose_rp_median_gy", "Dose (RP) median (Gy)"),
    ("dose_rp_p75_drl_candidate_gy", "Dose (RP) p75 (Gy)"),
    ("dose_rp_max_gy", "Dose (RP) max (Gy)"),
    ("fluoro_time_median_min", "fluoro time median (min)"),
    ("fluoro_time_p75_drl_candidate_min", "fluoro time p75 (min)"),
    ("fluoro_time_max_min", "fluoro time max (min)"),
]


def _studies(c: MonthContent) -> str:
    """Procedures down, rooms across: a site has a few rooms and many procedures."""
    counts = c.studies.select(
        pl.col("room_id").fill_null(UNKNOWN_ROOM),
        pl.col("procedure").fill_null(UNMAPPED_PROCEDURE),
    )
    if counts.is_empty():
        return '<p class="note">No studies in this month.</p>'
    rooms = sorted(counts.get_column("room_id").unique().to_list())
    grid = (
        counts.group_by("procedure", "room_id")
        .len()
        .pivot(on="room_id", index="procedure", values="len")
        .fill_null(0)
        .with_columns(total=pl.sum_horizontal(rooms))
        .sort("procedure")
    )
    totals = grid.select(pl.lit("all procedures").alias("procedure"), pl.exclude("procedure").sum())
    columns = [("procedure", "procedure"), *((r, f"room {r}") for r in rooms)]
    columns.append(("total", "all rooms"))
    return table(pl.concat([grid, totals]), columns) + (
        f'<p class="note">{c.studies.height} studies; room of most of each study\'s events, '
        "procedure from the procedures file (study_dose).</p>"
    )


def _rooms(c: MonthContent) -> str:
    columns = [("room_id", "room"), ("modality", "kind"), ("patient_count", "patients")]
    return _figure(
        charts.distributions(c.studies, "room_id", UNKNOWN_ROOM, "rooms"),
        "Per room: boxes span the quartiles, the red line is the median, dots are studies.",
    ) + table(_minutes(c.by_room), [*columns, *_DOSE_COLUMNS])


def _procedures(c: MonthContent) -> str:
    return _figure(
        charts.distributions(c.studies, "procedure", UNMAPPED_PROCEDURE, "procedures"),
        "Per procedure: boxes span the quartiles, the red line is the median, dots are studies.",
    ) + table(_minutes(c.by_procedure), [("procedure", "procedure"), *_DOSE_COLUMNS])


def _drl(c: MonthContent) -> str:
    columns = [
        ("procedure", "procedure"),
        ("study_count", "studies"),
        ("dap_median_gy_cm2", "median DAP (Gy.cm2)"),
        ("dap_p75_drl_candidate_gy_cm2", "local DRL candidate p75 (Gy.cm2)"),
        ("drl_dap_gy_cm2", "reference level (Gy.cm2)"),
        ("p75_to_drl_ratio", "p75 / reference level (1)"),
        ("p75_above_drl", "p75 above reference level"),
        ("drl_source", "source of the level"),
    ]
    return _figure(charts.drl_chart(c.drl), "Bars: p75; dots: median; red ticks: level.") + table(
        c.drl, columns
    )


def _trend(c: MonthContent) -> str:
    columns = [
        ("month", "month"),
        ("room_id", "room"),
        ("modality", "kind"),
        ("study_count", "studies"),
        ("dap_median_gy_cm2", "DAP median (Gy.cm2)"),
        ("dap_p75_drl_candidate_gy_cm2", "DAP p75 (Gy.cm2)"),
        ("dose_rp_median_gy", "Dose (RP) median (Gy)"),
    ]
    months = sorted(set(c.trend.get_column("month")))
    note = (
        f'<p class="note">{c.trend_months[0]} to {c.trend_months[-1]}; months with a published '
        f"audit: {', '.join(months) or 'none'}.</p>"
    )
    return note + _figure(charts.trend_chart(c.trend, c.trend_months), "") + table(c.trend, columns)


def _alerts(c: MonthContent) -> str:
    alerts = c.alerts.with_columns(
        subject=pl.when(pl.col("scope") == "study")
        .then(pl.format("study {}", "study_instance_uid"))
        .otherwise(pl.format("patient {} ({} studies)", "patient_id", "window_study_count"))
    )
    columns = [
        ("scope", "scope"),
        ("rule", "rule"),
        ("value", "value"),
        ("threshold", "threshold"),
        ("unit", "unit"),
        ("source", "source of the value"),
        ("estimate", "estimate"),
        ("room_id", "room"),
        ("study_date", "study date"),
        ("subject", "study or patient"),
    ]
    return table(alerts, columns)


def _skin(c: MonthContent, settings: ReportSettings) -> str:
    level = settings.thresholds.peak_skin_dose_gy
    by_room = [
        ("room_id", "room"),
        ("procedure", "procedure"),
        ("study_count", "studies"),
        ("psd_computed_count", "with PSD"),
        ("psd_median_gy", "PSD median (Gy)"),
        ("psd_p75_gy", "PSD p75 (Gy)"),
        ("psd_max_gy", "PSD max (Gy)"),
        ("psd_at_or_over_alert_count", f"at or over {level:g} Gy"),
    ]
    parts = [table(c.skin_by_room, by_room)]
    for m in c.skin_maps:
        over = m.peak_skin_dose_gy >= level
        title = (
            f"Study {m.study_instance_uid}, {m.acquisition_plane}, "
            f"room {m.room_id or UNKNOWN_ROOM}: "
            f"peak skin dose {number(m.peak_skin_dose_gy)} Gy"
            + (f" (at or over the {level:g} Gy alert level)" if over else "")
        )
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append(
            f"<figure>{m.svg}</figure>" if m.svg else '<p class="note">Map file not found.</p>'
        )
    unmapped = c.skin.filter(pl.col("peak_skin_dose_gy").is_null())
    if unmapped.height:
        parts.append(
            f'<p class="note">{unmapped.height} study planes without a peak skin dose '
            "(skin_dose.reason names what their events lack).</p>"
        )
    return "".join(parts)


def _flagged(c: MonthContent) -> str:
    columns = [
        ("study_instance_uid", "study"),
        ("study_date", "study date"),
        ("room_id", "room"),
        ("flags", "flags"),
        ("dap_total_gy_cm2", "DAP used (Gy.cm2)"),
        ("report_dap_total_gy_cm2", "DAP report total (Gy.cm2)"),
        ("event_dap_total_gy_cm2", "DAP event sum (Gy.cm2)"),
        ("dose_rp_total_gy", "Dose (RP) used (Gy)"),
        ("report_dose_rp_total_gy", "Dose (RP) report total (Gy)"),
        ("event_dose_rp_total_gy", "Dose (RP) event sum (Gy)"),
        ("report_fluoro_time_s", "fluoro time report total (s)"),
        ("event_fluoro_time_s", "fluoro time event sum (s)"),
        ("implausible_values", "implausible values (events)"),
    ]
    return table(c.flagged, columns) + (
        '<p class="note">The audit uses the device totals where sent, and never a value flagged '
        "implausible (study_dose).</p>"
    )


def _unlinked(c: MonthContent) -> str:
    images = int(c.studies.get_column("image_count").sum())
    linked = int(c.studies.get_column("linked_image_count").sum())
    note = f'<p class="note">{linked} of {images} images of the month\'s studies are linked.</p>'
    columns = [("reason", "reason"), ("room_id", "room"), ("image_count", "images")]
    return note + table(c.unlinked, columns)


def _files(c: MonthContent) -> str:
    shown, rest = c.files.head(MAX_REASONS), c.files.slice(MAX_REASONS)
    columns = [
        ("status", "status"),
        ("reason", "reason (UIDs, file ids, numbers as #)"),
        ("month_file_count", "files of this month's studies"),
        ("file_count", "files in the input tree"),
    ]
    more = (
        f'<p class="note">{rest.height} other reasons, {int(rest["file_count"].sum())} files '
        "(dicom_files).</p>"
        if rest.height
        else ""
    )
    return table(shown, columns) + more


def _settings(settings: ReportSettings) -> str:
    frame = pl.DataFrame(settings.rows(), schema=["setting", "value"], orient="row")
    return table(frame, [("setting", "setting"), ("value", "value")])


def _signature() -> str:
    rows = "".join(
        f"<tr><th>{label}</th><td></td></tr>"
        for label in ("Reviewed by (name, role)", "Signature", "Date (YYYY-MM-DD)", "Comments")
    )
    return f'<table class="sign"><tbody>{rows}</tbody></table>'


_FIGURE_LABELS = {
    "studies": "studies (count)",
    "rooms": "rooms (count)",
    "alerts": "dose alerts (count)",
    "procedures_p75_above_drl": "procedures with p75 above the reference level (count)",
    "studies_psd_at_or_over_alert": "studies with peak skin dose at or over the alert (count)",
    "studies_flagged": "studies flagged (count)",
    "unlinked_images": "unlinked images (count)",
    "files_not_read_in_full": "files in the input tree not read in full (count)",
}


def key_figures(c: MonthContent, settings: ReportSettings) -> dict[str, int]:
    """The month at a glance (also the asset's metadata)."""
    level = settings.thresholds.peak_skin_dose_gy
    return {
        "studies": c.studies.height,
        "rooms": c.studies.get_column("room_id").n_unique(),
        "alerts": c.alerts.height,
        "procedures_p75_above_drl": int(c.drl.get_column("p75_above_drl").sum()),
        "studies_psd_at_or_over_alert": c.skin.filter(pl.col("peak_skin_dose_gy") >= level)
        .get_column("study_instance_uid")
        .n_unique(),
        "studies_flagged": c.flagged.height,
        "unlinked_images": int(c.unlinked.get_column("image_count").sum()),
        "files_not_read_in_full": int(c.files.get_column("file_count").sum()),
    }


def render(c: MonthContent, settings: ReportSettings) -> str:
    bodies: dict[str, Callable[[], str]] = {
        "studies": lambda: _studies(c),
        "rooms": lambda: _rooms(c),
        "procedures": lambda: _procedures(c),
        "drl": lambda: _drl(c),
        "trend": lambda: _trend(c),
        "alerts": lambda: _alerts(c),
        "skin": lambda: _skin(c, settings),
        "flagged": lambda: _flagged(c),
        "unlinked": lambda: _unlinked(c),
        "files": lambda: _files(c),
        "settings": lambda: _settings(settings),
        "signature": _signature,
    }
    figures = "".join(
        f"<dt>{escape(_FIGURE_LABELS[name])}</dt><dd>{value}</dd>"
        for name, value in key_figures(c, settings).items()
    )
    privacy = (
        "Patient identifiers are keyed hashes (pseudonymize mode); no names or paths are shown."
        if settings.pseudonymized
        else "Identified mode: patient identifiers are shown as sent."
    )
    sections = "".join(
        f'<section id="{key}"><h2>{escape(HEADINGS[key])}</h2>{bodies[key]()}</section>'
        for key, _ in SECTIONS
    )
    title = f"Monthly dose audit {c.month}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>X-ray fluoroscopy and angiography, studies by study date. "
        f'{escape(privacy)}</p><dl class="figures">{figures}</dl>{sections}</body></html>\n'
    )
