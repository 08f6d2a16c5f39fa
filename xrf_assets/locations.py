"""Where the bundled demo lives, and the privacy settings of a run: plain Python, no Dagster.

``xrf-dose run`` resolves the privacy settings here before it imports Dagster (seconds of start-up),
so a missing pseudonym key fails at once in one line; the ``XrfSettings`` resource resolves them
the same way when a run uses them.
"""

from __future__ import annotations

import os
from pathlib import Path

from xrf_assets.core.ingest.privacy import HASH_IDS_ENV, KEY_ENV, PrivacySettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEMO_INPUT = DEMO_DIR / "dicom"
DEMO_OUTPUT = DEMO_DIR / "output"
_TRUE = {"1", "true", "yes"}


def privacy_for(mode: str | None, input_dir: Path) -> PrivacySettings:
    """The key and ``XRF_HASH_IDENTIFIERS`` come from the environment only, never from run config
    (the UI would show them); only the demo corpus may fall back to the public demo key."""
    return PrivacySettings.from_settings(
        mode,
        os.environ.get(KEY_ENV),
        demo=input_dir.resolve() == DEMO_INPUT.resolve(),
        hash_identifiers=(os.environ.get(HASH_IDS_ENV) or "").strip().lower() in _TRUE,
    )
