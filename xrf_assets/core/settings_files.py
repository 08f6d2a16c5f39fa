"""Reading the YAML files a site edits (rooms, procedures, reference levels), one way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_TRUE = frozenset({"1", "true", "yes", "on"})


def is_true(text: str | None) -> bool:
    """A yes/no setting as an environment variable gives it (1, true, yes, on; any case)."""
    return (text or "").strip().lower() in _TRUE


def read_yaml_mapping(path: Path, what: str, error: type[ValueError]) -> dict[str, Any]:
    """The file as a mapping; an unreadable file, bad YAML or a non-mapping raises ``error``
    with the file name, so a typo in a site's settings stops the run with a message, not a trace.
    An empty file is an empty mapping."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(raw, dict):
        raise error(f"{path}: {what} must be a YAML mapping")
    return raw
