"""X-Ray Radiation Dose SR files (1.2.840.10008.5.1.4.1.1.88.67) following TID 10001.

Content: TID 1002 device observer context, Scope of Accumulation (113705) with the Study Instance
UID (110180), one TID 10002 Accumulated X-Ray Dose Data container per plane whose TID 10004 totals
are the exact sums of the events the report holds, and one TID 10003 container per irradiation
event, with Acquired Image (113795) references where the room writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from xrf_assets.core.sr import codes as C
from xrf_assets.synth.common import base_dataset, da, ds, dt, offset_text, tm, utc_offset_on
from xrf_assets.synth.config import SynthConfig
from xrf_assets.synth.encoder import Elements
from xrf_assets.synth.images import SOP_CLASS
from xrf_assets.synth.plan import EventPlan, ReportPlan, StudyPlan

XRAY_RADIATION_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
PLANE_CODES = {"single_plane": C.SINGLE_PLANE, "plane_a": C.PLANE_A, "plane_b": C.PLANE_B}
EVENT_TYPE_CODES = {
    "fluoroscopy": C.FLUOROSCOPY,
    "stationary": C.STATIONARY_ACQUISITION,
    "rotational": C.ROTATIONAL_ACQUISITION,
}
REFERENCE_POINT = {
    "XA": codes.DCM._15cmFromIsocenterTowardSource,
    "RF": codes.DCM._30cmAboveTabletop,
}
FILTER_MATERIALS = {"Copper": codes.SCT.Copper, "Aluminum": codes.SCT.Aluminum}


def _unit(value: str, meaning: str) -> Code:
    return Code(value, "UCUM", meaning)


UNITS = {
    u: _unit(u, m)
    for u, m in (
        ("Gy.m2", "Gy.m2"),
        ("Gy", "Gy"),
        ("kV", "kV"),
        ("mA", "mA"),
        ("ms", "ms"),
        ("s", "s"),
        ("uA.s", "uA.s"),
        ("mm", "mm"),
        ("deg", "deg"),
        ("m2", "m2"),
        ("{pulse}/s", "pulse/s"),
        ("1", "no units"),
    )
}


def _code_seq(code: Code) -> Elements:
    item = Elements()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def _item(rel: str, value_type: str, concept: Code) -> Elements:
    item = Elements()
    item.RelationshipType = rel
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [_code_seq(concept)]
    return item


def container(rel: str, concept: Code, children: Iterable[Elements]) -> Elements:
    item = _item(rel, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = list(children)
    return item


def code_item(rel: str, concept: Code, value: Code, children: Iterable[Elements] = ()) -> Elements:
    item = _item(rel, "CODE", concept)
    item.ConceptCodeSequence = [_code_seq(value)]
    if kids := list(children):
        item.ContentSequence = kids
    return item


def num(concept: Code, value: Decimal | int, unit: str, rel: str = "CONTAINS") -> Elements:
    item = _item(rel, "NUM", concept)
    measured = Elements()
    measured.NumericValue = ds(value)
    measured.MeasurementUnitsCodeSequence = [_code_seq(UNITS[unit])]
    item.MeasuredValueSequence = [measured]
    return item


def text(rel: str, concept: Code, value: str) -> Elements:
    item = _item(rel, "TEXT", concept)
    item.TextValue = value
    return item


def uidref(rel: str, concept: Code, value: str, children: Iterable[Elements] = ()) -> Elements:
    item = _item(rel, "UIDREF", concept)
    item.UID = value
    if kids := list(children):
        item.ContentSequence = kids
    return item


def image_ref(sop_class_uid: str, sop_instance_uid: str) -> Elements:
    item = _item("CONTAINS", "IMAGE", C.ACQUIRED_IMAGE)
    ref = Elements()
    ref.ReferencedSOPClassUID = sop_class_uid
    ref.ReferencedSOPInstanceUID = sop_instance_uid
    item.ReferencedSOPSequence = [ref]
    return item


def _totals(events: list[EventPlan]) -> list[Elements]:
    """TID 10004: fluoro, acquisition and overall totals, exact sums of the events given."""
    fluoro = [e for e in events if e.event_type == "fluoroscopy"]
    acq = [e for e in events if e.event_type != "fluoroscopy"]

    def total(es: list[EventPlan], attr: str) -> Decimal:
        return sum((getattr(e, attr) for e in es), Decimal(0))

    return [
        num(C.FLUORO_DAP_TOTAL, total(fluoro, "dap_gy_m2"), "Gy.m2"),
        num(C.FLUORO_DOSE_RP_TOTAL, total(fluoro, "dose_rp_gy"), "Gy"),
        num(C.TOTAL_FLUORO_TIME, total(fluoro, "duration_s"), "s"),
        num(C.ACQUISITION_DAP_TOTAL, total(acq, "dap_gy_m2"), "Gy.m2"),
        num(C.ACQUISITION_DOSE_RP_TOTAL, total(acq, "dose_rp_gy"), "Gy"),
        num(C.TOTAL_ACQUISITION_TIME, total(acq, "duration_s"), "s"),
        num(C.DAP_TOTAL, total(events, "dap_gy_m2"), "Gy.m2"),
        num(C.DOSE_RP_TOTAL, total(events, "dose_rp_gy"), "Gy"),
        num(C.TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES, sum(e.pulses for e in acq), "1"),
    ]


def report_planes(study: StudyPlan) -> list[str]:
    """Planes with a TID 10002 container: both for a biplane room, else single plane."""
    return ["plane_a", "plane_b"] if study.room.biplane else ["single_plane"]


def _event(e: EventPlan, study: StudyPlan, dt_offset: int | None, refs: bool) -> Elements:
    """TID 10003 for one event; optional rows only where the event type has them."""
    xa = study.room.modality == "XA"
    items = [
        code_item("HAS CONCEPT MOD", C.ACQUISITION_PLANE, PLANE_CODES[e.plane]),
        _item_datetime(e, dt_offset),
        code_item("CONTAINS", C.IRRADIATION_EVENT_TYPE, EVENT_TYPE_CODES[e.event_type]),
        text("CONTAINS", C.ACQUISITION_PROTOCOL, e.protocol),
        code_item("CONTAINS", C.REFERENCE_POINT_DEFINITION, REFERENCE_POINT[study.room.modality]),
        uidref("CONTAINS", C.IRRADIATION_EVENT_UID, e.uid),
        num(C.DOSE_AREA_PRODUCT, e.dap_gy_m2, "Gy.m2"),
        num(C.DOSE_RP, e.dose_rp_gy, "Gy"),
        num(C.COLLIMATED_FIELD_AREA, e.field_area_m2, "m2"),
        num(C.COLLIMATED_FIELD_HEIGHT, e.field_height_mm, "mm"),
        num(C.COLLIMATED_FIELD_WIDTH, e.field_width_mm, "mm"),
    ]
    if xa:
        assert e.primary_angle is not None and e.secondary_angle is not None
        items += [
            num(C.POSITIONER_PRIMARY_ANGLE, e.primary_angle, "deg"),
            num(C.POSITIONER_SECONDARY_ANGLE, e.secondary_angle, "deg"),
        ]
        if e.primary_end_angle is not None and e.secondary_end_angle is not None:
            items += [
                num(C.POSITIONER_PRIMARY_END_ANGLE, e.primary_end_angle, "deg"),
                num(C.POSITIONER_SECONDARY_END_ANGLE, e.secondary_end_angle, "deg"),
            ]
    else:
        assert e.column_angulation is not None
        items.append(num(C.COLUMN_ANGULATION, e.column_angulation, "deg"))
    items += _filters(e)
    if e.event_type == "fluoroscopy":
        items.append(code_item("CONTAINS", C.FLUORO_MODE, C.PULSED if e.pulsed else C.CONTINUOUS))
    if e.pulsed:
        items += [
            num(C.PULSE_RATE, e.pulse_rate, "{pulse}/s"),
            num(C.NUMBER_OF_PULSES, e.pulses, "1"),
        ]
    items += [
        num(C.KVP, e.kvp, "kV"),
        num(C.XRAY_TUBE_CURRENT, e.tube_current_ma, "mA"),
        num(C.EXPOSURE_TIME, e.exposure_time_ms, "ms"),
    ]
    if e.pulsed:
        items.append(num(C.PULSE_WIDTH, e.pulse_width_ms, "ms"))
    items += [
        num(C.EXPOSURE, e.exposure_uas, "uA.s"),
        num(C.FOCAL_SPOT_SIZE, e.focal_spot_mm, "mm"),
        num(C.IRRADIATION_DURATION, e.duration_s, "s"),
        num(C.DISTANCE_SOURCE_TO_DETECTOR, e.source_detector_mm, "mm"),
        num(C.DISTANCE_SOURCE_TO_ISOCENTER, e.source_isocenter_mm, "mm"),
    ]
    if e.source_reference_mm is not None:
        items.append(num(C.DISTANCE_SOURCE_TO_REFERENCE_POINT, e.source_reference_mm, "mm"))
    items += [
        num(C.TABLE_LONGITUDINAL_POSITION, e.table_longitudinal_mm, "mm"),
        num(C.TABLE_LATERAL_POSITION, e.table_lateral_mm, "mm"),
        num(C.TABLE_HEIGHT_POSITION, e.table_height_mm, "mm"),
    ]
    if refs:
        items += [
            image_ref(SOP_CLASS[study.room.modality], img.sop_instance_uid) for img in e.images
        ]
    return container("CONTAINS", C.IRRADIATION_EVENT_XRAY_DATA, items)


def _filters(e: EventPlan) -> list[Elements]:
    """One X-Ray Filters (113771) container per filter, as TID 10003 repeats it."""
    return [
        container(
            "CONTAINS",
            C.XRAY_FILTERS,
            [
                code_item("CONTAINS", C.XRAY_FILTER_TYPE, codes.DCM.FlatFilter),
                code_item("CONTAINS", C.XRAY_FILTER_MATERIAL, FILTER_MATERIALS[material]),
                num(C.XRAY_FILTER_THICKNESS_MINIMUM, thickness, "mm"),
                num(C.XRAY_FILTER_THICKNESS_MAXIMUM, thickness, "mm"),
            ],
        )
        for material, thickness in e.filters
    ]


def _item_datetime(e: EventPlan, dt_offset: int | None) -> Elements:
    item = _item("CONTAINS", "DATETIME", C.DATETIME_STARTED)
    item.DateTime = dt(e.start, dt_offset)
    return item


def report_dataset(report: ReportPlan, study: StudyPlan, config: SynthConfig) -> Elements:
    """The whole SR file: SR Document Series/General/Content and Enhanced General Equipment."""
    room = study.room
    ds_ = base_dataset(study, XRAY_RADIATION_DOSE_SR, report.sop_instance_uid)
    ds_.Modality = "SR"
    ds_.SeriesInstanceUID = report.series_instance_uid
    ds_.SeriesNumber = 999
    ds_.SeriesDate, ds_.SeriesTime = da(report.content_time.date()), tm(report.content_time)
    ds_.ReferencedPerformedProcedureStepSequence = []
    ds_.InstanceNumber = report.instance_number
    ds_.ContentDate, ds_.ContentTime = da(report.content_time.date()), tm(report.content_time)
    ds_.CompletionFlag = "COMPLETE"
    ds_.VerificationFlag = "UNVERIFIED"
    ds_.PerformedProcedureCodeSequence = []
    offset = utc_offset_on(config, study.start.date())
    dt_offset = offset if room.utc_offset == "dt_suffix" else None
    if room.utc_offset == "tz_attribute":
        ds_.TimezoneOffsetFromUTC = offset_text(offset)
    refs = room.writes_image_refs
    if refs and any(e.images for e in report.events):
        ds_.CurrentRequestedProcedureEvidenceSequence = [_evidence(report, study)]
    ds_.ValueType = "CONTAINER"
    ds_.ConceptNameCodeSequence = [_code_seq(C.XRAY_RADIATION_DOSE_REPORT)]
    ds_.ContinuityOfContent = "SEPARATE"
    template = Elements()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "10001"
    ds_.ContentTemplateSequence = [template]
    observer = [
        code_item("HAS OBS CONTEXT", codes.DCM.ObserverType, codes.DCM.Device),
        uidref("HAS OBS CONTEXT", C.DEVICE_OBSERVER_UID, room.device_observer_uid),
        text("HAS OBS CONTEXT", codes.DCM.DeviceObserverName, room.station_name),
        text("HAS OBS CONTEXT", codes.DCM.DeviceObserverManufacturer, room.manufacturer),
        text("HAS OBS CONTEXT", codes.DCM.DeviceObserverModelName, room.model),
        text("HAS OBS CONTEXT", codes.DCM.DeviceObserverSerialNumber, room.serial),
    ]
    scope = code_item(
        "HAS OBS CONTEXT",
        C.SCOPE_OF_ACCUMULATION,
        codes.DCM.Study,
        [uidref("HAS PROPERTIES", C.STUDY_INSTANCE_UID, study.study_instance_uid)],
    )
    accumulated = [
        container(
            "CONTAINS",
            C.ACCUMULATED_XRAY_DOSE_DATA,
            [
                code_item("HAS CONCEPT MOD", C.ACQUISITION_PLANE, PLANE_CODES[plane]),
                *_totals([e for e in report.events if e.plane == plane]),
                code_item("CONTAINS", C.REFERENCE_POINT_DEFINITION, REFERENCE_POINT[room.modality]),
            ],
        )
        for plane in report_planes(study)
    ]
    ds_.ContentSequence = [
        code_item("HAS CONCEPT MOD", C.PROCEDURE_REPORTED, C.PROJECTION_XRAY),
        *observer,
        scope,
        *accumulated,
        *(_event(e, study, dt_offset, refs) for e in report.events),
    ]
    return ds_


def _evidence(report: ReportPlan, study: StudyPlan) -> Elements:
    """Current Requested Procedure Evidence: every image the report references, by series."""
    series: dict[str, list[str]] = {}
    for e in report.events:
        for img in e.images:
            if img.sop_instance_uid not in series.setdefault(img.series_instance_uid, []):
                series[img.series_instance_uid].append(img.sop_instance_uid)
    sop_class = SOP_CLASS[study.room.modality]
    study_item = Elements()
    study_item.StudyInstanceUID = study.study_instance_uid
    study_item.ReferencedSeriesSequence = []
    for series_uid, sops in series.items():
        s = Elements()
        s.SeriesInstanceUID = series_uid
        s.ReferencedSOPSequence = []
        for sop in sops:
            r = Elements()
            r.ReferencedSOPClassUID = sop_class
            r.ReferencedSOPInstanceUID = sop
            s.ReferencedSOPSequence.append(r)
        study_item.ReferencedSeriesSequence.append(s)
    return study_item
