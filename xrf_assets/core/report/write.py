"""Write one month's report: ``<output>/reports/YYYY-MM/audit.html`` and ``audit.pdf``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from xrf_assets.core.report.content import load_month
from xrf_assets.core.report.html import HEADINGS, key_figures, render
from xrf_assets.core.report.pdf import print_pdf
from xrf_assets.core.report.settings import ReportSettings
from xrf_assets.core.store import TableStore, write_text_atomic

REPORTS_DIR = "reports"
SETTINGS_FILE = "settings.json"
NOT_RECORDED = "as this command resolved them: the audit run of the month recorded none"


@dataclass(frozen=True)
class ReportFiles:
    month: str
    html: Path
    pdf: Path | None
    pdf_skipped: str | None  # why there is no PDF
    sections: tuple[str, ...]
    figures: dict[str, int]


def report_dir(store: TableStore, month: str) -> Path:
    return Path(store.root).resolve() / REPORTS_DIR / month


def write_report(
    store: TableStore,
    month: str,
    settings: ReportSettings,
    *,
    audit_run: bool,
    pdf: bool = True,
) -> ReportFiles:
    """The HTML first (atomically), then its PDF; a PDF that cannot be made is skipped, named,
    and one left from an earlier run removed, so that no PDF older than the HTML stays beside it.

    ``audit_run``: the settings are those the month's tables were just computed with, and are
    recorded beside the report; otherwise (a report rebuilt later) the recorded ones are shown.
    """
    folder = report_dir(store, month)
    record = folder / SETTINGS_FILE
    if not audit_run:
        settings = (
            ReportSettings.from_json(record.read_text(encoding="utf-8"))
            if record.is_file()
            else replace(settings, origin=NOT_RECORDED)
        )
    content = load_month(store, month, settings.thresholds.peak_skin_dose_gy)
    if audit_run:
        write_text_atomic(record, settings.to_json())
    html = folder / "audit.html"
    write_text_atomic(html, render(content, settings))
    outcome = print_pdf(html, folder / "audit.pdf") if pdf else None
    if outcome is None or outcome.path is None:
        (folder / "audit.pdf").unlink(missing_ok=True)  # a PDF beside the HTML is its print
    return ReportFiles(
        month=month,
        html=html,
        pdf=outcome.path if outcome else None,
        pdf_skipped=outcome.skipped if outcome else "PDF not requested",
        sections=tuple(HEADINGS.values()),
        figures=key_figures(content, settings),
    )
