"""TID 10003 Irradiation Event X-Ray Data: one 113706 container -> one `irradiation_events` row.

Every quantity is converted by the unit the file sends (``units.py``); a unit the table does not
know leaves the value null and is named in ``unit_issues``. Lookup tables map concept codes to
columns, so adding a column is one line.
"""

from __future__ import annotations

from typing import Any

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
        for concept in concepts:
            item = (node or self.node).first(concept)
            if item is None:
                continue
            num = item.num_value()
            if num is None:  # sent without a value: an alternative concept may carry one
                continue
            if num.is_array:
                self.node.issues.append(
                    f"{item.path}: {len(num.values)} values where one is expected; left null"
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
            item = self.node.first(concept)
            if item is None:
                continue
            num = item.num_value()
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
