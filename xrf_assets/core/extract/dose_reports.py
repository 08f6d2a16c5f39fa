"""X-ray radiation dose reports (TID 10001 and its TID 10002/10003/10004 parts) -> table rows.

Reads X-Ray Radiation Dose SR, Enhanced X-Ray Radiation Dose SR and Enhanced/Comprehensive SR whose
root concept is 113701, with or without ContentTemplateSequence (GE OEC MiniView sends none). The
tree is walked by concept code only. Patient values stay identified here; privacy is applied by
the ingest stage.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from xrf_assets.core.dicom.elements import sop_class_uid
from xrf_assets.core.dicom.sop_classes import GENERAL_SR_SOP_CLASSES, RDSR_SOP_CLASSES
from xrf_assets.core.dicom.values import (
    Header,
    parse_da,
    parse_utc_offset,
    patient_columns,
)
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.irradiation_events import (
    PLANES,
    UnitLog,
    check_plausibility,
    label,
    read_event,
    read_image_refs,
)
from xrf_assets.core.sr import codes
from xrf_assets.core.sr import items as sr_items
from xrf_assets.core.sr.tree import (
    DAMAGED,
    CodeKey,
    ContentNode,
    concept_of,
    key_of,
)

# Vendor dose summaries that are not TID 10001 and hold no irradiation events.
PROPRIETARY_SUMMARIES: dict[CodeKey, str] = {
    ("C-10", "99SMS_RADSUM"): "Siemens proprietary radiation dose summary (99SMS_RADSUM C-10)",
}

_ROOT = key_of(codes.XRAY_RADIATION_DOSE_REPORT)

# accumulated_dose column <- concept, unit (TID 10004 and TID 10007 inside TID 10002)
_TOTALS: tuple[tuple[str, Code, str], ...] = (
    ("dap_total_gy_m2", codes.DAP_TOTAL, "Gy.m2"),
    ("dose_rp_total_gy", codes.DOSE_RP_TOTAL, "Gy"),
    ("fluoro_dap_total_gy_m2", codes.FLUORO_DAP_TOTAL, "Gy.m2"),
    ("fluoro_dose_rp_total_gy", codes.FLUORO_DOSE_RP_TOTAL, "Gy"),
    ("total_fluoro_time_s", codes.TOTAL_FLUORO_TIME, "s"),
    ("acquisition_dap_total_gy_m2", codes.ACQUISITION_DAP_TOTAL, "Gy.m2"),
    ("acquisition_dose_rp_total_gy", codes.ACQUISITION_DOSE_RP_TOTAL, "Gy"),
    ("total_acquisition_time_s", codes.TOTAL_ACQUISITION_TIME, "s"),
    ("total_number_of_radiographic_frames", codes.TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES, "1"),
)

# What a report says about the kind of system (modality column), most direct first.
_DEVICE_TYPES: dict[CodeKey, str] = {
    key_of(codes.FLUOROSCOPY_GUIDED_SYSTEM): "fluoroscopy",
    key_of(codes.INTEGRATED_RADIOGRAPHY_SYSTEM): "radiography",
    key_of(codes.CASSETTE_BASED_RADIOGRAPHY_SYSTEM): "radiography",
}
_REFERENCED_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.12.1": "fluoroscopy",  # XA
    "1.2.840.10008.5.1.4.1.1.12.1.1": "fluoroscopy",  # Enhanced XA
    "1.2.840.10008.5.1.4.1.1.12.2": "fluoroscopy",  # XRF
    "1.2.840.10008.5.1.4.1.1.12.2.1": "fluoroscopy",  # Enhanced XRF
    "1.2.840.10008.5.1.4.1.1.1": "radiography",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1": "radiography",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1": "radiography",  # DX for processing
}
_FLUORO_EVENT_TYPES = frozenset({"fluoroscopy", "rotational", "stepping"})
_FLUORO_TOTALS = ("fluoro_dap_total_gy_m2", "total_fluoro_time_s")


@dataclass
class ReportExtract:
    events: list[dict[str, Any]] = field(default_factory=list)  # `irradiation_events` rows
    accumulated: list[dict[str, Any]] = field(default_factory=list)  # `accumulated_dose` rows
    refs: list[dict[str, Any]] = field(default_factory=list)  # `event_image_refs` rows
    issues: list[str] = field(default_factory=list)  # non-fatal problems worth a log line
    partial: str | None = None  # why content was lost (damaged items, empty events); else None


def _root_key(ds: Dataset) -> CodeKey | None:
    """Raises ExtractionError where the root's Concept Name cannot be read: what the object is
    is then unknown, which is the file's fault, not a bug to report."""
    try:
        concept = concept_of(ds)
    except sr_items.MalformedSequence as exc:
        raise ExtractionError(
            f"root Concept Name Code Sequence (0040,A043) cannot be read ({exc}): "
            "the report cannot be identified"
        ) from None
    return key_of(concept) if concept is not None else None


def is_dose_report(ds: Dataset) -> bool:
    """An RDSR SOP class, or a general SR whose root is 113701 or a known vendor dose summary.

    Vendor summaries count as dose reports so that the ingest stage records why they give no
    rows (``extract_report`` raises) instead of ignoring them.
    """
    sop_class = sop_class_uid(ds)
    if sop_class in RDSR_SOP_CLASSES:
        return True
    if sop_class not in GENERAL_SR_SOP_CLASSES:
        return False
    root = _root_key(ds)
    return root == _ROOT or root in PROPRIETARY_SUMMARIES


# header attributes of the report
_HEADER_TEXT: dict[str, int] = {
    "report_sop_instance_uid": 0x00080018,
    "study_description": 0x00081030,
    "accession_number": 0x00080050,
    "patient_id": 0x00100020,
    "patient_name": 0x00100010,
    "manufacturer": 0x00080070,
    "model": 0x00081090,
    "device_serial_number": 0x00181000,
    "station_name": 0x00081010,
}
STUDY_INSTANCE_UID = 0x0020000D
STUDY_DATE = 0x00080020
CONTENT_DATE, CONTENT_TIME = 0x00080023, 0x00080033
PATIENT_SIZE, PATIENT_WEIGHT = 0x00101020, 0x00101030  # m, kg: scale the skin dose phantom
TIMEZONE_OFFSET_FROM_UTC = 0x00080201


def _report_columns(h: Header, root: ContentNode) -> dict[str, Any]:
    """The report-level columns every event row repeats (patient, study, device identity)."""
    row: dict[str, Any] = {name: h.text(tag) for name, tag in _HEADER_TEXT.items()}
    study = h.parsed(STUDY_DATE, parse_da)
    scope = root.first(codes.SCOPE_OF_ACCUMULATION)
    scoped_study = scope.uid(codes.STUDY_INSTANCE_UID) if scope is not None else None
    if scoped_study is None:  # Canon Alphenix puts 110180 beside the scope, not under it
        scoped_study = root.uid(codes.STUDY_INSTANCE_UID)
    header_study = h.text(STUDY_INSTANCE_UID)
    if scoped_study and header_study and scoped_study != header_study:
        root.issues.append(
            f"Scope of Accumulation study {scoped_study} differs from the header's "
            f"Study Instance UID {header_study}; the scope is used"
        )
    row.update(patient_columns(h, study))
    row.update(
        study_instance_uid=scoped_study or header_study,
        study_date=study,
        device_observer_uid=root.uid(codes.DEVICE_OBSERVER_UID),
        device_observer_model_name=root.text(codes.DEVICE_OBSERVER_MODEL_NAME),
        patient_size_m=h.number(PATIENT_SIZE),
        patient_weight_kg=h.number(PATIENT_WEIGHT),
    )
    return row


def _accumulated(
    root: ContentNode, report: dict[str, Any], report_time: Any, source_path: str
) -> list[dict[str, Any]]:
    """One row per Accumulated X-Ray Dose Data (113702) container, keyed by its plane."""
    rows: dict[str, dict[str, Any]] = {}
    for container in root.all(codes.ACCUMULATED_XRAY_DOSE_DATA):
        plane: str | None = "total"
        if container.has(codes.ACQUISITION_PLANE):
            plane = label(container, codes.ACQUISITION_PLANE, PLANES)
        else:
            container.issues.append(
                f"{container.path}: no Acquisition Plane (113764); recorded as plane 'total'"
            )
        if plane is None:
            container.issues.append(f"{container.path}: Acquisition Plane unreadable; skipped")
            continue
        if plane in rows:
            container.issues.append(f"{container.path}: second container for {plane}; ignored")
            continue
        units = UnitLog(container)
        row = {column: units.scalar((concept,), unit) for column, concept, unit in _TOTALS}
        calibration = container.first(codes.CALIBRATION)
        rows[plane] = {
            "report_sop_instance_uid": report["report_sop_instance_uid"],
            "study_instance_uid": report["study_instance_uid"],
            "acquisition_plane": plane,
            **row,
            "reference_point_definition": container.text(codes.REFERENCE_POINT_DEFINITION),
            "calibration_factor": (
                units.scalar((codes.CALIBRATION_FACTOR,), "1", calibration) if calibration else None
            ),
            "report_datetime": report_time,
            "unit_issues": units.text,
            "source_path": source_path,
        }
    return list(rows.values())


def _modality(
    root: ContentNode,
    events: list[dict[str, Any]],
    refs: list[tuple[str | None, str | None]],
    accumulated: list[dict[str, Any]],
) -> str | None:
    """Fluoroscopy (RF/XA) or radiography (DX/CR) from what the report itself says.

    An SR has no Modality of its images, and one room (a Siemens Fluorospot Compact FD) sends
    both kinds under the same Procedure Reported (113704 Projection X-Ray). Any fluoroscopy
    evidence wins: Acquisition Device Type 113957, a fluoroscopy/rotational/stepping event, a
    biplane event, a reference to an XA/XRF image, non-zero fluoro totals. Otherwise a
    radiography device type, a CR/DX image reference or only stationary events mean radiography.
    """
    device = root.code(codes.ACQUISITION_DEVICE_TYPE)
    stated = _DEVICE_TYPES.get(key_of(device)) if device is not None else None
    by_refs = {_REFERENCED_CLASSES.get(cls or "") for cls, _ in refs}
    types = {e["event_type"] for e in events}
    fluoro = (
        stated == "fluoroscopy"
        or bool(types & _FLUORO_EVENT_TYPES)
        or any(e["acquisition_plane"] in ("plane_a", "plane_b") for e in events)
        or "fluoroscopy" in by_refs
        or any((a[c] or 0) > 0 for a in accumulated for c in _FLUORO_TOTALS)
    )
    if fluoro:
        return "fluoroscopy"
    if stated == "radiography" or "radiography" in by_refs or types == {"stationary"}:
        return "radiography"
    root.issues.append("cannot tell fluoroscopy from radiography: modality left null")
    return None


def _check_root(ds: Dataset) -> None:
    root = _root_key(ds)
    if root in PROPRIETARY_SUMMARIES:
        raise ExtractionError(
            f"{PROPRIETARY_SUMMARIES[root]}, not an X-Ray Radiation Dose Report (TID 10001): "
            "it holds no irradiation events"
        )
    if root != _ROOT:
        name = f"{root[0]}/{root[1]}" if root else "none"
        raise ExtractionError(
            f"root concept {name} is not X-Ray Radiation Dose Report (113701): not TID 10001"
        )
    if 0x0040A730 not in ds:  # tested without converting the (possibly large) sequence
        raise ExtractionError("empty content tree: no Content Sequence (0040,A730)")


def _check_study_date(study: date | None, out: ReportExtract) -> None:
    """Note a Study Date more than a day from every event start (a copy re-filed under another
    study keeps the event times); a procedure over midnight differs by one day."""
    started = [e["datetime_started"].date() for e in out.events if e["datetime_started"]]
    if study is None or not started or min(abs((d - study).days) for d in started) <= 1:
        return
    out.issues.append(
        f"Study Date (0008,0020) {study} is more than a day from every event start "
        f"({min(started)} to {max(started)})"
    )


def extract_report(ds: Dataset, source_path: str) -> ReportExtract:
    """All rows of one dose report (no ``room_id``: ingest assigns rooms at publish); raises
    ExtractionError when the report cannot be used."""
    _check_root(ds)
    out = ReportExtract()
    root = ContentNode(ds, out.issues)
    h = Header(ds, out.issues)
    if not h.text(0x00080018):
        raise ExtractionError("SOP Instance UID (0008,0018) missing")
    try:
        _extract(h, root, source_path, out)
    except ExtractionError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, struct.error) as exc:  # corrupt values
        raise ExtractionError(
            f"content tree cannot be read ({type(exc).__name__}: {exc}); no rows taken"
        ) from exc
    return out


def _extract(h: Header, root: ContentNode, source_path: str, out: ReportExtract) -> None:
    events = root.all(codes.IRRADIATION_EVENT_XRAY_DATA)
    if not events:
        raise ExtractionError("no Irradiation Event X-Ray Data (113706) container")
    report = _report_columns(h, root)
    tz = h.parsed(TIMEZONE_OFFSET_FROM_UTC, parse_utc_offset)
    report_time = h.date_time(CONTENT_DATE, CONTENT_TIME)
    all_refs: list[tuple[str | None, str | None]] = []
    seen: set[str] = set()
    empty: list[str] = []
    for n, event in enumerate(events, start=1):
        lost = _lost_content(event)
        if lost is not None:  # no values and no UID: an event row would be invented
            if lost == "empty":
                empty.append(event.path)
            continue
        row = read_event(event, tz)
        uid = row["irradiation_event_uid"]
        if uid is None:
            uid = f"missing-uid:{report['report_sop_instance_uid']}#{n}"
            row["irradiation_event_uid"] = uid
            out.issues.append(
                f"{event.path}: no Irradiation Event UID (113769); kept under the key {uid}"
            )
        elif uid in seen:
            out.issues.append(f"{event.path}: Irradiation Event UID {uid} repeated; first kept")
            continue
        seen.add(uid)
        out.events.append({**report, **row, "source_path": source_path})
        for cls, inst in read_image_refs(event):
            all_refs.append((cls, inst))
            out.refs.append(
                {
                    "irradiation_event_uid": uid,
                    "referenced_sop_instance_uid": inst,
                    "referenced_sop_class_uid": cls,
                    "report_sop_instance_uid": report["report_sop_instance_uid"],
                }
            )
    if not out.events:
        raise ExtractionError(
            f"all {len(events)} Irradiation Event X-Ray Data (113706) containers are empty"
        )
    _check_study_date(report["study_date"], out)
    out.accumulated = _accumulated(root, report, report_time, source_path)
    check_plausibility(out.events, out.accumulated)
    modality = _modality(root, out.events, all_refs, out.accumulated)
    for row in out.events:
        row["modality"] = modality
    out.partial = _loss(out, empty)


def _lost_content(event: ContentNode) -> str | None:
    """``empty`` for a 113706 container without content items (a blanked copy), ``damaged``
    (and noted) where its Content Sequence cannot be read: nothing of the event can be read,
    not even its UID. None for a container with content."""
    try:
        return None if event.content() else "empty"
    except sr_items.MalformedSequence as exc:
        event.issues.append(f"{event.path}: (0040,A730) cannot be read ({exc}): {DAMAGED}")
        return "damaged"


def _loss(out: ReportExtract, empty: list[str]) -> str | None:
    """Why the report was not read completely (``partial``), or None: damaged content items
    (their events and totals are lost, how many is unknowable) and empty event containers."""
    damaged = [i for i in out.issues if DAMAGED in i]
    if not damaged and not empty:
        return None
    parts = []
    if damaged:
        first = damaged[0].split(":", 1)[0]
        parts.append(f"{len(damaged)} damaged content item(s) not read (first: {first})")
    if empty:
        parts.append(
            f"{len(empty)} Irradiation Event X-Ray Data (113706) container(s) without content "
            f"({', '.join(empty[:3])}{', ...' if len(empty) > 3 else ''}): no event taken"
        )
    return (
        "partial report: "
        + "; ".join(parts)
        + f"; {len(out.events)} irradiation events read, whatever the damaged part held is lost"
    )
