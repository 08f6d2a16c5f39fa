"""Where the bundled demo lives, and the privacy settings of a run: plain Python, no Dagster.

``xrf-dose run`` resolves the privacy settings here before it imports Dagster (seconds of start-up),
so a missing pseudonym key fails at once in one line; the ``XrfSettings`` resource resolves them
the same way when a run uses them.
"""

from __future__ import annotations

import os
from pathlib import Path

from xrf_assets.core.ingest.privacy import MODE_ENV, PrivacySettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEMO_INPUT = DEMO_DIR / "dicom"
DEMO_OUTPUT = DEMO_DIR / "output"


def privacy_for(mode: str | None, input_dir: Path) -> PrivacySettings:
    """The key and ``XRF_HASH_IDENTIFIERS`` come from the environment only, never from run config
    (the UI would show them); only the demo corpus may fall back to the public demo key."""
    environ = {**os.environ, MODE_ENV: mode or ""}
    return PrivacySettings.from_env(environ, demo=input_dir.resolve() == DEMO_INPUT.resolve())
