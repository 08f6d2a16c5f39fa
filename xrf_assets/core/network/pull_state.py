"""What ``xrf-dose pull`` already retrieved from one PACS: a small JSON file, never in the input
tree (that is the archive of record, written by the listener only).

Saved (atomically: temporary file, then rename) after every series, so an interrupted pull
resumes where it stopped and a repeated pull asks for nothing it already has.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from xrf_assets.core.network.layout import safe_ae

VERSION = 1


@dataclass
class PullState:
    path: Path
    pacs: str
    # "<study>/<series>/<SOP>" -> when: a SOP UID alone is not enough (copies of a report
    # are sent with a changed study and the same SOP Instance UID, as in the real corpus)
    fetched: dict[str, str] = field(default_factory=dict)
    # "<study>/<series>" -> [instances the PACS counted, instances wanted], once all were fetched:
    # while the count is the same, the series is not queried instance by instance again
    series: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, host: str, port: int, ae_title: str) -> PullState:
        pacs = f"{ae_title}@{host}:{port}"
        path = folder / f"pull-{safe_ae(ae_title)}@{safe_ae(host)}_{port}.json"
        if not path.is_file():
            return cls(path, pacs)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION or data.get("pacs") != pacs:
            raise ValueError(f"{path} is not a pull state of version {VERSION} for {pacs}")
        return cls(path, pacs, dict(data["fetched"]), dict(data.get("series", {})))

    def has(self, study_uid: str, series_uid: str, sop_uid: str) -> bool:
        return f"{study_uid}/{series_uid}/{sop_uid}" in self.fetched

    def add(self, study_uid: str, series_uid: str, sop_uid: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.fetched[f"{study_uid}/{series_uid}/{sop_uid}"] = now

    def complete_series(self, study_uid: str, series_uid: str, instances: int) -> int | None:
        """How many wanted instances a series had when completed with ``instances`` in it."""
        seen = self.series.get(f"{study_uid}/{series_uid}")
        return seen[1] if seen and seen[0] == instances else None

    def mark_complete(self, study_uid: str, series_uid: str, instances: int, wanted: int) -> None:
        self.series[f"{study_uid}/{series_uid}"] = [instances, wanted]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {
                "version": VERSION,
                "pacs": self.pacs,
                "fetched": self.fetched,
                "series": self.series,
            },
            indent=1,
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pull-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
