"""Study Description (0008,1030) -> standard procedure, by a user-editable ordered rule list.

Descriptions are free text typed at the modality or the RIS ("Coro + PTCA", "CORONAROGRAPHY"); the
DRL comparison needs one procedure name per study. Rules live in YAML (``defaults/procedures.yaml``
ships with the procedures the European DRLs name); the first rule with a matching pattern wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from xrf_assets.core.audit.months import AuditConfigError
from xrf_assets.core.settings_files import read_yaml_mapping

DEFAULT_PROCEDURES_FILE = Path(__file__).resolve().parents[2] / "defaults" / "procedures.yaml"


@dataclass(frozen=True)
class ProcedureRule:
    name: str
    patterns: tuple[re.Pattern[str], ...]


class ProcedureMap:
    """Ordered rules; :meth:`procedure` gives the first matching rule's name, else None."""

    def __init__(self, rules: tuple[ProcedureRule, ...]) -> None:
        self.rules = rules

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> ProcedureMap:
        path = Path(path) if path is not None else DEFAULT_PROCEDURES_FILE
        raw = read_yaml_mapping(path, "procedures file", AuditConfigError)
        rules = []
        for i, entry in enumerate(raw.get("procedures") or []):
            if not isinstance(entry, dict) or not entry.get("name") or not entry.get("patterns"):
                raise AuditConfigError(f"{path}: procedure #{i + 1} needs a name and patterns")
            try:
                patterns = tuple(re.compile(str(p), re.IGNORECASE) for p in entry["patterns"])
            except re.error as exc:
                raise AuditConfigError(
                    f"{path}: procedure {entry['name']!r}: bad pattern: {exc}"
                ) from exc
            rules.append(ProcedureRule(str(entry["name"]), patterns))
        if not rules:
            raise AuditConfigError(f"{path}: no procedures defined")
        return cls(tuple(rules))

    def procedure(self, description: str | None) -> str | None:
        if not description:
            return None
        for rule in self.rules:
            if any(p.search(description) for p in rule.patterns):
                return rule.name
        return None

    def map_descriptions(self, descriptions: pl.Series) -> pl.Series:
        """Procedure of each description (null where none matches), one lookup per distinct text."""
        lookup = {d: self.procedure(d) for d in descriptions.drop_nulls().unique().to_list()}
        return descriptions.replace_strict(lookup, default=None, return_dtype=pl.String)
