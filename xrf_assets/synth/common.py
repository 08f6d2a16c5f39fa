"""DICOM attributes shared by the synthetic images and reports, and the one deterministic writer.

Patient, General Study, Patient Study and General Equipment modules are filled the same way in an
image and in its dose report, as a real device does, so the room rule
(:func:`xrf_assets.core.ingest.rooms.default_room_id`) puts both in the same room.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from xrf_assets.core.extract.devices import DeviceIdentity
from xrf_assets.core.ingest.rooms import default_room_id
from xrf_assets.synth.config import RoomSpec, SynthConfig
from xrf_assets.synth.encoder import Elements, part10
from xrf_assets.synth.plan import StudyPlan

IMPLEMENTATION_CLASS_UID = "2.25.174533811487177731990102767364737528920"
IMPLEMENTATION_VERSION_NAME = "XRFSYNTH_1"


def da(d: date) -> str:
    return d.strftime("%Y%m%d")


def tm(t: datetime) -> str:
    return t.strftime("%H%M%S.%f")


def offset_text(seconds: int) -> str:
    """``+HHMM`` as DT suffixes and Timezone Offset From UTC (0008,0201) spell it."""
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def dt(t: datetime, utc_offset_s: int | None = None) -> str:
    suffix = "" if utc_offset_s is None else offset_text(utc_offset_s)
    return t.strftime("%Y%m%d%H%M%S.%f") + suffix


def ds(value: Decimal | int) -> str:
    """A DS string with exactly the planned digits (at most 16 characters, PS3.5 6.2)."""
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    if len(text) > 16:
        raise ValueError(f"DS value {text} longer than 16 characters")
    return text


def utc_offset_on(config: SynthConfig, day: date) -> int:
    """The institution's UTC offset on ``day`` (summer time ends on 25 October 2026)."""
    offset = config.institution_utc_offsets[0][1]
    for since, seconds in config.institution_utc_offsets:
        if day >= since:
            offset = seconds
    return offset


def age_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def room_id(room: RoomSpec) -> str:
    rid = default_room_id(
        DeviceIdentity(room.manufacturer, room.model, room.serial, room.station_name)
    )
    assert rid is not None  # a RoomSpec always names its device
    return rid


def base_dataset(study: StudyPlan, sop_class_uid: str, sop_instance_uid: str) -> Elements:
    """Patient, General Study, Patient Study, General Equipment and SOP Common attributes."""
    room, patient = study.room, study.patient
    ds_ = Elements()
    ds_.SOPClassUID = sop_class_uid
    ds_.SOPInstanceUID = sop_instance_uid
    ds_.StudyDate = da(study.start.date())
    ds_.StudyTime = tm(study.start)
    ds_.AccessionNumber = study.accession
    ds_.Manufacturer = room.manufacturer
    ds_.InstitutionName = room.institution
    ds_.ReferringPhysicianName = ""
    ds_.StationName = room.station_name
    ds_.StudyDescription = study.procedure.description
    ds_.InstitutionalDepartmentName = room.department
    ds_.ManufacturerModelName = room.model
    ds_.PatientName = patient.name
    ds_.PatientID = patient.patient_id
    ds_.PatientBirthDate = da(patient.birth_date)
    ds_.PatientSex = patient.sex
    ds_.PatientAge = f"{age_years(patient.birth_date, study.start.date()):03d}Y"
    ds_.PatientSize = ds(patient.size_m)
    ds_.PatientWeight = ds(patient.weight_kg)
    ds_.DeviceSerialNumber = room.serial
    ds_.SoftwareVersions = room.software_versions
    ds_.StudyInstanceUID = study.study_instance_uid
    ds_.StudyID = study.accession[-6:]
    return ds_


def part10_bytes(dataset: Elements) -> bytes:
    """The Part 10 file: fixed file meta, so no wall clock or library version in the bytes."""
    return part10(dataset, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)


def write_dataset(path: Path, dataset: Elements) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(part10_bytes(dataset))
