"""Settings of a deployment, as one Dagster resource fed by environment variables.

Defaults point at the bundled demo corpus (``make demo`` generates it), so a fresh checkout runs
without configuration; a site sets ``XRF_INPUT_DIR`` and ``XRF_OUTPUT_DIR`` (and a rooms file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from xrf_assets.core.audit.alerts import AlertThresholds
from xrf_assets.core.audit.drl import ReferenceLevels
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.ingest.privacy import HASH_IDS_ENV, KEY_ENV, PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import IngestSettings
from xrf_assets.core.linking.links import LinkSettings
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
    privacy: str = Field(
        default="pseudonymize",
        description=f"pseudonymize (keyed hash, secret in ${KEY_ENV}) or identified.",
    )
    link_tolerance_s: float = Field(
        default=LinkSettings.tolerance_s,
        description="Time-window linking: the event window is widened by this much each side, s.",
    )
    # monthly audit (xrf_assets/core/procedures.py, drl.py, alerts.py)
    procedures_file: str | None = Field(
        default=None, description="YAML mapping study descriptions to procedures; None: shipped."
    )
    drl_file: str | None = Field(
        default=None, description="YAML of DAP reference levels per procedure; None: European."
    )
    alert_dose_rp_gy: float = Field(default=5.0, description="Alert at this Dose (RP), Gy.")
    alert_dap_gy_cm2: float = Field(default=500.0, description="Alert at this DAP, Gy.cm2.")
    alert_fluoro_time_min: float = Field(default=60.0, description="Alert at fluoro time, min.")
    alert_window_months: int = Field(
        default=6, description="Calendar months over which a patient's studies are summed."
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> XrfSettings:
        """Settings from ``XRF_*`` variables; ``overrides`` (not None) win, as from the CLI."""
        values: dict[str, Any] = dict(
            input_dir=_env("XRF_INPUT_DIR", str(DEMO_INPUT)) or str(DEMO_INPUT),
            output_dir=_env("XRF_OUTPUT_DIR", str(DEMO_OUTPUT)) or str(DEMO_OUTPUT),
            rooms_file=_env("XRF_ROOMS_FILE"),
            workers=int(_env("XRF_WORKERS", "0") or 0),
            full_rebuild=(_env("XRF_FULL_REBUILD", "") or "").lower() in {"1", "true", "yes"},
            privacy=_env("XRF_PRIVACY", "pseudonymize") or "pseudonymize",
            procedures_file=_env("XRF_PROCEDURES_FILE"),
            drl_file=_env("XRF_DRL_FILE"),
        )
        values |= {k: v for k, v in overrides.items() if v is not None}
        return cls(**values)

    def store(self) -> TableStore:
        return TableStore(self.output_dir)

    def rooms(self) -> RoomDirectory:
        return RoomDirectory.from_yaml(self.rooms_file)

    def privacy_settings(self) -> PrivacySettings:
        """The key comes from the environment only, never from run config (it would be shown)."""
        is_demo = Path(self.input_dir).resolve() == DEMO_INPUT.resolve()
        env = {"XRF_PRIVACY": self.privacy, KEY_ENV: os.environ.get(KEY_ENV, "")}
        env[HASH_IDS_ENV] = os.environ.get(HASH_IDS_ENV, "")
        return PrivacySettings.from_env(env, demo=is_demo)

    def ingest_settings(self) -> IngestSettings:
        return IngestSettings(
            input_dir=Path(self.input_dir),
            rooms=self.rooms(),
            privacy=self.privacy_settings(),
            workers=self.workers or None,
            full_rebuild=self.full_rebuild,
        )

    def link_settings(self) -> LinkSettings:
        return LinkSettings(tolerance_s=self.link_tolerance_s)

    def procedures(self) -> ProcedureMap:
        return ProcedureMap.from_yaml(self.procedures_file)

    def reference_levels(self) -> ReferenceLevels:
        return ReferenceLevels.from_yaml(self.drl_file)

    def alert_thresholds(self) -> AlertThresholds:
        return AlertThresholds(
            dose_rp_gy=self.alert_dose_rp_gy,
            dap_gy_cm2=self.alert_dap_gy_cm2,
            fluoro_time_min=self.alert_fluoro_time_min,
            window_months=self.alert_window_months,
        )
