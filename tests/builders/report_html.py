"""The report tests' month: the known audit tables (audit_tables.py) with unlinked images and files
not read in full added, audited and reported by the assets; and reading tables back from HTML."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from builders.audit_tables import known_store
from xrf_assets.assets import audit, report, skin
from xrf_assets.core.store import frame_from_rows
from xrf_assets.resources import XrfSettings

MONTH = "2026-10"

UNLINKED = [
    ("im3", "outside_window"),  # S2, room A
    ("im4", "no_dose_report"),  # S12 (images only), room A
    ("im9", "ambiguous"),  # not an image of the tables: no study, no month
]
# path, status, study, reason
FILES = [
    ("junk/a.txt", "rejected", None, "not a DICOM file: no DICM prefix"),
    ("junk/b.txt", "rejected", None, "not a DICOM file: no DICM prefix"),
    ("cut.dcm", "rejected", "S3", "truncated: file ends inside element (0028,0010) at byte 812"),
    ("r1-copy.dcm", "duplicate", "S1", "same SOP Instance UID as 1.2.3.4.5.6 (kept)"),
    ("r1.dcm", "ok", "S1", None),
]


def extra_tables(settings: XrfSettings) -> None:
    store = settings.store()
    store.write(
        "unlinked_images",
        frame_from_rows(
            "unlinked_images",
            [{"sop_instance_uid": u, "reason": r, "candidate_event_uids": []} for u, r in UNLINKED],
        ),
    )
    store.write(
        "dicom_files",
        frame_from_rows(
            "dicom_files",
            [
                {"path": p, "status": s, "study_instance_uid": st, "reason": r, "kind": "unknown"}
                for p, s, st, r in FILES
            ],
        ),
    )


@dataclass(frozen=True)
class Reported:
    settings: XrfSettings
    result: ExecuteInProcessResult
    html: str
    folder: Path


def audit_and_report(root: Path) -> Reported:
    known_store(root / "out")
    s = XrfSettings(input_dir=str(root / "in"), output_dir=str(root / "out"))
    extra_tables(s)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*audit.assets, *skin.assets, *report.assets],
            partition_key=MONTH,
            resources={"settings": s},
            instance=instance,
        )
    folder = root / "out" / "reports" / MONTH
    return Reported(s, result, (folder / "audit.html").read_text(encoding="utf-8"), folder)


class _Tables(HTMLParser):
    """Cell texts of every table, by the id of the section holding it."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.headings: list[str] = []
        self._section = ""
        self._cell: list[str] | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._in_h2 = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self.headings[-1] += data


def parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def rows(html: str, section: str, index: int = 0) -> list[dict[str, str]]:
    """The ``index``-th table of ``section`` as dicts keyed by its headings."""
    head, *body = parse(html).tables[section][index]
    return [dict(zip(head, row, strict=True)) for row in body]
