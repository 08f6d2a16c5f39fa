"""``skin_dose``: peak skin dose and skin dose map per study and plane, or the reason there is none.

Method (the published family: Jones & Pasciak 2011; Johnson et al. 2011 (openSkin); PySkinDose,
Hellström 2020): every event's Dose (RP) (113738) is carried from the reference point to each
skin cell its field reaches by the inverse square of the distances from the source, times the
backscatter factor for the field size at the skin and the beam's HVL, the table and mattress
transmission where the beam passes the table, and the air-to-tissue f-factor. Cells sum their
events; the peak skin dose is the largest cell. A biplane study gets one row per plane and a
'total' row on one phantom.

Bound (tested on the real corpus): no cell can receive more than the study's summed Dose (RP)
times (reference distance / shortest source-skin distance)^2 times BSF_MAX times the f-factor,
since the table factor is <= 1 and a cell gets at most every event once: ``psd_bound_gy``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from schemas import contract
from xrf_assets.core.audit.months import conform
from xrf_assets.core.audit.study_dose import STUDY_DATE
from xrf_assets.core.skin import beam
from xrf_assets.core.skin.beam import FloatArray
from xrf_assets.core.skin.geometry import (
    REQUIRED,
    Conventions,
    assumptions,
    beams_of,
    filters_mm,
    normalise,
)
from xrf_assets.core.skin.phantom import (
    MIN_SOURCE_SKIN_MM,
    Beams,
    Phantom,
    dose_maps,
    merge_identical,
)

METHOD = (
    "inverse square from the reference point to each skin cell; backscatter (Benmakhlouf 2013) by "
    "field size at the skin and HVL from kV and filters; table and mattress transmission; "
    f"f-factor {beam.F_TISSUE_AIR}"
)
UNCERTAINTY = (
    "about +-40 % (k=2) where the geometry convention is verified and the phantom fits the patient "
    "(Jones & Pasciak 2011); larger for unverified conventions, an assumed table height or "
    "field sizes from DAP / Dose (RP); never a substitute for a measured skin dose"
)


@dataclass
class SkinMap:
    """One study's (and plane's) map, for the image."""

    study_instance_uid: str
    acquisition_plane: str
    phantom: Phantom
    dose_gy: FloatArray  # (around * along,)
    notes: list[str] = field(default_factory=list)

    def grid(self) -> FloatArray:
        phi, zeta = self.phantom.lines()
        return self.dose_gy.reshape(len(phi), len(zeta))


def map_name(study_instance_uid: str, plane: str) -> str:
    """File name of a map: a digest, so no path tells a study's UID."""
    digest = hashlib.sha256(f"{study_instance_uid}/{plane}".encode()).hexdigest()[:20]
    return f"{digest}.svg"


def _reason(stats: dict[str, Any]) -> str:
    missing = [
        f"{label} ({stats[col]}/{stats['event_count']} events)"
        for col, label in REQUIRED.items()
        if stats[col]
    ]
    return "no event carries all the geometry a skin dose map needs; missing: " + "; ".join(missing)


def _groups(fluoro: pl.DataFrame) -> pl.DataFrame:
    """The events of each study and plane, and of a biplane study's 'total' again, in the order
    of the output rows (study, plane, total) and, inside a group, of the events; each group
    numbered (``skin_group``)."""
    uid, plane = pl.col("study_instance_uid"), pl.col("acquisition_plane")
    events = fluoro.with_row_index("_event")
    biplane = events.filter(plane.n_unique().over(uid) > 1).with_columns(
        acquisition_plane=pl.lit("total")
    )
    return (
        pl.concat([events, biplane])
        .sort(uid, plane == "total", plane, "_event")
        .with_columns(skin_group=pl.struct(uid, plane).rle_id())
        .drop("_event")
    )


def _figures(
    stats: dict[str, Any],
    beams: Beams,
    part: slice,
    index: npt.NDArray[np.intp],
    phantom: Phantom,
    mapped: tuple[FloatArray, FloatArray, float],
) -> dict[str, object]:
    """One group's PSD figures from its dose map: its beams are ``beams[part]``, ``index``
    names each one's merged beam in the map's."""
    dose, merged_hit, distance_min = mapped
    hit = merged_hit[index]
    kerma, reference_mm = beams.kerma_gy[part], beams.reference_mm[part]
    kerma_used = float(kerma.sum())
    phi, zeta = phantom.lines()
    peak = int(np.argmax(dose))
    return {
        "peak_skin_dose_gy": float(dose[peak]),
        "psd_angle_deg": float(np.degrees(phi[peak // len(zeta)])),
        "psd_body_position_mm": float(zeta[peak % len(zeta)]),
        "dose_rp_used_gy": kerma_used,
        "dose_rp_hit_fraction": float(kerma[hit].sum() / kerma_used) if kerma_used > 0 else None,
        "map_cells_around": len(phi),
        "map_cells_along": len(zeta),
        "map_resolution_mm": phantom.resolution_mm,
        "skin_distance_min_mm": distance_min if np.isfinite(distance_min) else None,
        "psd_bound_gy": float(
            stats["dose_rp_total_gy"]
            * float(np.max((reference_mm / distance_min) ** 2))
            * beam.BSF_MAX
            * beam.F_TISSUE_AIR
        )
        if np.isfinite(distance_min)
        else 0.0,
    }


def build_skin_dose(
    events: pl.DataFrame,
    month: str,
    conventions: Conventions,
    phantom: Phantom | None = None,
) -> tuple[pl.DataFrame, list[SkinMap]]:
    """``skin_dose`` rows of the month's fluoroscopy studies, and their maps.

    ``phantom`` overrides the one scaled from each study's Patient's Size and Weight. The
    month's events are normalised and turned into beams all at once (columns, not a loop per
    study); what stays per study and plane is its dose map.
    """
    fluoro = events.filter(
        (pl.col("modality") == "fluoroscopy") & pl.col("study_instance_uid").is_not_null()
    ).with_columns(pl.col("acquisition_plane").fill_null("single_plane"))
    uid = pl.col("study_instance_uid")
    studies = (
        fluoro.group_by("study_instance_uid")
        .agg(
            STUDY_DATE,
            room_id=pl.col("room_id").drop_nulls().first(),
            patient_id=pl.col("patient_id").drop_nulls().first(),
            patient_size_m=pl.col("patient_size_m").drop_nulls().first(),
            patient_weight_kg=pl.col("patient_weight_kg").drop_nulls().first(),
        )
        .filter(pl.col("study_date").dt.strftime("%Y-%m") == month)
        .sort("study_instance_uid")
    )
    contract_columns = conform("skin_dose", pl.DataFrame(schema=_empty_schema()))
    if studies.is_empty():
        return contract_columns, []
    phantoms = {
        s["study_instance_uid"]: phantom
        or Phantom.for_patient(s["patient_size_m"], s["patient_weight_kg"])
        for s in studies.iter_rows(named=True)
    }
    grouped = _groups(
        filters_mm(fluoro.filter(uid.is_in(studies.get_column("study_instance_uid").implode())))
    )
    dose = pl.col("dose_rp_gy")
    groups = grouped.group_by("skin_group", maintain_order=True).agg(
        pl.col("study_instance_uid", "acquisition_plane").first(),
        event_count=pl.len(),
        dose_rp_total_gy=dose.fill_null(0.0).sum(),
        dose_rp_count=dose.count(),
        manufacturer=pl.col("manufacturer").drop_nulls().first(),
        model=pl.coalesce("model", "device_observer_model_name").drop_nulls().first(),
    )
    device_of: dict[tuple[str | None, str | None], int | None] = {}
    for key in groups.select("manufacturer", "model").unique().iter_rows():
        found = conventions.device(*key)
        device_of[key] = None if found is None else conventions.devices.index(found)
    group_device = [device_of[key] for key in groups.select("manufacturer", "model").iter_rows()]
    mapped = grouped.join(
        groups.select("skin_group", device=pl.Series(group_device, dtype=pl.Int64)).filter(
            pl.col("device").is_not_null()
        ),
        on="skin_group",
        maintain_order="left",
    ).with_columns(
        phantom_thickness_mm=uid.replace_strict(
            {u: p.thickness_mm for u, p in phantoms.items()}, return_dtype=pl.Float64
        )
    )
    norm = normalise(mapped, conventions)
    usable = pl.col("usable")
    counts = {
        int(c["skin_group"]): c
        for c in norm.group_by("skin_group")
        .agg(
            events_used_count=usable.sum(),
            height_missing=pl.col("table_height_position_mm").null_count(),
            field_from_dap=pl.col("field_from_dap").sum(),
            kvp_missing=pl.col("kvp_kv").null_count(),
            **{c: pl.col(c).null_count() for c in REQUIRED},
        )
        .iter_rows(named=True)
    }
    beams, beam_group = beams_of(norm, conventions)
    half_axes = np.array(
        [
            (phantoms[u].width_mm / 2, phantoms[u].thickness_mm / 2)
            for u in groups.get_column("study_instance_uid").to_list()
        ]
    )[beam_group]
    too_close = beams.source_too_close(half_axes[:, 0], half_axes[:, 1])
    bounds = np.searchsorted(beam_group, np.arange(groups.height + 1))  # groups' beams in order
    # the beams left in, identical ones of a group merged: each group's a run of both, in order
    kept = np.nonzero(~too_close)[0]
    left_in, left_group = beams.take(kept), beam_group[kept]
    merged, merged_of = merge_identical(left_in, left_group)
    merged_group = np.empty(len(merged.kerma_gy), dtype=left_group.dtype)
    merged_group[merged_of] = left_group
    left_bounds = np.searchsorted(left_group, np.arange(groups.height + 1))
    merged_bounds = np.searchsorted(merged_group, np.arange(groups.height + 1))
    rows: list[dict[str, object]] = []
    maps: list[SkinMap] = []
    pending: list[tuple[dict[str, Any], dict[str, object], int]] = []
    study_of = {s["study_instance_uid"]: s for s in studies.iter_rows(named=True)}
    for stats, device_index in zip(groups.iter_rows(named=True), group_device, strict=True):
        study_uid, plane = stats["study_instance_uid"], stats["acquisition_plane"]
        study, chosen = study_of[study_uid], phantoms[study_uid]
        device = None if device_index is None else conventions.devices[device_index]
        row: dict[str, object] = {
            k: study[k] for k in ("study_instance_uid", "study_date", "room_id", "patient_id")
        }
        row |= {
            "acquisition_plane": plane,
            "month": month,
            "event_count": stats["event_count"],
            "dose_rp_total_gy": stats["dose_rp_total_gy"] if stats["dose_rp_count"] else None,
            "phantom": chosen.description,
            "method": METHOD,
            "uncertainty": UNCERTAINTY,
            "geometry_convention": None if device is None else device.name,
        }
        notes: list[str] = []
        if device is None:
            row["reason"] = (
                f"no geometry convention for manufacturer {stats['manufacturer']!r} model "
                f"{stats['model']!r} in {conventions.source}: add the device there"
            )
        else:
            tally = counts[stats["skin_group"]] | {"event_count": stats["event_count"]}
            notes = assumptions(
                device, tally["height_missing"], tally["field_from_dap"], tally["kvp_missing"]
            )
            used = tally["events_used_count"]
            row["events_used_count"] = used
            if used == 0:
                row["reason"] = _reason(tally)
            else:
                if used < stats["event_count"]:
                    notes.append(
                        f"{stats['event_count'] - used} of {stats['event_count']} events lack "
                        "geometry, not mapped"
                    )
                g = stats["skin_group"]
                close = too_close[bounds[g] : bounds[g + 1]]
                if close.all():
                    row["reason"] = (
                        "implausible geometry: the source of every beam lies inside the phantom "
                        f"or nearer than {MIN_SOURCE_SKIN_MM / 10:.0f} cm to its skin; the table "
                        f"height convention '{device.name}' does not fit these reports"
                    )
                else:
                    if close.any():
                        notes.append(
                            f"{int(close.sum())} beams with the source inside the phantom or "
                            f"nearer than {MIN_SOURCE_SKIN_MM / 10:.0f} cm to its skin left out"
                        )
                    row["map_file"] = f"skin_dose_maps/month={month}/{map_name(study_uid, plane)}"
                    # its dose once the month's maps are computed, below
                    maps.append(SkinMap(study_uid, plane, chosen, np.empty(0), notes))
                    pending.append((stats, row, g))
        row["assumptions"] = "; ".join(notes) or None
        rows.append(row)
    # the month's maps at once (dose_maps batches them); then each group's figures from its own
    parts = [
        (skin_map.phantom, int(merged_bounds[g]), int(merged_bounds[g + 1]))
        for skin_map, (_, _, g) in zip(maps, pending, strict=True)
    ]
    doses = dose_maps(merged, parts, beam.F_TISSUE_AIR)
    for skin_map, (group_stats, group_row, g), result in zip(maps, pending, doses, strict=True):
        part = slice(left_bounds[g], left_bounds[g + 1])
        index = merged_of[part] - merged_bounds[g]
        group_row |= _figures(group_stats, left_in, part, index, skin_map.phantom, result)
        skin_map.dose_gy = result[0]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return conform("skin_dose", pl.concat([contract_columns, frame], how="diagonal_relaxed")), maps


def _empty_schema() -> dict[str, pl.DataType]:
    return dict(contract("skin_dose").schema)
