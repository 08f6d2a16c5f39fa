"""Settings of a deployment as one Dagster resource, resolved when a run (or sensor tick) uses them.

A field set in the resource or run config wins; a field left unset (None) takes its ``XRF_*``
environment variable, read at that moment and never when the code location is imported, else its
default. Defaults point at the bundled demo corpus (``make demo`` generates it), so a fresh checkout
runs without configuration; a site sets ``XRF_INPUT_DIR`` and ``XRF_OUTPUT_DIR`` (and a rooms file).
The pseudonym key is read from ``XRF_PSEUDONYM_KEY`` only, never from config, where the UI would
show it.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from xrf_assets.core.audit.alerts import AlertThresholds
from xrf_assets.core.audit.drl import ReferenceLevels
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.ingest.privacy import KEY_ENV, MODE_ENV, PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import IngestSettings
from xrf_assets.core.ingest.shards import ShardLayout
from xrf_assets.core.linking.links import LinkSettings
from xrf_assets.core.settings_files import is_true
from xrf_assets.core.skin.geometry import Conventions
from xrf_assets.core.store import TableStore
from xrf_assets.locations import DEMO_INPUT, DEMO_OUTPUT, PROJECT_ROOT, privacy_for

__all__ = ["DEMO_INPUT", "DEMO_OUTPUT", "PROJECT_ROOT", "XrfSettings"]


# field -> the environment variable that fills it when config leaves it unset
ENV_VARS: dict[str, str] = {
    "input_dir": "XRF_INPUT_DIR",
    "output_dir": "XRF_OUTPUT_DIR",
    "rooms_file": "XRF_ROOMS_FILE",
    "workers": "XRF_WORKERS",
    "ingest_shards": "XRF_INGEST_SHARDS",
    "ingest_shard_depth": "XRF_INGEST_SHARD_DEPTH",
    "full_rebuild": "XRF_FULL_REBUILD",
    "privacy": MODE_ENV,
    "procedures_file": "XRF_PROCEDURES_FILE",
    "drl_file": "XRF_DRL_FILE",
    "skin_geometry_file": "XRF_SKIN_GEOMETRY_FILE",
}


class XrfSettings(ConfigurableResource):
    """Where the DICOM tree is, where the tables go, and how the site wants them made."""

    input_dir: str | None = Field(
        default=None,
        description="Root of the DICOM tree to read (read-only to us); unset: $XRF_INPUT_DIR, "
        "else the demo corpus.",
    )
    output_dir: str | None = Field(
        default=None,
        description="Root under which each table gets its own folder; unset: $XRF_OUTPUT_DIR, "
        "else the demo output.",
    )
    rooms_file: str | None = Field(
        default=None, description="YAML naming rooms and merging aliases; unset: $XRF_ROOMS_FILE."
    )
    workers: int | None = Field(
        default=None,
        description="Reader processes, and months `xrf-dose run` audits side by side; 0 sizes "
        "them to the machine.",
    )
    full_rebuild: bool | None = Field(
        default=None, description="Re-read every file instead of new/changed ones."
    )
    ingest_shards: int | None = Field(
        default=None,
        description="Ingest steps the input tree is split into (an executor may run them on "
        "other machines); unset: $XRF_INGEST_SHARDS, else 1.",
    )
    ingest_shard_depth: int | None = Field(
        default=None,
        description="Leading folders of a path that choose its shard (1: ROOM/, 2: ROOM/MONTH/); "
        "unset: $XRF_INGEST_SHARD_DEPTH, else 1.",
    )
    privacy: str | None = Field(
        default=None,
        description=f"pseudonymize (keyed hash, secret in ${KEY_ENV}) or identified; unset: "
        f"${MODE_ENV}, else pseudonymize.",
    )
    link_tolerance_s: float = Field(
        default=LinkSettings.tolerance_s,
        description="Time-window linking: the event window is widened by this much each side, s.",
    )
    # monthly audit (xrf_assets/core/audit/procedures.py, drl.py, alerts.py)
    procedures_file: str | None = Field(
        default=None, description="YAML mapping study descriptions to procedures; None: shipped."
    )
    drl_file: str | None = Field(
        default=None, description="YAML of DAP reference levels per procedure; None: European."
    )
    alert_dose_rp_gy: float = Field(default=5.0, description="Alert at this Dose (RP), Gy.")
    alert_dap_gy_cm2: float = Field(default=500.0, description="Alert at this DAP, Gy.cm2.")
    alert_fluoro_time_min: float = Field(default=60.0, description="Alert at fluoro time, min.")
    alert_peak_skin_dose_gy: float = Field(
        default=3.0, description="Alert at this peak skin dose, Gy (NCRP 168 follow-up level)."
    )
    skin_geometry_file: str | None = Field(
        default=None, description="YAML of per-device geometry conventions; None: shipped."
    )
    alert_window_months: int = Field(
        default=6, description="Calendar months over which a patient's studies are summed."
    )

    def setting(self, name: str) -> str | None:
        """The field as configured, else its environment variable now (empty counts as unset)."""
        value = getattr(self, name)
        if value is not None:
            return str(value)
        return os.environ.get(ENV_VARS[name]) or None

    def input_path(self) -> Path:
        return Path(self.setting("input_dir") or DEMO_INPUT)

    def output_path(self) -> Path:
        return Path(self.setting("output_dir") or DEMO_OUTPUT)

    def store(self) -> TableStore:
        return TableStore(self.output_path())

    def rooms(self) -> RoomDirectory:
        return RoomDirectory.from_yaml(self.setting("rooms_file"))

    def privacy_settings(self) -> PrivacySettings:
        return privacy_for(self.setting("privacy"), self.input_path())

    def ingest_settings(self) -> IngestSettings:
        full_rebuild = self.full_rebuild
        if full_rebuild is None:
            full_rebuild = is_true(self.setting("full_rebuild"))
        return IngestSettings(
            input_dir=self.input_path(),
            rooms=self.rooms(),
            privacy=self.privacy_settings(),
            workers=int(self.setting("workers") or 0) or None,
            full_rebuild=full_rebuild,
            shards=ShardLayout(
                int(self.setting("ingest_shards") or 1),
                int(self.setting("ingest_shard_depth") or 1),
            ),
        )

    def link_settings(self) -> LinkSettings:
        return LinkSettings(tolerance_s=self.link_tolerance_s)

    def procedures(self) -> ProcedureMap:
        return ProcedureMap.from_yaml(self.setting("procedures_file"))

    def reference_levels(self) -> ReferenceLevels:
        return ReferenceLevels.from_yaml(self.setting("drl_file"))

    def skin_geometry(self) -> Conventions:
        file = self.setting("skin_geometry_file")
        return Conventions.load(Path(file) if file else None)

    def alert_thresholds(self) -> AlertThresholds:
        return AlertThresholds(
            dose_rp_gy=self.alert_dose_rp_gy,
            dap_gy_cm2=self.alert_dap_gy_cm2,
            fluoro_time_min=self.alert_fluoro_time_min,
            peak_skin_dose_gy=self.alert_peak_skin_dose_gy,
            window_months=self.alert_window_months,
        )
