"""Ground truth of a synthetic corpus, in the table contracts of ``schemas/``.

`irradiation_events`, `accumulated_dose` and `event_image_refs` are what ingest must publish after
re-sent reports are resolved: only the newest report of a study counts. `links` says which event
truly made which image, whatever aids the room writes; `studies` and `rooms` are for audits and for
choosing scenarios in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from xrf_assets.core.extract.irradiation_events import check_plausibility
from xrf_assets.core.store import frame_from_rows
from xrf_assets.synth.common import age_years, room_id, utc_offset_on
from xrf_assets.synth.config import SynthConfig
from xrf_assets.synth.images import SOP_CLASS
from xrf_assets.synth.plan import EventPlan, ReportPlan, StudyPlan
from xrf_assets.synth.sr import REFERENCE_POINT, report_planes

TRUTH_TABLES = (
    "images",
    "irradiation_events",
    "accumulated_dose",
    "event_image_refs",
    "links",
    "files",
    "studies",
    "rooms",
)

LINKS_SCHEMA = {"irradiation_event_uid": pl.String, "sop_instance_uid": pl.String}
FILES_SCHEMA = {"path": pl.String, "kind": pl.String, "status": pl.String, "note": pl.String}
STUDIES_SCHEMA = {
    "study_instance_uid": pl.String,
    "patient_id": pl.String,
    "room_id": pl.String,
    "study_date": pl.Date,
    "month": pl.String,
    "study_description": pl.String,
    "procedure": pl.String,
    "dap_total_gy_m2": pl.Float64,
    "dose_rp_total_gy": pl.Float64,
    "fluoro_time_s": pl.Float64,
    "acquisition_time_s": pl.Float64,
    "n_events": pl.Int64,
    "n_fluoro_events": pl.Int64,
    "n_acquisition_events": pl.Int64,
    "n_images": pl.Int64,
    "n_reports": pl.Int64,
    "scenario": pl.String,
}
ROOMS_SCHEMA = {
    "room_id": pl.String,
    "name": pl.String,
    "modality": pl.String,
    "biplane": pl.Boolean,
    "device_observer_uid": pl.String,
    "writes_event_uid": pl.Boolean,
    "writes_image_refs": pl.Boolean,
    "clock_offset_s": pl.Float64,
    "utc_offset": pl.String,
    "datetime_source": pl.String,
    "frame_timing": pl.String,
}


@dataclass(frozen=True)
class GroundTruth:
    """The truth frames of one generated corpus (also written to ``DIR/truth/<name>.parquet``)."""

    images: pl.DataFrame
    irradiation_events: pl.DataFrame
    accumulated_dose: pl.DataFrame
    event_image_refs: pl.DataFrame
    links: pl.DataFrame
    files: pl.DataFrame
    studies: pl.DataFrame
    rooms: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in TRUTH_TABLES}

    def write(self, truth_dir: Path) -> None:
        truth_dir.mkdir(parents=True, exist_ok=True)
        for name, frame in self.frames().items():
            frame.write_parquet(truth_dir / f"{name}.parquet", compression="zstd", statistics=False)

    @classmethod
    def read(cls, out_dir: Path) -> GroundTruth:
        """The truth of a corpus generated earlier into ``out_dir``."""
        return cls(**{n: pl.read_parquet(out_dir / "truth" / f"{n}.parquet") for n in TRUTH_TABLES})


def _f(value: Decimal | int | None) -> float | None:
    """The float a reader gets from the DS/NUM string written for ``value``."""
    return (
        None
        if value is None
        else float(format(value, "f") if isinstance(value, Decimal) else value)
    )


def event_row(
    e: EventPlan, report: ReportPlan, study: StudyPlan, config: SynthConfig
) -> dict[str, Any]:
    room, patient = study.room, study.patient
    fluoro = e.event_type == "fluoroscopy"
    width = _f(e.pulse_width_ms) if e.pulsed else None
    thickness = _f(sum((t for _, t in e.filters), Decimal(0)))
    return {
        "irradiation_event_uid": e.uid,
        "report_sop_instance_uid": report.sop_instance_uid,
        "study_instance_uid": study.study_instance_uid,
        "study_date": study.start.date(),
        "study_description": study.procedure.description,
        "accession_number": study.accession,
        "patient_id": patient.patient_id,
        "patient_name": patient.name,
        "patient_birth_date": patient.birth_date.isoformat(),
        "patient_sex": patient.sex,
        "patient_age_years": float(age_years(patient.birth_date, study.start.date())),
        "patient_size_m": float(patient.size_m),
        "patient_weight_kg": float(patient.weight_kg),
        "modality": "fluoroscopy",
        "room_id": room_id(room),
        "device_observer_uid": room.device_observer_uid,
        "device_observer_model_name": room.model,
        "manufacturer": room.manufacturer,
        "model": room.model,
        "device_serial_number": room.serial,
        "station_name": room.station_name,
        "acquisition_plane": e.plane,
        "event_type": e.event_type,
        "datetime_started": e.start,
        "utc_offset_s": (
            utc_offset_on(config, study.start.date()) if room.utc_offset != "none" else None
        ),
        "irradiation_duration_s": _f(e.duration_s),
        "acquisition_protocol": e.protocol,
        "dap_gy_m2": _f(e.dap_gy_m2),
        "dose_rp_gy": _f(e.dose_rp_gy),
        "reference_point_definition": REFERENCE_POINT[room.modality].meaning,
        "fluoro_mode": ("pulsed" if e.pulsed else "continuous") if fluoro else None,
        "pulse_rate_per_s": _f(e.pulse_rate) if e.pulsed else None,
        "number_of_pulses": float(e.pulses) if e.pulsed else None,
        # single values: the *_min/*_max columns describe per-pulse arrays only and stay null
        "pulse_width_ms": width,
        "kvp_kv": _f(e.kvp),
        "tube_current_ma": _f(e.tube_current_ma),
        "exposure_time_ms": _f(e.exposure_time_ms),
        "exposure_uas": _f(e.exposure_uas),
        "focal_spot_mm": _f(e.focal_spot_mm),
        "filter_material": "+".join(m for m, _ in e.filters),
        "filter_thickness_min_mm": thickness,
        "filter_thickness_max_mm": thickness,
        "collimated_field_area_m2": _f(e.field_area_m2),
        "collimated_field_height_mm": _f(e.field_height_mm),
        "collimated_field_width_mm": _f(e.field_width_mm),
        "positioner_primary_angle_deg": _f(e.primary_angle),
        "positioner_secondary_angle_deg": _f(e.secondary_angle),
        "positioner_primary_end_angle_deg": _f(e.primary_end_angle),
        "positioner_secondary_end_angle_deg": _f(e.secondary_end_angle),
        "column_angulation_deg": _f(e.column_angulation),
        "distance_source_to_isocenter_mm": _f(e.source_isocenter_mm),
        "distance_source_to_detector_mm": _f(e.source_detector_mm),
        "distance_source_to_reference_point_mm": _f(e.source_reference_mm),
        "table_longitudinal_position_mm": _f(e.table_longitudinal_mm),
        "table_lateral_position_mm": _f(e.table_lateral_mm),
        "table_height_position_mm": _f(e.table_height_mm),
        "source_path": report.path,
    }


def _sum(events: list[EventPlan], attr: str) -> float | None:
    return _f(sum((getattr(e, attr) for e in events), Decimal(0)))


def accumulated_rows(report: ReportPlan, study: StudyPlan) -> list[dict[str, Any]]:
    rows = []
    for plane in report_planes(study):
        events = [e for e in report.events if e.plane == plane]
        fluoro = [e for e in events if e.event_type == "fluoroscopy"]
        acq = [e for e in events if e.event_type != "fluoroscopy"]
        rows.append(
            {
                "report_sop_instance_uid": report.sop_instance_uid,
                "study_instance_uid": study.study_instance_uid,
                "acquisition_plane": plane,
                "dap_total_gy_m2": _sum(events, "dap_gy_m2"),
                "dose_rp_total_gy": _sum(events, "dose_rp_gy"),
                "fluoro_dap_total_gy_m2": _sum(fluoro, "dap_gy_m2"),
                "fluoro_dose_rp_total_gy": _sum(fluoro, "dose_rp_gy"),
                "total_fluoro_time_s": _sum(fluoro, "duration_s"),
                "acquisition_dap_total_gy_m2": _sum(acq, "dap_gy_m2"),
                "acquisition_dose_rp_total_gy": _sum(acq, "dose_rp_gy"),
                "total_acquisition_time_s": _sum(acq, "duration_s"),
                "total_number_of_radiographic_frames": float(sum(e.pulses for e in acq)),
                "reference_point_definition": REFERENCE_POINT[study.room.modality].meaning,
                "report_datetime": report.content_time,
                "source_path": report.path,
            }
        )
    return rows


def study_row(study: StudyPlan) -> dict[str, Any]:
    events = study.reports[-1].events
    fluoro = [e for e in events if e.event_type == "fluoroscopy"]
    return {
        "study_instance_uid": study.study_instance_uid,
        "patient_id": study.patient.patient_id,
        "room_id": room_id(study.room),
        "study_date": study.start.date(),
        "month": f"{study.start:%Y-%m}",
        "study_description": study.procedure.description,
        "procedure": study.procedure.key,
        "dap_total_gy_m2": _sum(events, "dap_gy_m2"),
        "dose_rp_total_gy": _sum(events, "dose_rp_gy"),
        "fluoro_time_s": _sum(fluoro, "duration_s"),
        "acquisition_time_s": _sum([e for e in events if e not in fluoro], "duration_s"),
        "n_events": len(events),
        "n_fluoro_events": len(fluoro),
        "n_acquisition_events": len(events) - len(fluoro),
        "n_images": len(study.images),
        "n_reports": len(study.reports),
        "scenario": study.scenario,
    }


def build_truth(
    studies: list[StudyPlan],
    image_rows: list[dict[str, Any]],
    file_rows: list[dict[str, Any]],
    config: SynthConfig,
) -> GroundTruth:
    events, accumulated, refs, links = [], [], [], []
    for study in studies:
        final = study.reports[-1]
        report_totals = accumulated_rows(final, study)
        accumulated += report_totals
        report_events = [event_row(e, final, study, config) for e in final.events]
        # the flags a reader must set: the planner's overlapping events (overlap_fraction)
        check_plausibility(report_events, report_totals)
        events += report_events
        for e in final.events:
            if study.room.writes_image_refs:
                refs += [
                    {
                        "irradiation_event_uid": e.uid,
                        "referenced_sop_instance_uid": img.sop_instance_uid,
                        "referenced_sop_class_uid": SOP_CLASS[study.room.modality],
                        "report_sop_instance_uid": final.sop_instance_uid,
                    }
                    for img in e.images
                ]
        for img in study.images:
            links += [
                {"irradiation_event_uid": p.uid, "sop_instance_uid": img.sop_instance_uid}
                for p in img.producers
            ]
    rooms = [
        {
            "room_id": room_id(r),
            "name": r.name,
            "modality": r.modality,
            "biplane": r.biplane,
            "device_observer_uid": r.device_observer_uid,
            "writes_event_uid": r.writes_event_uid,
            "writes_image_refs": r.writes_image_refs,
            "clock_offset_s": r.clock_offset_s,
            "utc_offset": r.utc_offset,
            "datetime_source": r.datetime_source,
            "frame_timing": r.frame_timing,
        }
        for r in config.rooms
    ]
    return GroundTruth(
        images=frame_from_rows("images", image_rows),
        irradiation_events=frame_from_rows("irradiation_events", events),
        accumulated_dose=frame_from_rows("accumulated_dose", accumulated),
        event_image_refs=frame_from_rows("event_image_refs", refs),
        links=pl.DataFrame(links, schema=LINKS_SCHEMA),
        files=pl.DataFrame(file_rows, schema=FILES_SCHEMA).sort("path"),
        studies=pl.DataFrame([study_row(s) for s in studies], schema=STUDIES_SCHEMA),
        rooms=pl.DataFrame(rooms, schema=ROOMS_SCHEMA),
    )
