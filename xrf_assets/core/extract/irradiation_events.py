"""TID 10003 Irradiation Event X-Ray Data: one 113706 container -> one `irradiation_events` row.

Every quantity is converted by the unit the file sends (``units.py``); a unit the table does not
know leaves the value null and is named in ``unit_issues``. Lookup tables map concept codes to
columns, so adding a column is one line.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import polars as pl
from pydicom.sr.coding import Code

from xrf_assets.core.extract.units import UnknownUnit, factor
from xrf_assets.core.sr import codes
from xrf_assets.core.sr.tree import CodeKey, ContentNode, NumValue, key_of

# column <- first present concept (current before retired), unit of the column
_SCALARS: tuple[tuple[str, tuple[Code, ...], str], ...] = (
    ("irradiation_duration_s", (codes.IRRADIATION_DURATION,), "s"),
    ("dap_gy_m2", (codes.DOSE_AREA_PRODUCT,), "Gy.m2"),
    ("dose_rp_gy", (codes.DOSE_RP,), "Gy"),
    ("pulse_rate_per_s", (codes.PULSE_RATE,), "/s"),
    ("number_of_pulses", (codes.NUMBER_OF_PULSES,), "1"),
    ("exposure_time_ms", (codes.EXPOSURE_TIME, codes.EXPOSURE_TIME_RETIRED), "ms"),
    ("exposure_uas", (codes.EXPOSURE,), "uA.s"),
    ("focal_spot_mm", (codes.FOCAL_SPOT_SIZE,), "mm"),
    ("collimated_field_area_m2", (codes.COLLIMATED_FIELD_AREA,), "m2"),
    ("collimated_field_height_mm", (codes.COLLIMATED_FIELD_HEIGHT,), "mm"),
    ("collimated_field_width_mm", (codes.COLLIMATED_FIELD_WIDTH,), "mm"),
    ("positioner_primary_angle_deg", (codes.POSITIONER_PRIMARY_ANGLE,), "deg"),
    ("positioner_secondary_angle_deg", (codes.POSITIONER_SECONDARY_ANGLE,), "deg"),
    ("positioner_primary_end_angle_deg", (codes.POSITIONER_PRIMARY_END_ANGLE,), "deg"),
    ("positioner_secondary_end_angle_deg", (codes.POSITIONER_SECONDARY_END_ANGLE,), "deg"),
    ("column_angulation_deg", (codes.COLUMN_ANGULATION,), "deg"),
    ("distance_source_to_isocenter_mm", (codes.DISTANCE_SOURCE_TO_ISOCENTER,), "mm"),
    ("distance_source_to_detector_mm", (codes.DISTANCE_SOURCE_TO_DETECTOR,), "mm"),
    ("distance_source_to_reference_point_mm", (codes.DISTANCE_SOURCE_TO_REFERENCE_POINT,), "mm"),
    ("distance_source_to_table_plane_mm", (codes.DISTANCE_SOURCE_TO_TABLE_PLANE,), "mm"),
    ("table_longitudinal_position_mm", (codes.TABLE_LONGITUDINAL_POSITION,), "mm"),
    ("table_lateral_position_mm", (codes.TABLE_LATERAL_POSITION,), "mm"),
    ("table_height_position_mm", (codes.TABLE_HEIGHT_POSITION,), "mm"),
    ("table_head_tilt_angle_deg", (codes.TABLE_HEAD_TILT_ANGLE,), "deg"),
    ("table_horizontal_rotation_angle_deg", (codes.TABLE_HORIZONTAL_ROTATION_ANGLE,), "deg"),
    ("table_cradle_tilt_angle_deg", (codes.TABLE_CRADLE_TILT_ANGLE,), "deg"),
    ("patient_equivalent_thickness_mm", (codes.PATIENT_EQUIVALENT_THICKNESS,), "mm"),
)

# (mean, min, max) columns <- concept that may be a per-pulse array (Eurocolumbus), unit
_ARRAYS: tuple[tuple[tuple[str, str, str], tuple[Code, ...], str], ...] = (
    (("kvp_kv", "kvp_min_kv", "kvp_max_kv"), (codes.KVP,), "kV"),
    (
        ("tube_current_ma", "tube_current_min_ma", "tube_current_max_ma"),
        (codes.XRAY_TUBE_CURRENT, codes.AVERAGE_XRAY_TUBE_CURRENT),
        "mA",
    ),
    (("pulse_width_ms", "pulse_width_min_ms", "pulse_width_max_ms"), (codes.PULSE_WIDTH,), "ms"),
)

EVENT_TYPES: dict[CodeKey, str] = {
    key_of(codes.FLUOROSCOPY): "fluoroscopy",
    key_of(codes.STATIONARY_ACQUISITION): "stationary",
    key_of(codes.STEPPING_ACQUISITION): "stepping",
    key_of(codes.ROTATIONAL_ACQUISITION): "rotational",
}
PLANES: dict[CodeKey, str] = {
    key_of(codes.PLANE_A): "plane_a",
    key_of(codes.PLANE_B): "plane_b",
    key_of(codes.SINGLE_PLANE): "single_plane",
}
_FLUORO_MODES: dict[CodeKey, str] = {
    key_of(codes.CONTINUOUS): "continuous",
    key_of(codes.PULSED): "pulsed",
}

_TABLE_RELATIONSHIPS: dict[CodeKey, str] = {
    key_of(codes.HEADFIRST): "head_first",
    key_of(codes.FEET_FIRST): "feet_first",
}
_ORIENTATION_MODIFIERS: dict[CodeKey, str] = {
    key_of(codes.SUPINE): "supine",
    key_of(codes.PRONE): "prone",
}


def label(node: ContentNode, concept: Code, table: dict[CodeKey, str]) -> str | None:
    """The column value of a CODE item through a lookup table; an unknown code is noted."""
    value = node.code(concept)
    if value is None:
        return None
    found = table.get(key_of(value))
    if found is None:
        node.issues.append(
            f"{node.path}: {concept.meaning} ({concept.value}) code "
            f"{value.value}/{value.scheme_designator} is not one this pipeline knows; left null"
        )
    return found


class UnitLog:
    """Converts an event's values; collects those left null for an unknown unit (`unit_issues`)."""

    def __init__(self, node: ContentNode) -> None:
        self.node = node
        self.problems: list[str] = []

    def factor(self, concept: Code, num: NumValue, target: str) -> float | None:
        try:
            return factor(num.unit, target)
        except UnknownUnit:
            text = f"{concept.meaning} ({concept.value}): {num.unit!r}"
            self.problems.append(text)
            self.node.issues.append(f"{self.node.path}: unknown unit, value left null: {text}")
            return None

    def scalar(
        self, concepts: tuple[Code, ...], target: str, node: ContentNode | None = None
    ) -> float | None:
        """The value of the first concept present (in ``node``, default the event), converted to
        ``target``; an array where one value is expected is refused."""
        parent = node or self.node
        for concept in concepts:
            num = parent.num(concept)
            if num is None:  # sent without a value: an alternative concept may carry one
                continue
            if num.is_array:
                self.node.issues.append(
                    f"{parent.child_path(concept)}: {len(num.values)} values where one is "
                    "expected; left null"
                )
                return None
            f = self.factor(concept, num, target)
            return None if f is None else num.values[0] * f
        return None

    def summary(
        self, concepts: tuple[Code, ...], target: str
    ) -> tuple[float | None, float | None, float | None]:
        """(mean of non-zero, min non-zero, max) of a possibly per-pulse value, converted."""
        for concept in concepts:
            num = self.node.num(concept)
            if num is None:
                continue
            f = self.factor(concept, num, target)
            if f is None:
                return None, None, None
            mean, low, high = num.summary()
            return (
                mean * f,
                None if low is None else low * f,
                None if high is None else high * f,
            )
        return None, None, None

    @property
    def text(self) -> str | None:
        return "; ".join(self.problems) or None


_FILTER_THICKNESS: tuple[tuple[str, Code], ...] = (
    ("filter_thickness_min_mm", codes.XRAY_FILTER_THICKNESS_MINIMUM),
    ("filter_thickness_max_mm", codes.XRAY_FILTER_THICKNESS_MAXIMUM),
)


def _filters(event: ContentNode, units: UnitLog) -> dict[str, Any]:
    """X-Ray Filters (113771): materials joined by '+', thicknesses summed over the filters.

    A thickness with an unknown unit makes its sum null rather than a partial sum.
    """
    materials: list[str] = []
    sums: dict[str, float | None] = dict.fromkeys(column for column, _ in _FILTER_THICKNESS)
    broken: set[str] = set()
    for flt in event.all(codes.XRAY_FILTERS):
        material = flt.code(codes.XRAY_FILTER_MATERIAL)
        if material is not None:
            materials.append(material.meaning.strip() or material.value)
        for column, concept in _FILTER_THICKNESS:
            known = len(units.problems)
            value = units.scalar((concept,), "mm", flt)
            if len(units.problems) > known:
                broken.add(column)
            elif value is not None:
                sums[column] = (sums[column] or 0.0) + value
    return {
        "filter_material": "+".join(materials) or None,
        **{column: None if column in broken else total for column, total in sums.items()},
    }


def _orientation_modifier(event: ContentNode) -> str | None:
    """Patient Orientation Modifier (113744): under Patient Orientation (113743) as TID 10003
    nests it, or beside it as Canon sends it."""
    orientation = event.first(codes.PATIENT_ORIENTATION)
    if orientation is not None and orientation.has(codes.PATIENT_ORIENTATION_MODIFIER):
        return label(orientation, codes.PATIENT_ORIENTATION_MODIFIER, _ORIENTATION_MODIFIERS)
    return label(event, codes.PATIENT_ORIENTATION_MODIFIER, _ORIENTATION_MODIFIERS)


def read_event(event: ContentNode, utc_offset_s: int | None) -> dict[str, Any]:
    """The event's own columns (report-level columns are added by the caller).

    ``utc_offset_s`` is the report's Timezone Offset From UTC (0008,0201), used when the
    DateTime Started value carries no offset of its own.
    """
    units = UnitLog(event)
    row: dict[str, Any] = {
        "irradiation_event_uid": event.uid(
            codes.IRRADIATION_EVENT_UID, codes.IRRADIATION_EVENT_UID_RETIRED
        ),
        "acquisition_plane": label(event, codes.ACQUISITION_PLANE, PLANES),
        "event_type": label(event, codes.IRRADIATION_EVENT_TYPE, EVENT_TYPES),
        "acquisition_protocol": event.text(codes.ACQUISITION_PROTOCOL),
        "reference_point_definition": event.text(codes.REFERENCE_POINT_DEFINITION),
        "fluoro_mode": label(event, codes.FLUORO_MODE, _FLUORO_MODES),
        "patient_table_relationship": label(
            event, codes.PATIENT_TABLE_RELATIONSHIP, _TABLE_RELATIONSHIPS
        ),
        "patient_orientation_modifier": _orientation_modifier(event),
    }
    started, offset = event.datetime(codes.DATETIME_STARTED) or (None, None)
    row["datetime_started"] = started
    if started is not None and offset is None:
        offset = utc_offset_s
    row["utc_offset_s"] = offset
    for column, concepts, unit in _SCALARS:
        row[column] = units.scalar(concepts, unit)
    for columns, concepts, unit in _ARRAYS:
        row.update(zip(columns, units.summary(concepts, unit), strict=True))
    row.update(_filters(event, units))
    row["unit_issues"] = units.text
    return row


def read_image_refs(event: ContentNode) -> list[tuple[str | None, str | None]]:
    """Every Acquired Image (113795) reference of the event as (class UID, instance UID).

    A reference with an empty instance UID (seen from Philips) is kept with None; an IMAGE
    item without a Referenced SOP Sequence is kept as (None, None) and noted.
    """
    refs = []
    for node in event.all(codes.ACQUIRED_IMAGE):
        ref = node.image_reference()
        if ref is None:
            node.issues.append(f"{node.path}: Acquired Image without Referenced SOP Sequence")
            ref = (None, None)
        elif ref[1] is None:
            node.issues.append(f"{node.path}: Acquired Image with an empty SOP Instance UID")
        refs.append(ref)
    return refs


# -- plausibility of the values an event sends -----------------------------------------------------

# Physical bounds of one irradiation event. The largest real events (long DSA or rotational runs)
# reach tens of Gy.cm2 and a few Gy at the reference point; 1000 Gy.cm2 (0.1 Gy.m2) or 20 Gy in one
# event is beyond any system, while the usual unit mistakes (factors 1e4, 1e5) land far above.
EVENT_DAP_MAX_GY_M2 = 0.1
EVENT_DOSE_RP_MAX_GY = 20.0
# Start times and totals are sent to the second by several vendors (Canon, Philips).
TIME_TOLERANCE_S = 1.0
# Pulsed events: Irradiation Duration ~ Number of Pulses / Pulse Rate (113768 / 113791); beyond a
# factor 2 and one pulse period the duration is not the time the beam was on.
PULSE_TIME_FACTOR = 2.0
# Dose (RP) / DAP is 1 / (field area at the reference point). Collimated Field Area (113790) is
# the area at the detector: scaled by (source-to-RP / source-to-detector)^2 the real reports agree
# within 0.1 % (GE) to 15 % (RF-No-kVp); a factor 3 leaves room for calibration and backscatter.
# Where the distances are not sent, SID / source-to-RP distance <= 3; without a field area the
# field at the reference point lies between 2 x 2 cm and 50 x 50 cm. Values within a few rounding
# steps of zero (2e-6 Gy.m2, 5e-5 Gy, the steps of real reports) are not compared.
DOSE_PER_DAP_FACTOR = 3.0
SID_OVER_REFERENCE_MAX = 3.0
FIELD_AT_REFERENCE_M2 = (4e-4, 0.25)
DAP_ROUNDING_GY_M2 = 2e-6
DOSE_RP_ROUNDING_GY = 5e-5

# flag code -> the event value it makes untrustworthy (``implausible``)
PLAUSIBILITY_FLAGS: dict[str, str] = {
    "duration_exceeds_gap": "duration",
    "duration_exceeds_device_total": "duration",
    "duration_not_pulses_over_rate": "duration",
    "dap_out_of_bounds": "dap",
    "dose_rp_out_of_bounds": "dose_rp",
    "dose_rp_implausible_for_dap": "dose_rp",
}
_DEVICE_TIME = {"fluoroscopy": "total_fluoro_time_s"}  # other event types: acquisition time
_ACQUISITION_TIME = "total_acquisition_time_s"


def implausible(value: str, ignore: tuple[str, ...] = ()) -> pl.Expr:
    """True where an event's ``plausibility`` flags its ``value`` (duration, dap or dose_rp) by a
    code not in ``ignore``.

    Audits leave such a value out of the figures they alert on; a link window should not rely on
    a flagged duration either (``implausible("duration")``).
    """
    codes_ = "|".join(
        code for code, of in PLAUSIBILITY_FLAGS.items() if of == value and code not in ignore
    )
    return pl.col("plausibility").str.contains(f"(^|; )({codes_}):").fill_null(False)


def check_plausibility(events: list[dict[str, Any]], accumulated: list[dict[str, Any]]) -> None:
    """Set each event's ``plausibility``: the values it sends that cannot be physical, or null.

    The values themselves are kept as sent. Seen on real files: Canon Alphenix fluoroscopy events
    last ~13 s per pulse (48 events sum to 6,718 s in a 24-minute study whose Total Fluoro Time is
    70 s). ``accumulated`` are the report's TID 10004 rows (one per plane, or 'total').
    """
    totals = {row["acquisition_plane"]: row for row in accumulated}
    by_plane: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_plane[event["acquisition_plane"]].append(event)
    for plane, group in by_plane.items():
        timed = sorted(
            (e for e in group if e["datetime_started"]), key=lambda e: e["datetime_started"]
        )
        gaps = {
            id(a): (b["datetime_started"] - a["datetime_started"]).total_seconds()
            for a, b in pairwise(timed)
        }
        device = totals.get(plane or "") or totals.get("total") or {}
        for event in group:
            notes = [
                *_duration_notes(event, gaps.get(id(event)), device),
                *_dose_notes(event),
            ]
            event["plausibility"] = "; ".join(notes) or None


def _duration_notes(
    event: dict[str, Any], gap_s: float | None, device: dict[str, Any]
) -> list[str]:
    duration = event["irradiation_duration_s"]
    if duration is None:
        return []
    notes = []
    if gap_s is not None and duration > gap_s + TIME_TOLERANCE_S:
        notes.append(
            f"duration_exceeds_gap: {duration:g} s > {gap_s:g} s to the next event of its plane"
        )
    total = device.get(_DEVICE_TIME.get(event["event_type"] or "", _ACQUISITION_TIME))
    if total is not None and duration > total + TIME_TOLERANCE_S:
        notes.append(
            f"duration_exceeds_device_total: {duration:g} s > the device's total of {total:g} s"
        )
    pulses, rate = event["number_of_pulses"], event["pulse_rate_per_s"]
    if pulses and rate and pulses > 0 and rate > 0:
        expected = pulses / rate
        off = duration > PULSE_TIME_FACTOR * expected or duration < expected / PULSE_TIME_FACTOR
        if off and abs(duration - expected) > 1 / rate:
            notes.append(
                f"duration_not_pulses_over_rate: {duration:g} s, {pulses:g} pulses at "
                f"{rate:g}/s last {expected:.3g} s"
            )
    return notes


def _dose_notes(event: dict[str, Any]) -> list[str]:
    dap, dose = event["dap_gy_m2"], event["dose_rp_gy"]
    notes = []
    if dap is not None and not 0 <= dap <= EVENT_DAP_MAX_GY_M2:
        notes.append(f"dap_out_of_bounds: {dap:g} Gy.m2 outside 0..{EVENT_DAP_MAX_GY_M2:g}")
    if dose is not None and not 0 <= dose <= EVENT_DOSE_RP_MAX_GY:
        notes.append(f"dose_rp_out_of_bounds: {dose:g} Gy outside 0..{EVENT_DOSE_RP_MAX_GY:g}")
    if notes or dap is None or dose is None:
        return notes
    if dap < DAP_ROUNDING_GY_M2 or dose < DOSE_RP_ROUNDING_GY:
        return notes
    low, high = _dose_per_dap_range(event)
    ratio = dose / dap
    if not low <= ratio <= high:
        notes.append(
            f"dose_rp_implausible_for_dap: {dose:g} Gy for {dap:g} Gy.m2 ({ratio:.3g}/m2, "
            f"plausible {low:.3g}..{high:.3g}/m2 for the field sent)"
        )
    return notes


def _dose_per_dap_range(event: dict[str, Any]) -> tuple[float, float]:
    """Plausible Dose (RP) / DAP in 1/m2 from the field area and distances the event sends."""
    area = event["collimated_field_area_m2"]
    if not area or area <= 0:
        small, large = FIELD_AT_REFERENCE_M2
        return 1 / (DOSE_PER_DAP_FACTOR * large), DOSE_PER_DAP_FACTOR / small
    sid = event["distance_source_to_detector_mm"]
    to_rp = event["distance_source_to_reference_point_mm"]
    if sid and to_rp and sid > 0 and to_rp > 0:
        at_rp = area * (to_rp / sid) ** 2
        return 1 / (DOSE_PER_DAP_FACTOR * at_rp), DOSE_PER_DAP_FACTOR / at_rp
    return 1 / (DOSE_PER_DAP_FACTOR * area), DOSE_PER_DAP_FACTOR * SID_OVER_REFERENCE_MAX**2 / area
