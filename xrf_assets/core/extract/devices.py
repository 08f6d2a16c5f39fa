"""The device identity a header carries: which X-ray system made the image or the report.

Extractors write it as columns of their rows (Manufacturer (0008,0070), Manufacturer's Model Name
(0008,1090), Device Serial Number (0018,1000), Station Name (0008,1010) and, in dose reports only,
the Device Observer UID (121012)). The room is not decided here: ingest derives it from these
columns once, when it publishes the tables (xrf_assets/core/ingest/rooms.py), so that editing the
rooms file renames rooms without reading a file again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceIdentity:
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    station_name: str | None = None
    device_observer_uid: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> DeviceIdentity:
        """The identity in an ``images`` or ``irradiation_events`` row (absent columns: None)."""
        return cls(**{f: row.get(c) for f, c in IDENTITY_COLUMNS.items()})


# DeviceIdentity field -> the column that carries it in the images / irradiation_events tables
IDENTITY_COLUMNS: dict[str, str] = {
    "manufacturer": "manufacturer",
    "model": "model",
    "serial": "device_serial_number",
    "station_name": "station_name",
    "device_observer_uid": "device_observer_uid",
}
