"""The one room rule: default device identity, rooms file names and aliases, bad rooms files,
and rooms assigned at publish to the rows extractors give (which carry no room)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from builders.corpus import CORPUS
from pydicom.dataset import Dataset

from xrf_assets.core.dicom.sop_classes import XA_IMAGE, XRF_IMAGE
from xrf_assets.core.extract.devices import DeviceIdentity
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.extract.images import extract_image
from xrf_assets.core.ingest.rooms import (
    RoomDirectory,
    RoomsFileError,
    default_room_id,
    with_room_ids,
)
from xrf_assets.core.ingest.staging import staged_frame

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


# -- rooms assigned at publish ---------------------------------------------------------------------


def _published_rooms(
    table: str, rows: list[dict[str, Any]], rooms: RoomDirectory | None = None
) -> list[str | None]:
    """``room_id`` as publish assigns it to staged rows (extractors write no room)."""
    return with_room_ids(staged_frame(table, rows), rooms or RoomDirectory())["room_id"].to_list()


def _report_events(name: str) -> list[dict[str, Any]]:
    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS} (../shared/corpus/openrem)")
    return extract_report(pydicom.dcmread(CORPUS / name, stop_before_pixels=True), name).events


def _image(**values: str) -> dict[str, Any]:
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3"
    ds.SOPClassUID = values.pop("SOPClassUID", XA_IMAGE)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return extract_image(ds, "a.dcm")


CATHLAB1 = {
    "Manufacturer": "Siemens",
    "ManufacturerModelName": "AXIOM-Artis",
    "DeviceSerialNumber": "12345",
    "StationName": "CATHLAB1",
}


def test_real_reports_get_the_room_of_their_device() -> None:
    first = _report_events("RF-RDSR-Siemens-Zee.dcm")[:1]
    assert "room_id" not in first[0]
    assert _published_rooms("irradiation_events", first) == ["SIEMENS|AXIOM-ARTIS|123456|ARTISZEE"]
    dx, rf = _report_events("Dual-RDSR-DX.dcm"), _report_events("Dual-RDSR-RF.dcm")
    assert set(_published_rooms("irradiation_events", dx + rf)) == {
        "SIEMENS|FLUOROSPOT COMPACT FD|1234|DRFMAX-1234"
    }


def test_an_image_gets_the_default_room_or_the_rooms_file_name(tmp_path: Path) -> None:
    row = _image(**CATHLAB1)
    assert _published_rooms("images", [row]) == ["SIEMENS|AXIOM-ARTIS|12345|CATHLAB1"]
    rooms_file = tmp_path / "rooms.yaml"
    rooms_file.write_text(
        "rooms:\n  - name: Cath Lab 1\n    match:\n      - {station_name: cathlab1}\n",
        encoding="utf-8",
    )
    assert _published_rooms("images", [row], RoomDirectory.from_yaml(rooms_file)) == ["Cath Lab 1"]
    assert _published_rooms("images", [_image(SOPClassUID=XRF_IMAGE)]) == [None]  # no device named
