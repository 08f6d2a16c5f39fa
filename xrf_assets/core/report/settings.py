"""The settings a month was computed with, as the report lists them for the physicist's signature.

The audit run records them beside its report (``settings.json``), so a report rebuilt later from
the command line shows the settings of the audit, not those of the shell it runs in. Settings
files are named with the SHA-256 of their content when resolved, so a signed report says exactly
which rooms, procedures and reference levels were used. In pseudonymize mode a file is named by
its file name only and the input and output folders are left out: the report shows no paths.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from xrf_assets.core.audit.alerts import AlertThresholds
from xrf_assets.core.linking.links import LinkSettings

# label -> what an unset file means
FILE_DEFAULTS = {
    "rooms file": "none: room names from the device identity",
    "procedures file": "shipped default",
    "reference levels file": "shipped default (European)",
    "skin geometry file": "shipped default",
}
RECORDED = "recorded by the audit run of the month"


def describe_file(path: str | None, unset: str, pseudonymized: bool) -> str:
    if path is None:
        return unset
    file = Path(path)
    name = file.name if pseudonymized else str(file)
    try:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        return f"{name} (not readable: {exc.strerror})"
    return f"{name} (sha256 {digest})"


@dataclass(frozen=True)
class ReportSettings:
    privacy_mode: str  # pseudonymize | identified
    drl_source: str
    files: tuple[tuple[str, str], ...] = ()  # (label, described file)
    folders: tuple[tuple[str, str], ...] = ()  # identified mode only
    hash_identifiers: bool = False
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    link: LinkSettings = field(default_factory=LinkSettings)
    origin: str = RECORDED  # where the report's copy of the settings comes from

    @classmethod
    def resolve(
        cls,
        privacy_mode: str,
        drl_source: str,
        files: Mapping[str, str | None],
        folders: Mapping[str, str],
        **rest: Any,
    ) -> ReportSettings:
        """``files``: label (a key of FILE_DEFAULTS) -> path, None where unset."""
        hidden = privacy_mode != "identified"
        return cls(
            privacy_mode=privacy_mode,
            drl_source=drl_source,
            files=tuple(
                (label, describe_file(files.get(label), unset, hidden))
                for label, unset in FILE_DEFAULTS.items()
            ),
            folders=() if hidden else tuple(folders.items()),
            **rest,
        )

    @property
    def pseudonymized(self) -> bool:
        return self.privacy_mode != "identified"

    def rows(self) -> list[tuple[str, str]]:
        """(setting, value) in the order the report lists them."""
        t = self.thresholds
        keyed = ", UIDs keyed" if self.hash_identifiers else ""
        rows = [
            ("settings", self.origin),
            ("privacy mode", self.privacy_mode + keyed),
            *self.files,
            ("reference levels source", self.drl_source),
            ("alert: study Dose (RP) (Gy)", f"{t.dose_rp_gy:g}"),
            ("alert: study DAP (Gy.cm2)", f"{t.dap_gy_cm2:g}"),
            ("alert: study fluoroscopy time (min)", f"{t.fluoro_time_min:g}"),
            ("alert: peak skin dose (Gy)", f"{t.peak_skin_dose_gy:g}"),
            ("alert: patient window (months)", str(t.window_months)),
        ]
        rows += [(f"linking: {name}", str(value)) for name, value in asdict(self.link).items()]
        return rows + list(self.folders)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ReportSettings:
        raw = json.loads(text)
        return replace(
            cls(**raw),
            files=tuple(tuple(f) for f in raw["files"]),
            folders=tuple(tuple(f) for f in raw["folders"]),
            thresholds=AlertThresholds(**raw["thresholds"]),
            link=LinkSettings(**raw["link"]),
        )
