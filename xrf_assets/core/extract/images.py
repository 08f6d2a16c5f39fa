"""XA / XRF image headers -> one ``images`` row each (schemas/images.yaml).

Images carry the device identity (the room is assigned from it at publish), protocol and geometry
audits group by, and the Irradiation Event UID
(0008,3010) that links them to their dose report event. Everything comes from the header; pixel
data is never read (see :mod:`xrf_assets.core.dicom.read`).

Enhanced XA / XRF objects keep technique and geometry in functional group macros (X-Ray
Acquisition Dose, Frame Content, X-Ray Geometry, Positioner Position...): an attribute missing at
the top level is looked up in the Shared Functional Groups (5200,9229) and then in the first frame
of the Per-Frame Functional Groups (5200,9230). Irradiation Event UIDs are gathered from every
frame, because the frames of one object may come from several events.

Malformed values become null and a line in the caller's ``problems`` list (for the log); only an
image that cannot be used at all raises :class:`ExtractionError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset

from xrf_assets.core.dicom.elements import is_sequence, sop_class_uid
from xrf_assets.core.dicom.sop_classes import (
    ENHANCED_XA_IMAGE,
    ENHANCED_XRF_IMAGE,
    IMAGE_SOP_CLASSES,
)
from xrf_assets.core.dicom.values import (
    PATIENT_TAGS,
    Header,
    parse_da,
    parse_dt,
    parse_utc_offset,
    patient_columns,
)
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract import units

SOP_INSTANCE_UID = 0x00080018
IRRADIATION_EVENT_UID = 0x00083010
SHARED_FUNCTIONAL_GROUPS = 0x52009229
PER_FRAME_FUNCTIONAL_GROUPS = 0x52009230
IRRADIATION_EVENT_IDENTIFICATION = 0x00189477

# column -> text attribute (values of VM 1-n joined by backslash)
_TEXT: dict[str, int] = {
    "modality": 0x00080060,
    "study_instance_uid": 0x0020000D,
    "series_instance_uid": 0x0020000E,
    "accession_number": 0x00080050,
    "study_description": 0x00081030,
    "performed_procedure_step_description": 0x00400254,
    "patient_id": 0x00100020,
    "patient_name": 0x00100010,
    "manufacturer": 0x00080070,
    "model": 0x00081090,
    "device_serial_number": 0x00181000,
    "software_versions": 0x00181020,
    "station_name": 0x00081010,
    "institution_name": 0x00080080,
    "department_name": 0x00081040,
    "protocol_name": 0x00181030,
    "acquisition_protocol_name": 0x00189423,
    "body_part_examined": 0x00180015,
    "image_type": 0x00080008,
    "radiation_mode": 0x0018115A,
    "filter_type": 0x00181160,
    "filter_material": 0x00187050,
    "grid": 0x00181166,
}

# column -> single-valued numeric attribute already in the column's unit
_NUMBER: dict[str, int] = {
    "patient_weight_kg": 0x00101030,
    "patient_size_m": 0x00101020,
    "kvp_kv": 0x00180060,
    "average_pulse_width_ms": 0x00181154,
    "entrance_dose_mgy": 0x00408302,
    "positioner_primary_angle_deg": 0x00181510,
    "positioner_secondary_angle_deg": 0x00181511,
    "column_angulation_deg": 0x00181450,
    "sid_mm": 0x00181110,
    "source_patient_mm": 0x00181111,
    "table_height_mm": 0x00181130,
    "table_angle_deg": 0x00181138,
    "intensifier_size_mm": 0x00181162,
    "frame_time_ms": 0x00181063,
    "cine_rate_per_s": 0x00180040,
    "actual_frame_duration_ms": 0x00181242,
    "acquisition_duration_s": 0x00189073,
}

# column -> (column unit, attributes tried in order with the unit each is sent in)
_FIRST_OF: dict[str, tuple[str, tuple[tuple[int, str], ...]]] = {
    "tube_current_ma": ("mA", ((0x00181151, "mA"), (0x00189330, "mA"))),
    "exposure_time_ms": ("ms", ((0x00181150, "ms"), (0x00189328, "ms"))),
    "exposure_mas": ("mA.s", ((0x00181152, "mA.s"), (0x00189332, "mA.s"), (0x00181153, "uA.s"))),
    "dap_gy_m2": ("Gy.m2", ((0x0018115E, "dGy.cm2"),)),  # (0018,115E) is sent in dGy.cm2
}

# (acquisition_datetime_source, DT attribute | (DA, TM) attributes), in order of preference
_DATETIME_SOURCES: tuple[tuple[str, int | tuple[int, int]], ...] = (
    ("acquisition_datetime", 0x0008002A),
    ("acquisition_date_time", (0x00080022, 0x00080032)),
    ("content_date_time", (0x00080023, 0x00080033)),
)
TIMEZONE_OFFSET_FROM_UTC = 0x00080201

STUDY_DATE = 0x00080020
SERIES_NUMBER = 0x00200011
INSTANCE_NUMBER = 0x00200013
FOCAL_SPOTS = 0x00181190
NUMBER_OF_FRAMES = 0x00280008
FRAME_TIME_VECTOR = 0x00181065

# Every top-level attribute the row of a plain (not Enhanced) image reads.
TOP_LEVEL_TAGS: frozenset[int] = frozenset(
    {
        *_TEXT.values(),
        *_NUMBER.values(),
        *(tag for _, sources in _FIRST_OF.values() for tag, _ in sources),
        *(
            t
            for _, tags in _DATETIME_SOURCES
            for t in (tags if isinstance(tags, tuple) else (tags,))
        ),
        TIMEZONE_OFFSET_FROM_UTC,
        SOP_INSTANCE_UID,
        IRRADIATION_EVENT_UID,
        STUDY_DATE,
        SERIES_NUMBER,
        INSTANCE_NUMBER,
        FOCAL_SPOTS,
        NUMBER_OF_FRAMES,
        FRAME_TIME_VECTOR,
        *PATIENT_TAGS,
    }
)


def extract_image(
    ds: Dataset, source_path: str, problems: list[str] | None = None
) -> dict[str, Any]:
    """One ``images`` row (identified values, no ``room_id``) from an XA / XRF / Enhanced XA /
    XRF header.

    ``problems``, when given, receives one line per malformed value that was set to null (the
    caller logs them with the file path). Raises :class:`ExtractionError` when the SOP Class UID
    (0008,0016) is not an image class handled here or the SOP Instance UID (0008,0018) is missing.
    """
    h = Header(ds, problems if problems is not None else [])
    return image_row(h, sop_class_uid(ds) or None, source_path)


def image_row(h: Header, sop_class: str | None, source_path: str) -> dict[str, Any]:
    """:func:`extract_image` of a header's values; the one row builder for both ways a header
    is read (a Dataset, or :mod:`~xrf_assets.core.dicom.direct` for plain images, whose
    :class:`Header` holds just :data:`TOP_LEVEL_TAGS`)."""
    if sop_class not in IMAGE_SOP_CLASSES:
        raise ExtractionError(f"SOP Class UID (0008,0016) {sop_class!r} is not an XA/XRF image")
    sop_instance = h.text(SOP_INSTANCE_UID)
    if not sop_instance:
        raise ExtractionError("SOP Instance UID (0008,0018) missing")
    groups: list[Dataset] = []  # the shared group item, then one item per frame
    if sop_class in (ENHANCED_XA_IMAGE, ENHANCED_XRF_IMAGE):
        shared = _sequence_items(h, SHARED_FUNCTIONAL_GROUPS)[:1]
        frames = _sequence_items(h, PER_FRAME_FUNCTIONAL_GROUPS)
        h.add_items(_macro_items(h, shared + frames[:1]))
        groups = shared + frames

    row: dict[str, Any] = h.text_columns(_TEXT)
    row.update(h.number_columns(_NUMBER))
    row.update((name, _first_of(h, name)) for name in _FIRST_OF)
    row["sop_instance_uid"] = sop_instance
    row["sop_class_uid"] = sop_class
    row["series_number"] = h.integer(SERIES_NUMBER)
    row["instance_number"] = h.integer(INSTANCE_NUMBER)
    study_date = h.parsed(STUDY_DATE, parse_da)
    row["study_date"] = study_date
    row.update(patient_columns(h, study_date))
    focal_spots = h.numbers(FOCAL_SPOTS)
    row["focal_spot_mm"] = focal_spots[0] if focal_spots else None
    row.update(_timing(h, row["frame_time_ms"], row["acquisition_duration_s"]))
    row.update(_acquisition_datetime(h))
    row["irradiation_event_uids"] = _event_uids(h, groups)
    row["source_path"] = source_path
    return row


def _first_of(h: Header, column: str) -> float | None:
    """The first of several attributes that has a value, converted to the column's unit."""
    unit, sources = _FIRST_OF[column]
    for tag, sent in sources:
        value = h.number(tag)
        if value is not None:
            return units.convert(value, sent, unit)
    return None


def _timing(h: Header, frame_time_ms: float | None, duration_s: float | None) -> dict[str, Any]:
    """Number of Frames (1 when absent), Frame Time Vector (0018,1065) summary, duration."""
    frames = h.integer(NUMBER_OF_FRAMES) if h.has(NUMBER_OF_FRAMES) else 1
    if frames is not None and frames < 1:
        h.problem(NUMBER_OF_FRAMES, "not a positive count", frames)
        frames = None
    increments = (h.numbers(FRAME_TIME_VECTOR) or [])[1:]  # the first entry is the zero start
    if duration_s is None and frames is not None and frame_time_ms is not None:
        duration_s = frames * frame_time_ms / 1000.0
    return {
        "number_of_frames": frames,
        "frame_time_vector_mean_ms": sum(increments) / len(increments) if increments else None,
        "frame_time_vector_min_ms": min(increments, default=None),
        "frame_time_vector_max_ms": max(increments, default=None),
        "acquisition_duration_s": duration_s,
    }


def _acquisition_datetime(h: Header) -> dict[str, Any]:
    """Acquisition DateTime (0008,002A), else Acquisition Date/Time, else Content Date/Time.

    The UTC offset is the DT's own suffix, else Timezone Offset From UTC (0008,0201), which the
    standard applies to every DA/TM and to every DT without a suffix.
    """
    for source, tags in _DATETIME_SOURCES:
        offset: int | None = None
        if isinstance(tags, int):
            parsed = h.parsed(tags, parse_dt)
            value: datetime | None = parsed[0] if parsed else None
            offset = parsed[1] if parsed else None
        else:
            value = h.date_time(*tags)
        if value is not None:
            if offset is None:
                offset = h.parsed(TIMEZONE_OFFSET_FROM_UTC, parse_utc_offset)
            return {
                "acquisition_datetime": value,
                "acquisition_datetime_source": source,
                "utc_offset_s": offset,
            }
    return {"acquisition_datetime": None, "acquisition_datetime_source": None, "utc_offset_s": None}


def _event_uids(h: Header, groups: list[Dataset]) -> list[str]:
    """Irradiation Event UID(s) (0008,3010) at the top level, else from the Irradiation Event
    Identification (0018,9477) macro of the shared group and of every frame, in first-seen order.
    """
    if not groups or IRRADIATION_EVENT_UID in h.ds:
        return h.uids(IRRADIATION_EVENT_UID)
    found: dict[str, None] = {}
    for group in groups:
        for item in _sequence_items(Header(group, h.problems), IRRADIATION_EVENT_IDENTIFICATION):
            found.update(dict.fromkeys(Header(item, h.problems).uids(IRRADIATION_EVENT_UID)))
    return list(found)


def _sequence_items(h: Header, tag: int) -> list[Dataset]:
    """Items of a sequence attribute; a sequence pydicom cannot parse is a problem, not a crash."""
    if tag not in h.ds:
        return []
    try:
        return list(h.ds[tag].value)
    except Exception as exc:  # pydicom parses nested items on access and can fail on bad bytes
        h.problem(tag, f"cannot read sequence ({type(exc).__name__})")
        return []


def _macro_items(h: Header, groups: Iterable[Dataset]) -> list[Dataset]:
    """The first item of every functional group macro (a sequence) in these group items."""
    items = []
    for group in groups:
        gh = Header(group, h.problems)
        for tag in group.keys():  # noqa: SIM118 (iterating a Dataset converts every value)
            if is_sequence(tag, group.get_item(tag, keep_deferred=True).VR):
                items.extend(_sequence_items(gh, tag)[:1])
    return items
