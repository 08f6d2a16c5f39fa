"""One room rule for images and dose reports alike, applied once, when ingest publishes its tables.

A room is the X-ray system that made the image or the report. Without a rooms file the room id is
built from the device identity the extractors write (xrf_assets/core/extract/devices.py:
manufacturer, model, serial number, station name), so an image and the report of the same device
land in the same room. A user's rooms file (YAML) names rooms and merges aliases, e.g. an old
station name, or a Device Observer UID that only the dose reports carry::

    rooms:
      - name: Cath Lab 1
        match:
          - {manufacturer: Siemens, model: AXIOM-Artis, serial: "12345"}
          - {device_observer_uid: 1.2.276.0.7230010.3.1.4.1}
          - {station_name: CATHLAB1-OLD}

A ``match`` entry matches when every field it gives equals the device's (case and surrounding
spaces ignored); the first room with a matching entry wins.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

from xrf_assets.core.extract.devices import IDENTITY_COLUMNS, DeviceIdentity
from xrf_assets.core.settings_files import read_yaml_mapping

_FIELDS = {f.name for f in fields(DeviceIdentity)}
_SPACES = re.compile(r"\s+")


def _norm(value: str | None) -> str:
    return _SPACES.sub(" ", str(value or "")).strip()


def default_room_id(device: DeviceIdentity) -> str | None:
    """``MANUFACTURER|MODEL|SERIAL|STATION`` upper-cased, else ``DEVICE <observer UID>``.

    The Device Observer UID is used only when the header names no device at all (a Philips report
    in the corpus has all four empty): images never carry it, and the room of an image and of its
    report must be the same. A rooms file can match on it to merge such a room with its images.
    """
    parts = [
        _norm(device.manufacturer),
        _norm(device.model),
        _norm(device.serial),
        _norm(device.station_name),
    ]
    if any(parts):
        return "|".join(parts).upper()
    uid = _norm(device.device_observer_uid)
    return f"DEVICE {uid}" if uid else None


class RoomsFileError(ValueError):
    """The rooms file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class _Room:
    name: str
    matches: tuple[dict[str, str], ...]


class RoomDirectory:
    """Maps a device to its room: the rooms file first, the default rule otherwise."""

    def __init__(self, rooms: tuple[_Room, ...] = ()) -> None:
        self._rooms = rooms

    @classmethod
    def from_yaml(cls, path: str | Path | None) -> RoomDirectory:
        if path is None:
            return cls()
        path = Path(path)
        raw = read_yaml_mapping(path, "rooms file", RoomsFileError)
        entries = raw.get("rooms", [])
        if not isinstance(entries, list):
            raise RoomsFileError(f"{path}: expected a mapping with a list under 'rooms'")
        rooms = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not _norm(entry.get("name")):
                raise RoomsFileError(f"{path}: room #{i + 1} needs a name")
            match = entry.get("match", [])
            if not isinstance(match, list):
                raise RoomsFileError(f"{path}: room {entry['name']!r}: match must be a list")
            matches = []
            for m in match:
                if (
                    not isinstance(m, dict)
                    or not m
                    or set(m) - _FIELDS
                    or not all(_norm(v) for v in m.values())
                ):
                    raise RoomsFileError(
                        f"{path}: room {entry['name']!r}: a match takes non-empty fields "
                        f"{sorted(_FIELDS)}"
                    )
                matches.append({k: _norm(v).upper() for k, v in m.items()})
            rooms.append(_Room(_norm(entry["name"]), tuple(matches)))
        return cls(tuple(rooms))

    @property
    def fingerprint(self) -> str:
        """Changes when the rules change: a re-run with nothing new republishes only then."""
        return hashlib.sha256(repr(self._rooms).encode()).hexdigest()

    def room_id(self, device: DeviceIdentity) -> str | None:
        for room in self._rooms:
            for m in room.matches:
                if all(_norm(getattr(device, k)).upper() == v for k, v in m.items()):
                    return room.name
        return default_room_id(device)


def with_room_ids(df: pl.DataFrame, rooms: RoomDirectory) -> pl.DataFrame:
    """``df`` with ``room_id`` derived from the device identity columns it carries (in place of
    its ``room_id`` column, else appended).

    Rooms are assigned here, when tables are published, never when files are read, so that
    editing the rooms file renames rooms in every row without reading a single DICOM file again.
    One lookup per distinct device, not per row.
    """
    keys = {f: c for f, c in IDENTITY_COLUMNS.items() if c in df.columns}
    devices = df.select(list(keys.values())).unique(maintain_order=True)
    room_ids = [rooms.room_id(DeviceIdentity.of(row)) for row in devices.iter_rows(named=True)]
    mapping = devices.with_columns(pl.Series("room_id", room_ids, dtype=pl.String))
    joined = df.drop("room_id", strict=False).join(
        mapping, on=list(keys.values()), how="left", nulls_equal=True, maintain_order="left"
    )
    return joined.select(df.columns if "room_id" in df.columns else [*df.columns, "room_id"])
