"""Per-device geometry conventions (xrf_assets/defaults/skin_geometry.yaml) and event -> beams.

Which attributes an event needs is listed once (``REQUIRED``), so a study without a skin dose map
is told which of them its events lack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import polars.selectors as cs

from xrf_assets.core.settings_files import read_yaml_mapping
from xrf_assets.core.skin import beam
from xrf_assets.core.skin.beam import FloatArray
from xrf_assets.core.skin.phantom import Beams

ROTATION_STEP_DEG = 5.0


class SkinGeometryError(ValueError):
    """The skin geometry file is unusable; names the file and entry."""


@dataclass(frozen=True)
class Axis:
    sign: float
    origin: str  # study_median | absolute


@dataclass(frozen=True)
class Device:
    name: str
    manufacturer: re.Pattern[str]
    model: re.Pattern[str]
    verified: bool
    primary_sign: float
    secondary_sign: float
    longitudinal: Axis
    lateral: Axis
    height_offset_mm: float
    height_sign: float
    height_missing: str  # centre_at_isocenter | refuse


@dataclass(frozen=True)
class Conventions:
    source: str
    devices: tuple[Device, ...]
    reference_points: tuple[tuple[re.Pattern[str], str], ...]
    table_transmission: float
    mattress_thickness_mm: float
    table_width_mm: float

    @classmethod
    def load(cls, path: Path | None = None) -> Conventions:
        """``source`` names the file for the published reasons by its name, not its folder: a
        machine's paths are no business of the tables."""
        source = "the skin geometry file {} (XRF_SKIN_GEOMETRY_FILE)"
        if path is None:
            path = Path(str(resources.files("xrf_assets") / "defaults" / "skin_geometry.yaml"))
            source = "the built-in skin geometry file {} (a site sets XRF_SKIN_GEOMETRY_FILE)"
        try:
            stat = path.stat()
        except OSError:  # read_yaml_mapping tells what is wrong with it
            return cls._parse(path, source)
        return cls._read(path, source, stat.st_mtime_ns, stat.st_size)

    @classmethod
    @lru_cache(maxsize=8)
    def _read(cls, path: Path, source: str, mtime_ns: int, size: int) -> Conventions:
        """Parsed once per version of the file (pure-Python YAML took 30 ms, each month's
        skin_dose run asks again); a frozen value, safe to share."""
        return cls._parse(path, source)

    @classmethod
    def _parse(cls, path: Path, source: str) -> Conventions:
        raw = read_yaml_mapping(path, "skin geometry conventions", SkinGeometryError)
        try:
            defaults = raw["defaults"]
            devices = tuple(_device(entry) for entry in raw["devices"])
            points = tuple(
                (re.compile(p["pattern"], re.IGNORECASE), str(p["from"]))
                for p in raw["reference_points"]
            )
            return cls(
                source=source.format(path.name),
                devices=devices,
                reference_points=points,
                table_transmission=float(defaults["table_transmission"]),
                mattress_thickness_mm=float(defaults["mattress_thickness_mm"]),
                table_width_mm=float(defaults["table_width_mm"]),
            )
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise SkinGeometryError(f"{path}: bad skin geometry entry: {exc!r}") from exc

    def device(self, manufacturer: str | None, model: str | None) -> Device | None:
        for device in self.devices:
            if device.manufacturer.search(manufacturer or "") and device.model.search(model or ""):
                return device
        return None

    def reference_rule(self, definition: str | None) -> tuple[str, float] | None:
        """Where the reference point lies by the Reference Point Definition (113780) text: the
        distance it is measured from (isocenter, detector, source) and its offset in mm."""
        for pattern, origin in self.reference_points:
            m = pattern.search(definition or "")
            if m is None:
                continue
            groups = m.groupdict()
            return origin, float(groups["cm"]) * 10 if groups.get("cm") else float(groups["mm"])
        return None


def _device(entry: dict[str, Any]) -> Device:
    table, angles = entry["table"], entry["angles"]
    height = table["height"]
    if height["missing"] not in ("centre_at_isocenter", "refuse"):
        raise ValueError(f"{entry['name']}: height missing must be centre_at_isocenter or refuse")
    return Device(
        name=str(entry["name"]),
        manufacturer=re.compile(entry["manufacturer"], re.IGNORECASE),
        model=re.compile(entry["model"], re.IGNORECASE),
        verified=bool(entry["verified"]),
        primary_sign=float(angles["primary_sign"]),
        secondary_sign=float(angles["secondary_sign"]),
        longitudinal=Axis(float(table["longitudinal"]["sign"]), table["longitudinal"]["origin"]),
        lateral=Axis(float(table["lateral"]["sign"]), table["lateral"]["origin"]),
        height_offset_mm=float(height["offset_mm"]),
        height_sign=float(height["sign"]),
        height_missing=str(height["missing"]),
    )


# attribute -> what the reason says when it is missing
REQUIRED: dict[str, str] = {
    "dose_rp_gy": "Dose (RP) (113738)",
    "positioner_primary_angle_deg": "Positioner Primary Angle (112011)",
    "positioner_secondary_angle_deg": "Positioner Secondary Angle (112012)",
    "distance_source_to_isocenter_mm": "Distance Source to Isocenter (113748)",
    "reference_mm": "Distance Source to Reference Point (113737) or a Reference Point Definition "
    "(113780) it follows from",
    "field_side_mm": "Collimated Field Area (113790) or DAP (122130) with Dose (RP)",
    "table_longitudinal_position_mm": "Table Longitudinal Position (113751)",
    "table_lateral_position_mm": "Table Lateral Position (113752)",
    "table_top_below_isocenter_mm": "Table Height Position (113753)",
}
DEFAULT_KVP = 80.0
ORIENTATIONS = {  # (left-right, anterior-up, head towards +z) signs of the phantom
    ("head_first", "supine"): (1.0, 1.0, 1.0),
    ("head_first", "prone"): (-1.0, -1.0, 1.0),
    ("feet_first", "supine"): (-1.0, 1.0, -1.0),
    ("feet_first", "prone"): (1.0, -1.0, -1.0),
}


def _reference_mm(events: pl.DataFrame, conventions: Conventions) -> pl.Expr:
    """Source to reference point (113737), else from the Reference Point Definition (113780):
    the text matched once per distinct definition, not once per event."""
    base = {
        "isocenter": pl.col("distance_source_to_isocenter_mm"),
        "detector": pl.col("distance_source_to_detector_mm"),
    }
    definition = pl.col("reference_point_definition").fill_null("")
    derived = pl.lit(None, dtype=pl.Float64)
    for text in events.get_column("reference_point_definition").fill_null("").unique().to_list():
        rule = conventions.reference_rule(text)
        if rule is not None:
            origin, offset = rule
            value = pl.lit(offset) if origin == "source" else base[origin] - offset
            derived = pl.when(definition == text).then(value).otherwise(derived)
    return pl.coalesce(pl.col("distance_source_to_reference_point_mm"), derived)


def _device_columns(conventions: Conventions, index: pl.Series) -> dict[str, pl.Series]:
    """The device conventions each event is read by, as columns (by its ``device`` index)."""
    rows = index.to_numpy()

    def per_event(value: Callable[[Device], float]) -> pl.Series:
        return pl.Series(np.array([value(d) for d in conventions.devices], dtype=float)[rows])

    return {
        "primary_sign": per_event(lambda d: d.primary_sign),
        "secondary_sign": per_event(lambda d: d.secondary_sign),
        "_height_offset": per_event(lambda d: d.height_offset_mm),
        "_height_sign": per_event(lambda d: d.height_sign),
        "_centred": per_event(lambda d: d.height_missing == "centre_at_isocenter"),
        "_lateral_sign": per_event(lambda d: d.lateral.sign),
        "_lateral_median": per_event(lambda d: d.lateral.origin == "study_median"),
        "_longitudinal_sign": per_event(lambda d: d.longitudinal.sign),
        "_longitudinal_median": per_event(lambda d: d.longitudinal.origin == "study_median"),
    }


def normalise(events: pl.DataFrame, conventions: Conventions) -> pl.DataFrame:
    """The events of a month's study-plane groups (``skin_group``) in the model's terms, all
    groups in one pass of columns, not one per group.

    Each event carries its group's ``device`` (index into ``conventions.devices``) and
    ``phantom_thickness_mm``. Adds reference_mm, field_side_mm (field side at the field
    distance), field_distance_mm, table_top_below_isocenter_mm, x/z offsets (from the median of
    the group's usable events where the convention says so), the device's angle signs, a
    ``usable`` flag and ``field_from_dap`` (usable, its field size from DAP / Dose (RP)).
    """
    sid = pl.col("distance_source_to_detector_mm")
    area_ok = (pl.col("collimated_field_area_m2") > 0) & (sid > 0)
    dap_ok = (pl.col("dap_gy_m2") > 0) & (pl.col("dose_rp_gy") > 0)
    out = events.with_columns(
        reference_mm=_reference_mm(events, conventions),
        kvp_used_kv=pl.col("kvp_kv").fill_null(DEFAULT_KVP),
        **_device_columns(conventions, events.get_column("device")),
    )
    out = out.with_columns(
        field_side_mm=pl.when(area_ok)
        .then(pl.col("collimated_field_area_m2").sqrt() * 1000)
        .when(dap_ok)
        .then((pl.col("dap_gy_m2") / pl.col("dose_rp_gy")).sqrt() * 1000),
        field_distance_mm=pl.when(area_ok).then(sid).when(dap_ok).then(pl.col("reference_mm")),
        table_top_below_isocenter_mm=pl.coalesce(
            pl.col("_height_offset") + pl.col("_height_sign") * pl.col("table_height_position_mm"),
            pl.when(pl.col("_centred") == 1.0).then(
                pl.col("phantom_thickness_mm") / 2 + conventions.mattress_thickness_mm
            ),
        ),
    )
    out = out.with_columns(
        usable=pl.all_horizontal(pl.col(c).is_not_null() for c in REQUIRED)
        & (pl.col("dose_rp_gy") >= 0)
    ).with_columns(field_from_dap=pl.col("usable") & ~area_ok.fill_null(False))
    offsets = {}
    for name in ("lateral", "longitudinal"):
        column = f"table_{name}_position_mm"
        median = pl.col(column).filter("usable").median().over("skin_group").fill_null(0.0)
        origin = pl.when(pl.col(f"_{name}_median") == 1.0).then(median).otherwise(0.0)
        offsets[f"table_{name}_offset_mm"] = pl.col(f"_{name}_sign") * (pl.col(column) - origin)
    return out.with_columns(**offsets).drop(cs.starts_with("_"))


def assumptions(
    device: Device, height_missing: int, field_from_dap: int, kvp_missing: int
) -> list[str]:
    """What a group's map assumes, from its counts of events without a table height, with the
    field from DAP / Dose (RP), without kV."""
    notes = []
    if height_missing and device.height_missing == "centre_at_isocenter":
        notes.append(
            "Table Height Position not sent: the patient's centre assumed at the isocentre"
        )
    if field_from_dap:
        notes.append(
            f"Collimated Field Area not sent for {field_from_dap} events: a square field of DAP / "
            "Dose (RP) at the reference point"
        )
    if kvp_missing:
        notes.append(f"KVP not sent for some events: {DEFAULT_KVP:.0f} kV assumed for backscatter")
    if not device.verified:
        notes.append(f"geometry convention '{device.name}' not verified against the vendor")
    return notes


def _orientations(ev: pl.DataFrame) -> FloatArray:
    """(left-right, anterior-up, head) signs per event, looked up once per distinct pair."""
    keys = ev.select(
        pl.col("patient_table_relationship", "patient_orientation_modifier").fill_null("")
    )
    pairs = keys.unique(maintain_order=True).with_row_index("pair")
    signs = np.array(
        [
            ORIENTATIONS.get((r or "head_first", m or "supine"), (1.0, 1.0, 1.0))
            for _, r, m in pairs.iter_rows()
        ]
    ).reshape(-1, 3)
    index = keys.join(pairs, on=keys.columns, how="left", maintain_order="left")
    return np.asarray(signs[index.get_column("pair").to_numpy()], dtype=float)


def beams_of(events: pl.DataFrame, conventions: Conventions) -> tuple[Beams, npt.NDArray[np.int64]]:
    """Usable normalised events of all groups -> beams, and each beam's ``skin_group``; a
    rotational event becomes steps of <= 5 degrees."""
    ev = events.filter(pl.col("usable"))
    start = ev.get_column("positioner_primary_angle_deg").to_numpy()
    end = ev.get_column("positioner_primary_end_angle_deg").fill_null(np.nan).to_numpy()
    end = np.where(np.isnan(end), start, end)
    steps = np.maximum(1, np.ceil(np.abs(end - start) / ROTATION_STEP_DEG)).astype(int)
    row = np.repeat(np.arange(ev.height), steps)
    fraction = (np.arange(len(row)) - np.repeat(np.cumsum(steps) - steps, steps) + 0.5) / np.repeat(
        steps, steps
    )
    primary = np.where(
        np.repeat(steps, steps) > 1, start[row] + (end - start)[row] * fraction, start[row]
    )

    def col(name: str) -> FloatArray:
        return np.asarray(ev.get_column(name).to_numpy(), dtype=float)[row]

    alpha = np.radians(col("primary_sign") * primary)
    beta = np.radians(col("secondary_sign") * col("positioner_secondary_angle_deg"))
    detector = np.stack(
        [np.sin(alpha) * np.cos(beta), np.cos(alpha) * np.cos(beta), np.sin(beta)], axis=1
    )
    across = np.stack([np.cos(alpha), -np.sin(alpha), np.zeros_like(alpha)], axis=1)
    half_tan = col("field_side_mm") / 2 / col("field_distance_mm")
    top = -col("table_top_below_isocenter_mm")
    centre = np.stack(
        [
            col("table_lateral_offset_mm"),
            top + conventions.mattress_thickness_mm + col("phantom_thickness_mm") / 2,
            col("table_longitudinal_offset_mm"),
        ],
        axis=1,
    )
    kvp = col("kvp_used_kv")
    hvl = beam.half_value_layer_mm_al(
        kvp,
        np.nan_to_num(col("cu_mm")),
        np.nan_to_num(col("al_mm")),
    )
    n = len(row)
    beams = Beams(
        source=-col("distance_source_to_isocenter_mm")[:, None] * detector,
        axis=detector,
        across=across,
        half_tan_across=half_tan,
        half_tan_along=half_tan,
        reference_mm=col("reference_mm"),
        kerma_gy=col("dose_rp_gy") / np.repeat(steps, steps),
        bsf_coefficients=beam.backscatter_coefficients(kvp, hvl),
        table_transmission=np.full(n, conventions.table_transmission),
        centre=centre,
        table_top_y=top,
        table_half_width_mm=np.full(n, conventions.table_width_mm / 2),
        orientation=_orientations(ev)[row],
    )
    return beams, ev.get_column("skin_group").to_numpy()[row]


def filters_mm(events: pl.DataFrame) -> pl.DataFrame:
    """cu_mm and al_mm from the joined filter materials and summed thicknesses (113757/113758).

    Where both materials are sent, the thickness sum cannot be split by material: copper is the
    one that matters for beam quality, so the sum minus the aluminium a Philips/Siemens strip
    filter adds (1 mm) is taken as copper; uncertainty covers the rest.
    """
    material = pl.col("filter_material").fill_null("").str.to_lowercase()
    thick = pl.coalesce("filter_thickness_max_mm", "filter_thickness_min_mm").fill_null(0.0)
    has_cu, has_al = material.str.contains("copper"), material.str.contains("alumin")
    return events.with_columns(
        cu_mm=pl.when(has_cu & has_al)
        .then((thick - 1.0).clip(lower_bound=0.0))
        .when(has_cu)
        .then(thick)
        .otherwise(0.0),
        al_mm=pl.when(has_cu & has_al)
        .then(pl.min_horizontal(thick, 1.0))
        .when(has_al)
        .then(thick)
        .otherwise(0.0),
    )
