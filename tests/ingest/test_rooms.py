"""The one room rule: default device identity, rooms file names and aliases, bad rooms files."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrf_assets.core.ingest.rooms import (
    DeviceIdentity,
    RoomDirectory,
    RoomsFileError,
    default_room_id,
)

ARTIS = DeviceIdentity("Siemens ", "AXIOM-Artis", "12345", "CATHLAB1")
ARTIS_REPORT = DeviceIdentity(
    "SIEMENS", "AXIOM-Artis", "12345", "CATHLAB1", device_observer_uid="1.2.276.0.7230010.3.1.4.1"
)
ROOMS_YAML = """
rooms:
  - name: Cath Lab 1
    match:
      - {manufacturer: siemens, model: AXIOM-Artis, serial: 12345}
      - {device_observer_uid: 1.2.276.0.7230010.3.1.4.99}
      - {station_name: CATHLAB1-OLD}
  - name: "  Hybrid   OR "
    match:
      - {station_name: hybrid}
  - name: Cath Lab 1 catch-all
    match:
      - {manufacturer: Siemens}
"""


@pytest.fixture
def rooms(tmp_path: Path) -> RoomDirectory:
    path = tmp_path / "rooms.yaml"
    path.write_text(ROOMS_YAML, encoding="utf-8")
    return RoomDirectory.from_yaml(path)


def test_default_room_is_the_device_identity_upper_cased() -> None:
    assert default_room_id(ARTIS) == "SIEMENS|AXIOM-ARTIS|12345|CATHLAB1"
    assert default_room_id(DeviceIdentity("GE  Healthcare", None, None, "OEC 1")) == (
        "GE HEALTHCARE|||OEC 1"
    )
    assert default_room_id(DeviceIdentity()) is None
    assert default_room_id(DeviceIdentity(device_observer_uid="1.2.3")) == "DEVICE 1.2.3"


def test_image_and_report_of_one_device_share_the_default_room() -> None:
    """Reports carry a Device Observer UID that images lack: it must not split the room."""
    assert RoomDirectory().room_id(ARTIS) == RoomDirectory().room_id(ARTIS_REPORT)
    assert RoomDirectory.from_yaml(None).room_id(ARTIS) == "SIEMENS|AXIOM-ARTIS|12345|CATHLAB1"


def test_rooms_file_names_rooms_and_merges_aliases(rooms: RoomDirectory) -> None:
    assert rooms.room_id(ARTIS) == "Cath Lab 1"  # case, spaces and unquoted numbers ignored
    assert rooms.room_id(DeviceIdentity(device_observer_uid="1.2.276.0.7230010.3.1.4.99")) == (
        "Cath Lab 1"
    )
    assert rooms.room_id(DeviceIdentity("Philips", "Allura", "7", "cathlab1-old")) == "Cath Lab 1"
    assert rooms.room_id(DeviceIdentity(station_name="HYBRID")) == "Hybrid OR"


def test_first_matching_room_wins_and_unmatched_devices_keep_the_default(
    rooms: RoomDirectory,
) -> None:
    assert rooms.room_id(DeviceIdentity("Siemens", "Artis Q", "999", "X")) == (
        "Cath Lab 1 catch-all"
    )
    ge = DeviceIdentity("GE Healthcare", "OEC Elite", "55", "MINI")
    assert rooms.room_id(ge) == "GE HEALTHCARE|OEC ELITE|55|MINI"
    # a partial match (model and serial differ) does not take the room
    assert rooms.room_id(DeviceIdentity("Philips", "AXIOM-Artis", "1", "Y")) == (
        "PHILIPS|AXIOM-ARTIS|1|Y"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rooms: [unclosed", "cannot read rooms file"),
        ("- just a list", "rooms file must be a YAML mapping"),
        ("rooms: {name: x}", "expected a mapping with a list under 'rooms'"),
        ("rooms:\n  - match: [{station_name: A}]", "room #1 needs a name"),
        ("rooms:\n  - {name: '  '}", "room #1 needs a name"),
        ("rooms:\n  - {name: A, match: {station_name: A}}", "match must be a list"),
        ("rooms:\n  - {name: A, match: [{room: A}]}", "a match takes non-empty fields"),
        ("rooms:\n  - {name: A, match: [{}]}", "a match takes non-empty fields"),
        ("rooms:\n  - {name: A, match: [{serial: null}]}", "a match takes non-empty fields"),
    ],
)
def test_bad_rooms_files_are_refused_with_the_file_name(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rooms.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RoomsFileError, match=message) as info:
        RoomDirectory.from_yaml(path)
    assert str(path) in str(info.value)


def test_missing_rooms_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoomsFileError, match="cannot read rooms file"):
        RoomDirectory.from_yaml(tmp_path / "absent.yaml")


def test_empty_rooms_file_means_default_rule(tmp_path: Path) -> None:
    path = tmp_path / "rooms.yaml"
    path.write_text("", encoding="utf-8")
    assert RoomDirectory.from_yaml(path).room_id(ARTIS) == "SIEMENS|AXIOM-ARTIS|12345|CATHLAB1"
