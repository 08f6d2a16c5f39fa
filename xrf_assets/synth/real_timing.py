"""Linking cases on real event timing: images made around the events of real dose reports.

A device that writes neither (0008,3010) nor 113795 leaves only the time and the values an image
shares with its event. For every irradiation event of a real report (TID 10003 rows read by the
project's own extractor) one XA image is made as such a device writes it: same study, patient and
device identity as the report, acquisition time inside the event's exposure (whole seconds, as many
devices send TM) seen through an image clock ``offset(t)`` ahead of the report clock, and, where
the variant keeps them, the event's DAP in (0018,115E) (dGy.cm2), kVp, positioner angles, frames
= pulses and frame time x frames = the exposure. The exposure is the event's Irradiation Duration
(113742) only where its ``plausibility`` trusts it (``times.window_duration_s``): a real device
stores its images within the time its beam was on, not within a vendor's quirky duration (the Canon
Alphenix's ~13 s per fluoroscopy pulse). The truth is the (event, image) pair.

Used by tests/linking and benchmarks/bench_linking_real.py; plain Python, no Dagster.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.linking.times import window_duration_s
from xrf_assets.core.store import frame_from_rows

XA_IMAGE = "1.2.840.10008.5.1.4.1.1.12.1"
PAIR = ["irradiation_event_uid", "sop_instance_uid"]

# variant -> (which events get an image, whether the image carries fingerprints)
VARIANTS: dict[str, tuple[str, bool]] = {
    "fingerprints": ("every", True),
    "acquisitions + 1/3 fluoro": ("acquisitions_third_fluoro", True),
    "times only": ("every", False),
}

Offset = Callable[[datetime], float]


def constant(offset_s: float) -> Offset:
    """An image clock ``offset_s`` ahead of the report clock."""
    return lambda _t: offset_s


def drifting(base_s: float, per_day_s: float) -> Offset:
    """An image clock ``base_s`` ahead at midnight, gaining ``per_day_s`` over the day."""
    return lambda t: base_s + per_day_s * (t.hour * 3600 + t.minute * 60 + t.second) / 86400


def real_report_events(corpus: Path) -> dict[str, pl.DataFrame]:
    """`irradiation_events` rows of every fluoroscopy report (RF/XA) in ``corpus`` with events,
    by file name: the reports an XA/XRF image can belong to."""
    found = {}
    for path in sorted(corpus.glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        try:
            report = extract_report(ds, path.name)
        except ExtractionError:
            continue
        events = with_room_ids(  # as publish does
            frame_from_rows("irradiation_events", report.events), RoomDirectory()
        )
        if not events.is_empty() and (events.get_column("modality") == "fluoroscopy").all():
            found[path.name] = events
    return found


def observer_station(room_id: str) -> str | None:
    """Station Name (SH, 16 chars) for the images of a room the report names only by its Device
    Observer UID (``DEVICE <uid>``): images never carry that UID, a rooms file joins the two."""
    if not room_id.startswith("DEVICE "):
        return None
    return f"OBS{zlib.crc32(room_id.encode()):08X}"


def write_rooms_file(events: pl.DataFrame, path: Path) -> None:
    """A rooms file naming each ``DEVICE <uid>`` room of ``events`` by that id and matching both
    its reports (the Device Observer UID) and its images (``observer_station``)."""
    lines = ["rooms:"]
    for room, uid in (
        events.select("room_id", "device_observer_uid").unique().sort("room_id").rows()
    ):
        station = observer_station(room or "")
        if station and uid:
            lines += [f'  - name: "{room}"', "    match:"]
            lines += [
                f'      - {{device_observer_uid: "{uid}"}}',
                f"      - {{station_name: {station}}}",
            ]
    path.write_text("\n".join(lines) + "\n")


def _imaged(events: pl.DataFrame, which: str) -> pl.DataFrame:
    """The events that store an image: every one, or the acquisitions and every third
    fluoroscopy event (last-image-hold and fluoro stores)."""
    ordered = events.sort("datetime_started", "irradiation_event_uid")
    if which == "every":
        return ordered
    fluoro = pl.col("event_type") == "fluoroscopy"
    nth = pl.int_range(pl.len()).over(fluoro)
    return ordered.filter(~fluoro | (nth % 3 == 0))


def _ds_value(value: float) -> float:
    """A value as a DS of a few significant digits carries it."""
    return float(f"{value:.6g}")


def image_row(event: dict[str, Any], sop: str, at: datetime, fingerprints: bool) -> dict[str, Any]:
    """The `images` row of the image a device without UID references makes for ``event`` (an
    `irradiation_events` row with its ``exposure_s``)."""
    row: dict[str, Any] = {
        "sop_instance_uid": sop,
        "sop_class_uid": XA_IMAGE,
        "modality": "XA",
        "study_instance_uid": event["study_instance_uid"],
        "series_instance_uid": f"{sop}.1",
        "study_date": event["study_date"],
        "accession_number": event["accession_number"],
        "patient_id": event["patient_id"],
        "manufacturer": event["manufacturer"],
        "model": event["model"],
        "device_serial_number": event["device_serial_number"],
        "station_name": event["station_name"] or observer_station(event["room_id"] or ""),
        "room_id": event["room_id"],
        "acquisition_datetime": at,
        "acquisition_datetime_source": "acquisition_date_time",
        "irradiation_event_uids": [],
        "number_of_frames": 1,
        "source_path": f"{sop}.dcm",
    }
    if not fingerprints:
        return row
    pulses = event["number_of_pulses"]
    duration = event["exposure_s"]
    frames = round(pulses) if pulses and pulses >= 1 else 1
    row |= {
        "dap_gy_m2": None
        if event["dap_gy_m2"] is None
        else _ds_value(event["dap_gy_m2"] * 1e5) / 1e5,
        "kvp_kv": None if event["kvp_kv"] is None else _ds_value(event["kvp_kv"]),
        "positioner_primary_angle_deg": event["positioner_primary_angle_deg"],
        "positioner_secondary_angle_deg": event["positioner_secondary_angle_deg"],
        "number_of_frames": frames,
    }
    if frames > 1 and duration:
        row["frame_time_ms"] = _ds_value(duration * 1000 / frames)
        row["acquisition_duration_s"] = frames * row["frame_time_ms"] / 1000
    return row


@dataclass(frozen=True)
class Case:
    images: pl.DataFrame  # `images` rows
    events: pl.DataFrame  # `irradiation_events` rows of the reports
    truth: pl.DataFrame  # irradiation_event_uid, sop_instance_uid


def build_case(
    reports: Iterable[pl.DataFrame], variant: str, offset: Offset, seed: int = 7
) -> Case:
    """Images for the events of ``reports`` as ``variant`` (a key of ``VARIANTS``) makes them,
    each at a seeded random point of its event's exposure (its start where none is known),
    truncated to whole seconds, through the image clock ``offset``."""
    which, fingerprints = VARIANTS[variant]
    rng = random.Random(seed)
    frames = list(reports)
    rows, truth = [], []
    for r, events in enumerate(frames):
        imaged = _imaged(events, which).with_columns(exposure_s=window_duration_s())
        for k, event in enumerate(imaged.iter_rows(named=True)):
            start = event["datetime_started"]
            if start is None:
                continue
            inside = rng.uniform(0.0, event["exposure_s"])
            true_time = start + timedelta(seconds=inside)
            seen = true_time + timedelta(seconds=offset(true_time))
            sop = f"2.25.{seed}.{r}.{k}"
            rows.append(image_row(event, sop, seen.replace(microsecond=0), fingerprints))
            truth.append(
                {"irradiation_event_uid": event["irradiation_event_uid"], "sop_instance_uid": sop}
            )
    events_all = pl.concat(frames) if frames else frame_from_rows("irradiation_events", [])
    return Case(
        images=frame_from_rows("images", rows),
        events=events_all,
        truth=pl.DataFrame(truth, schema={c: pl.String for c in PAIR}),
    )


def shifted_report(events: pl.DataFrame, days: int, suffix: str) -> pl.DataFrame:
    """The same report's events ``days`` later, as another study (new study and event UIDs):
    a room's clock seen on several days."""
    return events.with_columns(
        pl.col("datetime_started") + timedelta(days=days),
        pl.col("study_instance_uid") + suffix,
        pl.col("irradiation_event_uid") + suffix,
    )


def write_images(images: pl.DataFrame, out_dir: Path) -> None:
    """Each `images` row as an XA header-only Part 10 file (pydicom), as the device writes it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in images.iter_rows(named=True):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = row["sop_class_uid"]
        meta.MediaStorageSOPInstanceUID = row["sop_instance_uid"]
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        at: datetime = row["acquisition_datetime"]
        ds.SOPClassUID = row["sop_class_uid"]
        ds.SOPInstanceUID = row["sop_instance_uid"]
        ds.Modality = row["modality"]
        ds.StudyInstanceUID = row["study_instance_uid"]
        ds.SeriesInstanceUID = row["series_instance_uid"]
        ds.PatientID = row["patient_id"] or ""
        ds.AccessionNumber = row["accession_number"] or ""
        ds.Manufacturer = row["manufacturer"] or ""
        ds.ManufacturerModelName = row["model"] or ""
        ds.DeviceSerialNumber = row["device_serial_number"] or ""
        ds.StationName = row["station_name"] or ""
        if row["study_date"] is not None:
            ds.StudyDate = row["study_date"].strftime("%Y%m%d")
        ds.AcquisitionDate = at.strftime("%Y%m%d")
        ds.AcquisitionTime = at.strftime("%H%M%S")
        ds.NumberOfFrames = row["number_of_frames"]
        for keyword, column in (
            ("ImageAndFluoroscopyAreaDoseProduct", "dap_gy_m2"),
            ("KVP", "kvp_kv"),
            ("PositionerPrimaryAngle", "positioner_primary_angle_deg"),
            ("PositionerSecondaryAngle", "positioner_secondary_angle_deg"),
            ("FrameTime", "frame_time_ms"),
        ):
            value = row.get(column)
            if value is not None:
                scale = 1e5 if column == "dap_gy_m2" else 1.0
                setattr(ds, keyword, f"{value * scale:.6g}")
        # a 1 x 2 pixel frame per frame: the reader wants Pixel Data present, never reads it
        ds.Rows, ds.Columns, ds.SamplesPerPixel = 1, 2, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = b"\x40" * (2 * row["number_of_frames"])
        pydicom.dcmwrite(out_dir / row["source_path"], ds, enforce_file_format=True)
