"""XA Image (1.2.840.10008.5.1.4.1.1.12.1) and XRF Image (...12.2) files and their `images` truth.

Each header value is produced once, as the string or integer that goes into the file, and the
truth row is derived from that same value, so the truth is what a correct reader must find. The
image clock is the report clock plus the room's offset; (0018,115E) repeats the DAP of the
image's own event in dGy.cm2 (it must never be summed over images).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydicom.datadict import tag_for_keyword

from xrf_assets.core.extract.units import convert
from xrf_assets.synth.common import (
    age_years,
    base_dataset,
    da,
    ds,
    dt,
    offset_text,
    room_id,
    tm,
    utc_offset_on,
)
from xrf_assets.synth.config import SynthConfig
from xrf_assets.synth.encoder import Elements
from xrf_assets.synth.plan import ImagePlan, StudyPlan

XA_IMAGE = "1.2.840.10008.5.1.4.1.1.12.1"
XRF_IMAGE = "1.2.840.10008.5.1.4.1.1.12.2"
SOP_CLASS = {"XA": XA_IMAGE, "RF": XRF_IMAGE}
_IMAGE_TYPE_PLANE = {"single_plane": "SINGLE PLANE", "plane_a": "BIPLANE A", "plane_b": "BIPLANE B"}
_FILTER_MATERIAL = {"Copper": "COPPER", "Aluminum": "ALUMINUM"}
_INTENSIFIER_MM = {"XA": 300, "RF": 430}
_PAIRED_BODY_PARTS = frozenset({"LEG", "ARM", "HAND", "FOOT", "KNEE", "HIP", "SHOULDER"})
_ANGLE_STEP = Decimal("0.01")


def _times(ds_: Elements, img: ImagePlan, study: StudyPlan, config: SynthConfig) -> dict[str, Any]:
    """Acquisition time in the room's source and UTC-offset style; returns the truth columns."""
    room = study.room
    when = img.acquisition_time + timedelta(seconds=room.clock_offset_s)
    offset = utc_offset_on(config, when.date())
    source = room.datetime_source
    use_suffix = room.utc_offset == "dt_suffix" and source == "acquisition_datetime"
    use_attribute = room.utc_offset != "none" and not use_suffix
    ds_.ContentDate, ds_.ContentTime = da(when.date()), tm(when)
    if source == "acquisition_datetime":
        ds_.AcquisitionDateTime = dt(when, offset if use_suffix else None)
    elif source == "acquisition_date_time":
        ds_.AcquisitionDate, ds_.AcquisitionTime = da(when.date()), tm(when)
    if use_attribute:
        ds_.TimezoneOffsetFromUTC = offset_text(offset)
    # the DT value's own offset, else (0008,0201), which PS3.3 applies to DA/TM and to a DT
    # without a suffix alike
    return {
        "acquisition_datetime": when,
        "acquisition_datetime_source": source,
        "utc_offset_s": offset if use_suffix or use_attribute else None,
    }


def _cine(ds_: Elements, img: ImagePlan, study: StudyPlan) -> dict[str, Any]:
    """Cine and Multi-frame modules (multi-frame images only); frame timing per the room."""
    if img.last_image_hold:
        return {"number_of_frames": 1}
    rate = round(1000 / float(img.frame_time_ms))
    ds_.NumberOfFrames = img.frames
    ds_.CineRate = rate
    ds_.RecommendedDisplayFrameRate = rate
    truth: dict[str, Any] = {"number_of_frames": img.frames, "cine_rate_per_s": float(rate)}
    if study.room.frame_timing == "frame_time_vector":
        ds_.FrameIncrementPointer = tag_for_keyword("FrameTimeVector")
        ds_.FrameTimeVector = ["0"] + [ds(img.frame_time_ms)] * (img.frames - 1)
        if img.frames > 1:
            t = float(ds(img.frame_time_ms))
            truth |= {
                "frame_time_vector_mean_ms": t,
                "frame_time_vector_min_ms": t,
                "frame_time_vector_max_ms": t,
            }
    else:
        ds_.FrameIncrementPointer = tag_for_keyword("FrameTime")
        ds_.FrameTime = ds(img.frame_time_ms)
        truth |= {
            "frame_time_ms": float(ds_.FrameTime),
            "acquisition_duration_s": img.frames * float(ds_.FrameTime) / 1000,
        }
    return truth


def image_dataset(
    img: ImagePlan, study: StudyPlan, config: SynthConfig
) -> tuple[Elements, dict[str, Any]]:
    """The image header (pixel data added by the writer) and its `images` truth row."""
    room, event, patient = study.room, img.producers[0], study.patient
    sop_class = SOP_CLASS[room.modality]
    ds_ = base_dataset(study, sop_class, img.sop_instance_uid)
    ds_.Modality = room.modality
    kind = "SC" if img.last_image_hold else "GR"
    plane = img.plane if img.partner_uid else "single_plane"  # BIPLANE A/B name a partner
    image_type = ["ORIGINAL", "PRIMARY", _IMAGE_TYPE_PLANE[plane]]
    ds_.ImageType = image_type
    ds_.SeriesInstanceUID = img.series_instance_uid
    ds_.SeriesNumber = img.series_number
    ds_.InstanceNumber = 1
    ds_.PatientOrientation = ""
    ds_.ProtocolName = event.protocol
    ds_.PerformedProcedureStepDescription = study.procedure.description
    ds_.BodyPartExamined = study.procedure.body_part
    if study.procedure.body_part in _PAIRED_BODY_PARTS:
        ds_.Laterality = "RL"[int(study.accession[-1]) % 2]  # General Series 2C: paired part
    if img.partner_uid:
        ds_.ReferencedImageSequence = [
            {"ReferencedSOPClassUID": sop_class, "ReferencedSOPInstanceUID": img.partner_uid}
        ]
    if img.named_event_uids:
        ds_.IrradiationEventUID = list(img.named_event_uids)
    truth = _times(ds_, img, study, config)
    truth |= _cine(ds_, img, study)

    ds_.KVP = ds(event.kvp)
    ds_.RadiationSetting = kind
    ds_.RadiationMode = "PULSED" if event.pulsed else "CONTINUOUS"
    ds_.XRayTubeCurrent = round(event.tube_current_ma)
    ds_.ExposureTime = round(event.exposure_time_ms)
    ds_.ExposureInuAs = int(event.exposure_uas)
    if event.pulsed:
        ds_.AveragePulseWidth = ds(event.pulse_width_ms)
        truth["average_pulse_width_ms"] = float(ds_.AveragePulseWidth)
    ds_.ImageAndFluoroscopyAreaDoseProduct = ds(event.dap_gy_m2.scaleb(5))
    ds_.EntranceDoseInmGy = ds(event.dose_rp_gy.scaleb(3))
    ds_.FilterType = "STRIP" if room.modality == "XA" else "FLAT"
    ds_.FilterMaterial = [_FILTER_MATERIAL[m] for m, _ in event.filters]
    ds_.FocalSpots = ds(event.focal_spot_mm)
    ds_.Grid = "IN"
    ds_.IntensifierSize = _INTENSIFIER_MM[room.modality]
    ds_.DistanceSourceToDetector = ds(event.source_detector_mm)
    source_patient = event.source_isocenter_mm - 100
    ds_.DistanceSourceToPatient = ds(source_patient)
    ds_.TableHeight = ds(event.table_height_mm)
    ds_.TableAngle = "0"
    ds_.TableMotion = "STATIC"
    if room.modality == "XA":
        assert event.primary_angle is not None and event.secondary_angle is not None
        ds_.PositionerMotion = "STATIC"
        if event.primary_end_angle is not None and img.frames > 1:  # rotational run
            ds_.PositionerMotion = "DYNAMIC"
            step = (event.primary_end_angle - event.primary_angle) / (img.frames - 1)
            ds_.PositionerPrimaryAngleIncrement = ["0"] + [ds(step.quantize(_ANGLE_STEP))] * (
                img.frames - 1
            )
            ds_.PositionerSecondaryAngleIncrement = ["0"] * img.frames
        ds_.PositionerPrimaryAngle = ds(event.primary_angle)
        ds_.PositionerSecondaryAngle = ds(event.secondary_angle)
        truth |= {
            "positioner_primary_angle_deg": float(event.primary_angle),
            "positioner_secondary_angle_deg": float(event.secondary_angle),
        }
    else:
        assert event.column_angulation is not None
        ds_.ColumnAngulation = ds(event.column_angulation)
        truth["column_angulation_deg"] = float(event.column_angulation)
    ds_.PixelIntensityRelationship = "LIN"
    ds_.SamplesPerPixel = 1
    ds_.PhotometricInterpretation = "MONOCHROME2"
    ds_.Rows, ds_.Columns = config.pixel_rows, config.pixel_columns
    ds_.BitsAllocated, ds_.BitsStored, ds_.HighBit, ds_.PixelRepresentation = 8, 8, 7, 0

    truth |= {
        "sop_instance_uid": img.sop_instance_uid,
        "sop_class_uid": sop_class,
        "modality": room.modality,
        "study_instance_uid": study.study_instance_uid,
        "series_instance_uid": img.series_instance_uid,
        "series_number": img.series_number,
        "instance_number": 1,
        "accession_number": study.accession,
        "study_date": study.start.date(),
        "study_description": study.procedure.description,
        "performed_procedure_step_description": study.procedure.description,
        "patient_id": patient.patient_id,
        "patient_name": patient.name,
        "patient_birth_date": patient.birth_date.isoformat(),
        "patient_sex": patient.sex,
        "patient_age_years": float(age_years(patient.birth_date, study.start.date())),
        "patient_weight_kg": float(patient.weight_kg),
        "patient_size_m": float(patient.size_m),
        "manufacturer": room.manufacturer,
        "model": room.model,
        "device_serial_number": room.serial,
        "software_versions": room.software_versions,
        "station_name": room.station_name,
        "institution_name": room.institution,
        "department_name": room.department,
        "room_id": room_id(room),
        "protocol_name": event.protocol,
        "body_part_examined": study.procedure.body_part,
        "image_type": "\\".join(image_type),
        "radiation_mode": ds_.RadiationMode,
        "kvp_kv": float(event.kvp),
        "tube_current_ma": float(ds_.XRayTubeCurrent),
        "exposure_time_ms": float(ds_.ExposureTime),
        "exposure_mas": ds_.ExposureInuAs / 1000,
        "dap_gy_m2": convert(float(ds_.ImageAndFluoroscopyAreaDoseProduct), "dGy.cm2", "Gy.m2"),
        "entrance_dose_mgy": float(ds_.EntranceDoseInmGy),
        "filter_type": ds_.FilterType,
        "filter_material": "\\".join(ds_.FilterMaterial),
        "focal_spot_mm": float(event.focal_spot_mm),
        "grid": "IN",
        "sid_mm": float(event.source_detector_mm),
        "source_patient_mm": float(source_patient),
        "table_height_mm": float(event.table_height_mm),
        "table_angle_deg": 0.0,
        "intensifier_size_mm": float(_INTENSIFIER_MM[room.modality]),
        "irradiation_event_uids": list(img.named_event_uids),
        "source_path": img.path,
    }
    return ds_, truth


def pixel_bytes(config: SynthConfig, frames: int) -> bytes:
    """Cheap 8-bit frames: a constant grey, so the files compress and cost nothing to make."""
    size = config.pixel_rows * config.pixel_columns * frames
    return b"\x40" * (size + size % 2)
