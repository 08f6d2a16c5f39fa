"""Settings of a deployment, as one Dagster resource fed by environment variables.

Defaults point at the bundled demo corpus (``make demo`` generates it), so a fresh checkout runs
without configuration; a site sets ``XRF_INPUT_DIR`` and ``XRF_OUTPUT_DIR`` (and a rooms file).
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from xrf_assets.core.rooms import RoomDirectory
from xrf_assets.core.store import TableStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEMO_INPUT = DEMO_DIR / "dicom"
DEMO_OUTPUT = DEMO_DIR / "output"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


class XrfSettings(ConfigurableResource):
    """Where the DICOM tree is, where the tables go, and how the site wants them made."""

    input_dir: str = Field(description="Root of the DICOM tree to read (read-only to us).")
    output_dir: str = Field(description="Root under which each table gets its own folder.")
    rooms_file: str | None = Field(
        default=None, description="YAML naming rooms and merging aliases."
    )
    workers: int = Field(
        default=0, description="Reader processes; 0 sizes the pool to the machine."
    )
    full_rebuild: bool = Field(
        default=False, description="Re-read every file instead of new/changed ones."
    )

    @classmethod
    def from_env(cls) -> XrfSettings:
        return cls(
            input_dir=_env("XRF_INPUT_DIR", str(DEMO_INPUT)) or str(DEMO_INPUT),
            output_dir=_env("XRF_OUTPUT_DIR", str(DEMO_OUTPUT)) or str(DEMO_OUTPUT),
            rooms_file=_env("XRF_ROOMS_FILE"),
            workers=int(_env("XRF_WORKERS", "0") or 0),
            full_rebuild=(_env("XRF_FULL_REBUILD", "") or "").lower() in {"1", "true", "yes"},
        )

    def store(self) -> TableStore:
        return TableStore(self.output_dir)

    def rooms(self) -> RoomDirectory:
        return RoomDirectory.from_yaml(self.rooms_file)
