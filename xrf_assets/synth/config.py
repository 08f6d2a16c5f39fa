"""What a synthetic corpus looks like: rooms, their linking aids and clocks, and hard-case knobs.

Each knob exists because a part of the pipeline must cope with it in a real archive: devices that do
or do not write IrradiationEventUID (0008,3010) in images or Acquired Image (113795) references in
their dose reports, image clocks that drift from the report clock, time zones that are absent, and
re-sent, broken or foreign files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

UtcOffsetStyle = Literal["none", "dt_suffix", "tz_attribute"]
DateTimeSource = Literal["acquisition_datetime", "acquisition_date_time", "content_date_time"]
FrameTiming = Literal["frame_time", "frame_time_vector"]


@dataclass(frozen=True)
class RoomSpec:
    """One X-ray system: its identity as headers carry it, and how it helps (or not) linking.

    ``clock_offset_s`` is image clock minus report clock. ``utc_offset`` is how the offset from UTC
    travels: a suffix on DT values (images using (0008,002A) and the report's DateTime Started) or
    Timezone Offset From UTC (0008,0201); images whose time source is DA/TM always use (0008,0201).
    """

    name: str
    modality: Literal["XA", "RF"]
    manufacturer: str
    model: str
    serial: str
    station_name: str
    institution: str
    department: str
    software_versions: str
    device_observer_uid: str
    procedures: tuple[str, ...]
    biplane: bool = False
    writes_event_uid: bool = True
    writes_image_refs: bool = True
    clock_offset_s: float = 0.0
    utc_offset: UtcOffsetStyle = "none"
    datetime_source: DateTimeSource = "acquisition_datetime"
    frame_timing: FrameTiming = "frame_time"
    studies: int = 60
    rotational_fraction: float = 0.0
    last_image_hold_fraction: float = 0.1
    biplane_image_names_both_fraction: float = 0.0
    back_to_back_fraction: float = 0.0
    overlap_fraction: float = 0.0


@dataclass(frozen=True)
class SynthConfig:
    """A whole corpus: rooms, period, patients and knobs; the seed makes it byte-reproducible."""

    seed: int
    rooms: tuple[RoomSpec, ...]
    start: date = date(2026, 9, 1)
    months: int = 2
    repeat_patient_fraction: float = 0.25
    resent_report_fraction: float = 0.0
    high_dose_studies: int = 0
    cross_month_patient: bool = False
    non_dicom_files: int = 0
    truncated_files: int = 0
    other_dicom_files: int = 0
    pixel_rows: int = 16
    pixel_columns: int = 16
    max_frames: int | None = None
    institution_utc_offsets: tuple[tuple[date, int], ...] = field(
        default=((date(2026, 3, 29), 7200), (date(2026, 10, 25), 3600))
    )

    @classmethod
    def demo(cls, seed: int = 0) -> SynthConfig:
        """About 3 rooms, September and October 2026, a few hundred studies; runs in seconds."""
        return cls(
            seed=seed,
            rooms=default_rooms(),
            resent_report_fraction=0.05,
            high_dose_studies=1,
            cross_month_patient=True,
            non_dicom_files=2,
            truncated_files=1,
            other_dicom_files=1,
        )

    @classmethod
    def small(cls, seed: int = 0, studies_per_room: int = 4) -> SynthConfig:
        """A tiny corpus with every knob on, for fast tests."""
        rooms = tuple(
            replace(
                r,
                studies=studies_per_room,
                back_to_back_fraction=0.3,
                overlap_fraction=0.1,
                biplane_image_names_both_fraction=0.3 if r.biplane else 0.0,
            )
            for r in default_rooms()
        )
        return cls(
            seed=seed,
            rooms=rooms,
            resent_report_fraction=0.3,
            high_dose_studies=1,
            cross_month_patient=True,
            non_dicom_files=2,
            truncated_files=2,
            other_dicom_files=1,
            pixel_rows=8,
            pixel_columns=8,
        )

    @classmethod
    def preset(cls, name: str, seed: int = 0) -> SynthConfig:
        """``demo``, ``small`` or ``realsize``.

        ``realsize`` is for benchmarks: 1024x1024 pixels and at most 30 frames per image (about
        30 MB a file), so it keeps to two studies per room (about 1.5 GB); copy or hard-link its
        files for larger trees.
        """
        if name == "demo":
            return cls.demo(seed)
        if name == "small":
            return cls.small(seed)
        if name == "realsize":
            return replace(
                cls.demo(seed).scaled(2),
                pixel_rows=1024,
                pixel_columns=1024,
                max_frames=30,
                high_dose_studies=0,
                cross_month_patient=False,
            )
        raise ValueError(f"unknown synth preset {name!r}: use demo, small or realsize")

    def scaled(self, studies_per_room: int) -> SynthConfig:
        """The same corpus shape with another number of studies per room (benchmarks)."""
        return replace(self, rooms=tuple(replace(r, studies=studies_per_room) for r in self.rooms))


def default_rooms() -> tuple[RoomSpec, ...]:
    """The demo's three rooms and linking aids: UIDs + references, references only, neither."""
    return (
        RoomSpec(
            name="Cath Lab 1",
            modality="XA",
            manufacturer="Siemens",
            model="AXIOM-Artis",
            serial="41287",
            station_name="CATHLAB1",
            institution="Synthetic General Hospital",
            department="Cardiology",
            software_versions="VD11C",
            device_observer_uid="2.25.201398592470192372077307281548226049242",
            procedures=(
                "Coronary angiography",
                "PCI",
                "TAVI",
                "Electrophysiology",
                "Pacemaker implant",
            ),
            biplane=True,
            writes_event_uid=True,
            writes_image_refs=True,
            clock_offset_s=0.0,
            utc_offset="dt_suffix",
            datetime_source="acquisition_datetime",
            studies=110,
            rotational_fraction=0.1,
        ),
        RoomSpec(
            name="Angio 2",
            modality="XA",
            manufacturer="Philips",
            model="Azurion 7 M20",
            serial="72651",
            station_name="ANGIO2",
            institution="Synthetic General Hospital",
            department="Interventional Radiology",
            software_versions="2.1.3",
            device_observer_uid="2.25.53949397545872165428878460980550292073",
            procedures=(
                "Cerebral angiography",
                "Peripheral angiography",
                "Coronary angiography",
                "PCI",
            ),
            writes_event_uid=False,
            writes_image_refs=True,
            clock_offset_s=-12.0,
            utc_offset="tz_attribute",
            datetime_source="acquisition_date_time",
            frame_timing="frame_time_vector",
            studies=90,
        ),
        RoomSpec(
            name="Fluoro 3",
            modality="RF",
            manufacturer="Siemens",
            model="Luminos dRF Max",
            serial="10234",
            station_name="FLUORO3",
            institution="Synthetic General Hospital",
            department="Radiology",
            software_versions="VF10A",
            device_observer_uid="2.25.55553327178253352607696855181436932517",
            procedures=("Barium swallow", "Barium enema", "ERCP", "Hysterosalpingography"),
            writes_event_uid=False,
            writes_image_refs=False,
            clock_offset_s=45.0,
            utc_offset="none",
            datetime_source="content_date_time",
            studies=90,
        ),
    )
