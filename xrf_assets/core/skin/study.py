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

import numpy as np
import polars as pl

from schemas import contract
from xrf_assets.core.audit.months import conform
from xrf_assets.core.audit.study_dose import STUDY_DATE
from xrf_assets.core.skin import beam
from xrf_assets.core.skin.beam import FloatArray
from xrf_assets.core.skin.geometry import REQUIRED, Conventions, beams_of, filters_mm, normalise
from xrf_assets.core.skin.phantom import MIN_SOURCE_SKIN_MM, Phantom, dose_map, merge_identical

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
        _, _, around, along = self.phantom.cells()
        return self.dose_gy.reshape(around, along)


def map_name(study_instance_uid: str, plane: str) -> str:
    """File name of a map: a digest, so no path tells a study's UID."""
    digest = hashlib.sha256(f"{study_instance_uid}/{plane}".encode()).hexdigest()[:20]
    return f"{digest}.svg"


def _reason(events: pl.DataFrame, device_name: str | None) -> str:
    if device_name is None:
        return ""
    missing = [
        f"{label} ({events.get_column(col).null_count()}/{events.height} events)"
        for col, label in REQUIRED.items()
        if events.get_column(col).null_count()
    ]
    return "no event carries all the geometry a skin dose map needs; missing: " + "; ".join(missing)


def _one(
    events: pl.DataFrame, conventions: Conventions, phantom: Phantom
) -> tuple[dict[str, object], FloatArray | None, list[str]]:
    manufacturer = events.get_column("manufacturer").drop_nulls().first()
    model = (
        events.select(pl.coalesce("model", "device_observer_model_name")).to_series().drop_nulls()
    ).first()
    device = conventions.device(
        None if manufacturer is None else str(manufacturer), None if model is None else str(model)
    )
    dose_total = float(events.get_column("dose_rp_gy").fill_null(0.0).sum())
    row: dict[str, object] = {
        "event_count": events.height,
        "dose_rp_total_gy": dose_total if events.get_column("dose_rp_gy").count() else None,
        "phantom": phantom.description,
        "method": METHOD,
        "uncertainty": UNCERTAINTY,
        "geometry_convention": None if device is None else device.name,
    }
    if device is None:
        row["reason"] = (
            f"no geometry convention for manufacturer {manufacturer!r} model {model!r} in "
            f"{conventions.source}: add the device there"
        )
        return row, None, []
    norm, notes = normalise(events, device, conventions, phantom)
    used = norm.filter(pl.col("usable"))
    row["events_used_count"] = used.height
    if used.height == 0:
        row["reason"] = _reason(norm, device.name)
        return row, None, notes
    if used.height < norm.height:
        notes.append(
            f"{norm.height - used.height} of {norm.height} events lack geometry, not mapped"
        )
    beams = beams_of(norm, device, conventions, phantom)
    too_close = beams.source_too_close(phantom)
    if too_close.all():
        row["reason"] = (
            f"implausible geometry: the source of every beam lies inside the phantom or nearer "
            f"than {MIN_SOURCE_SKIN_MM / 10:.0f} cm to its skin; the table height convention "
            f"'{device.name}' does not fit these reports"
        )
        return row, None, notes
    if too_close.any():
        notes.append(
            f"{int(too_close.sum())} beams with the source inside the phantom or nearer than "
            f"{MIN_SOURCE_SKIN_MM / 10:.0f} cm to its skin left out"
        )
        beams = beams.take(np.nonzero(~too_close)[0])
    merged, index = merge_identical(beams)
    dose, merged_hit, distance_min = dose_map(phantom, merged, beam.F_TISSUE_AIR)
    hit = merged_hit[index]
    kerma_used = float(beams.kerma_gy.sum())
    phi, zeta, around, along = phantom.cells()
    peak = int(np.argmax(dose))
    row.update(
        peak_skin_dose_gy=float(dose[peak]),
        psd_angle_deg=float(np.degrees(phi[peak])),
        psd_body_position_mm=float(zeta[peak]),
        dose_rp_used_gy=kerma_used,
        dose_rp_hit_fraction=float(beams.kerma_gy[hit].sum() / kerma_used)
        if kerma_used > 0
        else None,
        map_cells_around=around,
        map_cells_along=along,
        map_resolution_mm=phantom.resolution_mm,
        skin_distance_min_mm=distance_min if np.isfinite(distance_min) else None,
        psd_bound_gy=float(
            dose_total
            * float(np.max((beams.reference_mm / distance_min) ** 2))
            * beam.BSF_MAX
            * beam.F_TISSUE_AIR
        )
        if np.isfinite(distance_min)
        else 0.0,
    )
    return row, dose, notes


def _phantom_of(events: pl.DataFrame) -> Phantom:
    size = events.get_column("patient_size_m").drop_nulls()
    weight = events.get_column("patient_weight_kg").drop_nulls()
    return Phantom.for_patient(
        float(size[0]) if len(size) else None, float(weight[0]) if len(weight) else None
    )


def build_skin_dose(
    events: pl.DataFrame,
    month: str,
    conventions: Conventions,
    phantom: Phantom | None = None,
) -> tuple[pl.DataFrame, list[SkinMap]]:
    """``skin_dose`` rows of the month's fluoroscopy studies, and their maps.

    ``phantom`` overrides the one scaled from each study's Patient's Size and Weight.
    """
    fluoro = filters_mm(  # row by row: once for the month, not once a study and plane
        events.filter(
            (pl.col("modality") == "fluoroscopy") & pl.col("study_instance_uid").is_not_null()
        )
    ).with_columns(pl.col("acquisition_plane").fill_null("single_plane"))
    studies = (
        fluoro.group_by("study_instance_uid")
        .agg(
            STUDY_DATE,
            room_id=pl.col("room_id").drop_nulls().first(),
            patient_id=pl.col("patient_id").drop_nulls().first(),
            manufacturer=pl.col("manufacturer").drop_nulls().first(),
            model=pl.col("model").drop_nulls().first(),
        )
        .filter(pl.col("study_date").dt.strftime("%Y-%m") == month)
        .sort("study_instance_uid")
    )
    rows: list[dict[str, object]] = []
    maps: list[SkinMap] = []
    by_study = fluoro.partition_by("study_instance_uid", as_dict=True)  # one pass, not one a study
    for study in studies.iter_rows(named=True):
        uid = study["study_instance_uid"]
        ev = by_study[(uid,)]
        chosen = phantom or _phantom_of(ev)
        by_plane = ev.partition_by("acquisition_plane", as_dict=True)
        groups = [(str(p), by_plane[(p,)]) for (p,) in sorted(by_plane)]
        if len(groups) > 1:
            groups.append(("total", ev))
        for plane, plane_events in groups:
            row, dose, notes = _one(plane_events, conventions, chosen)
            row |= {
                k: study[k] for k in ("study_instance_uid", "study_date", "room_id", "patient_id")
            }
            row |= {"acquisition_plane": plane, "month": month}
            row["assumptions"] = "; ".join(notes) or None
            if dose is not None:
                row["map_file"] = f"skin_dose_maps/month={month}/{map_name(uid, plane)}"
                maps.append(SkinMap(uid, plane, chosen, dose, notes))
            rows.append(row)
    contract_columns = conform("skin_dose", pl.DataFrame(schema=_empty_schema()))
    if not rows:
        return contract_columns, maps
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return conform("skin_dose", pl.concat([contract_columns, frame], how="diagonal_relaxed")), maps


def _empty_schema() -> dict[str, pl.DataType]:
    return dict(contract("skin_dose").schema)
