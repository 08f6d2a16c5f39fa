"""The in-memory plan of a synthetic corpus: patients, studies, irradiation events, images, reports.

Everything random is drawn here, from RNGs seeded by the config seed and the room name, so the
writers only format. Dose and timing quantities are :class:`~decimal.Decimal` values with a fixed
number of decimals: the same digits go into the DICOM DS/NUM values and into the ground truth, and
accumulated totals are exact sums of the events (TID 10002/10004 against TID 10003).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from xrf_assets.synth.config import RoomSpec, SynthConfig
from xrf_assets.synth.procedures import Procedure, protocol_frame_rate


def dec(value: float, places: int) -> Decimal:
    """``value`` rounded to ``places`` decimals, exactly representable as a DS string."""
    return Decimal(round(value * 10**places)).scaleb(-places)


def new_uid(rng: random.Random) -> str:
    """A UUID-derived UID (PS3.5 B.2) drawn from the seeded RNG, so runs are reproducible."""
    return f"2.25.{rng.getrandbits(122) | (1 << 121)}"


@dataclass
class Patient:
    patient_id: str
    name: str  # PN, FAMILY^GIVEN
    birth_date: date
    sex: str
    weight_kg: Decimal
    size_m: Decimal


@dataclass
class ImagePlan:
    sop_instance_uid: str
    series_instance_uid: str
    series_number: int
    plane: str
    acquisition_time: datetime  # report clock; the image header adds the room clock offset
    frames: int
    frame_time_ms: Decimal
    producers: list[EventPlan]  # the events that truly made it (two for a biplane image)
    named_event_uids: tuple[str, ...] = ()  # what (0008,3010) carries
    partner_uid: str | None = None  # the other plane's image of a biplane acquisition
    last_image_hold: bool = False
    path: str = ""


@dataclass
class EventPlan:
    uid: str
    plane: str  # single_plane / plane_a / plane_b
    event_type: str  # fluoroscopy / stationary / rotational
    protocol: str
    start: datetime  # report clock
    duration_s: Decimal
    pulse_rate: Decimal
    pulses: int
    pulsed: bool
    dap_gy_m2: Decimal = Decimal(0)
    dose_rp_gy: Decimal = Decimal(0)
    kvp: Decimal = Decimal(0)
    tube_current_ma: Decimal = Decimal(0)
    pulse_width_ms: Decimal = Decimal(0)
    exposure_time_ms: Decimal = Decimal(0)
    exposure_uas: Decimal = Decimal(0)
    focal_spot_mm: Decimal = Decimal(0)
    filters: tuple[tuple[str, Decimal], ...] = ()  # (material meaning, thickness mm)
    field_height_mm: Decimal = Decimal(0)
    field_width_mm: Decimal = Decimal(0)
    primary_angle: Decimal | None = None
    secondary_angle: Decimal | None = None
    primary_end_angle: Decimal | None = None
    secondary_end_angle: Decimal | None = None
    column_angulation: Decimal | None = None
    source_isocenter_mm: Decimal = Decimal(0)
    source_detector_mm: Decimal = Decimal(0)
    source_reference_mm: Decimal | None = None
    table_longitudinal_mm: Decimal = Decimal(0)
    table_lateral_mm: Decimal = Decimal(0)
    table_height_mm: Decimal = Decimal(0)
    images: list[ImagePlan] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=float(self.duration_s))

    @property
    def field_area_m2(self) -> Decimal:
        return self.field_height_mm * self.field_width_mm * Decimal("1e-6")


@dataclass
class ReportPlan:
    sop_instance_uid: str
    series_instance_uid: str
    instance_number: int
    content_time: datetime
    events: list[EventPlan]
    superseded: bool = False
    path: str = ""


@dataclass
class StudyPlan:
    room: RoomSpec
    patient: Patient
    study_instance_uid: str
    accession: str
    start: datetime
    procedure: Procedure
    scenario: str = "routine"  # routine / high_dose / cross_month
    events: list[EventPlan] = field(default_factory=list)
    reports: list[ReportPlan] = field(default_factory=list)

    @property
    def images(self) -> list[ImagePlan]:
        seen: dict[str, ImagePlan] = {}
        for e in self.events:
            for img in e.images:
                seen.setdefault(img.sop_instance_uid, img)
        return list(seen.values())


@dataclass
class StudyTargets:
    """Dose shape of one study: the DAP total aimed at and the device's Dose (RP) calibration."""

    dap_gy_m2: float
    dose_per_dap: float  # Dose (RP) / (DAP / field area at the reference point), about 1
    fluoro: int | None = None  # event counts that override the procedure's range
    acquisitions: int | None = None
    fluoro_duration_s: tuple[float, float] | None = None


FAMILY = (
    "SMITH",
    "MARTIN",
    "MULLER",
    "ROSSI",
    "DUBOIS",
    "JANSSEN",
    "NOVAK",
    "GARCIA",
    "BAKER",
    "KOWALSKI",
    "LEFEVRE",
    "SCHMIDT",
    "BERG",
    "MOREAU",
    "HANSEN",
    "FISCHER",
)
GIVEN = {
    "M": ("JOHN", "PIERRE", "LUCA", "JAN", "KARL", "TOMAS", "PAUL", "ERIK"),
    "F": ("ANNA", "MARIE", "SOFIA", "EVA", "CLARA", "JULIA", "LENA", "IRIS"),
}


def make_patient(rng: random.Random, number: int) -> Patient:
    sex = rng.choice("MF")
    age_days = rng.randint(25 * 365, 88 * 365)
    return Patient(
        patient_id=f"SYN{number:06d}",
        name=f"{rng.choice(FAMILY)}^{rng.choice(GIVEN[sex])}",
        birth_date=date(2026, 9, 1) - timedelta(days=age_days),
        sex=sex,
        weight_kg=dec(rng.uniform(50, 110), 1),
        size_m=dec(rng.uniform(1.50, 1.95), 2),
    )


class Planner:
    """Draws one room's studies; the RNG is seeded by the config seed and the room name."""

    def __init__(self, config: SynthConfig, room: RoomSpec, uid_rng: random.Random) -> None:
        self.config = config
        self.room = room
        self.rng = random.Random(f"{config.seed}/{room.name}")
        self.uid_rng = uid_rng

    def event_timeline(self, study: StudyPlan, targets: StudyTargets) -> None:
        """Fluoro runs between acquisitions; a biplane acquisition gives an event per plane."""
        rng, proc = self.rng, study.procedure
        n_fluoro = (
            targets.fluoro if targets.fluoro is not None else rng.randint(*proc.fluoro_events)
        )
        n_acq = (
            targets.acquisitions
            if targets.acquisitions is not None
            else rng.randint(*proc.acquisition_events)
        )
        kinds = ["fluoroscopy"] * n_fluoro + ["acquisition"] * n_acq
        rng.shuffle(kinds)
        if kinds and kinds[0] != "fluoroscopy" and n_fluoro:
            kinds.remove("fluoroscopy")
            kinds.insert(0, "fluoroscopy")  # one starts by looking
        t = study.start + timedelta(minutes=rng.randint(3, 10))
        previous: EventPlan | None = None
        for kind in kinds:
            if previous is not None:
                t = self._next_start(previous)
            group = (
                self._fluoro(t, proc, targets)
                if kind == "fluoroscopy"
                else self._acquisition(t, proc)
            )
            study.events.extend(group)
            previous = group[0]
        self._doses(study, targets)

    def _next_start(self, previous: EventPlan) -> datetime:
        r = self.rng.random()
        if r < self.room.back_to_back_fraction:
            return previous.end + timedelta(seconds=1)
        if r < self.room.back_to_back_fraction + self.room.overlap_fraction:
            return previous.start + timedelta(seconds=float(previous.duration_s) / 2)
        return previous.end + timedelta(seconds=self.rng.randint(15, 240))

    def _plane(self) -> str:
        if not self.room.biplane:
            return "single_plane"
        return "plane_a" if self.rng.random() < 0.7 else "plane_b"

    def _fluoro(self, t: datetime, proc: Procedure, targets: StudyTargets) -> list[EventPlan]:
        rng = self.rng
        lo, hi = targets.fluoro_duration_s or proc.fluoro_duration_s
        rate = Decimal(rng.choice(("7.5", "15", "15", "30")))
        pulsed = self.room.modality == "XA" or rng.random() < 0.8
        duration = dec(rng.uniform(lo, hi), 1)
        pulses = round(float(duration) * float(rate))
        event = self._event(
            "fluoroscopy",
            self._plane(),
            rng.choice(proc.fluoro_protocols),
            t,
            duration,
            rate,
            pulses,
            pulsed,
        )
        if rng.random() < self.room.last_image_hold_fraction:
            self._attach_image(event, [event], last_image_hold=True)
        return [event]

    def _acquisition(self, t: datetime, proc: Procedure) -> list[EventPlan]:
        rng, room = self.rng, self.room
        protocol = rng.choice(proc.acquisition_protocols)
        rate = Decimal(str(protocol_frame_rate(protocol)))
        rotational = room.biplane and rng.random() < room.rotational_fraction
        seconds = rng.uniform(4.0, 5.0) if rotational else rng.uniform(*proc.acquisition_duration_s)
        if rotational:
            protocol, rate = "Rotational 30fps", Decimal(30)
        pulses = max(1, round(seconds * float(rate)))
        duration = dec(pulses / float(rate), 3)
        kind = "rotational" if rotational else "stationary"
        planes = (
            ["plane_a", "plane_b"]
            if room.biplane and not rotational
            else ["plane_a"]
            if room.biplane
            else ["single_plane"]
        )
        events = [self._event(kind, p, protocol, t, duration, rate, pulses, True) for p in planes]
        both = len(events) == 2 and rng.random() < room.biplane_image_names_both_fraction
        for e in events:  # the image's own event comes first: its DAP goes in (0018,115E)
            self._attach_image(e, [e, *(o for o in events if o is not e)] if both else [e])
        if len(events) == 2:
            a, b = events[0].images[0], events[1].images[0]
            a.partner_uid, b.partner_uid = b.sop_instance_uid, a.sop_instance_uid
        return events

    def _event(
        self,
        kind: str,
        plane: str,
        protocol: str,
        t: datetime,
        duration: Decimal,
        rate: Decimal,
        pulses: int,
        pulsed: bool,
    ) -> EventPlan:
        rng, xa = self.rng, self.room.modality == "XA"
        fluoro = kind == "fluoroscopy"
        e = EventPlan(
            new_uid(self.uid_rng), plane, kind, protocol, t, duration, rate, pulses, pulsed
        )
        e.kvp = dec(rng.uniform(65, 95) if fluoro else rng.uniform(70, 115), 1)
        e.tube_current_ma = dec(rng.uniform(8, 100) if fluoro else rng.uniform(200, 800), 1)
        e.pulse_width_ms = dec(rng.uniform(3, 10) if pulsed else 0, 1)
        e.exposure_time_ms = e.pulse_width_ms * pulses if pulsed else duration * 1000
        e.exposure_uas = dec(float(e.tube_current_ma * e.exposure_time_ms), 0)
        e.focal_spot_mm = Decimal(rng.choice(("0.4", "0.6") if fluoro else ("0.6", "1.0")))
        copper = Decimal(
            rng.choice(("0.1", "0.2", "0.3", "0.6", "0.9") if fluoro else ("0.0", "0.1", "0.2"))
        )
        e.filters = (
            (("Copper", copper),) if xa else (("Aluminum", Decimal("1.0")), ("Copper", copper))
        )
        e.field_height_mm = dec(rng.uniform(90, 250), 1)
        e.field_width_mm = dec(rng.uniform(90, 250), 1)
        if xa:
            e.primary_angle = (
                dec(rng.uniform(-120, 120), 1)
                if plane != "plane_b"
                else dec(rng.uniform(60, 100), 1)
            )
            e.secondary_angle = dec(rng.uniform(-40, 40), 1)
            if kind == "rotational":
                e.primary_end_angle = (
                    e.primary_angle + 200 if e.primary_angle < 0 else (e.primary_angle - 200)
                )
                e.secondary_end_angle = e.secondary_angle
            e.source_isocenter_mm = Decimal(785 if self.room.manufacturer == "Siemens" else 810)
            e.source_detector_mm = dec(rng.uniform(900, 1200), 0)
            e.source_reference_mm = e.source_isocenter_mm - 150
        else:
            e.column_angulation = dec(rng.uniform(-20, 20), 1)
            e.source_isocenter_mm = Decimal(1000)
            e.source_detector_mm = Decimal(1150)
        e.table_longitudinal_mm = dec(rng.uniform(-500, 500), 1)
        e.table_lateral_mm = dec(rng.uniform(-100, 100), 1)
        below_isocentre = rng.uniform(100, 250)  # table top under the isocentre, mm
        # Philips sends the height above the floor, isocentre at 1055 mm: the corpus Azurion
        # sends 935 mm (skin_geometry.yaml); Siemens and Canon send the depth below it.
        e.table_height_mm = dec(
            1055 - below_isocentre if self.room.manufacturer == "Philips" else below_isocentre, 1
        )
        return e

    def _attach_image(
        self, event: EventPlan, producers: list[EventPlan], last_image_hold: bool = False
    ) -> None:
        rng = self.rng
        duration = float(event.duration_s)
        lag = (
            duration * rng.uniform(0.9, 0.99)
            if last_image_hold
            else min(0.5, duration) * rng.random()
        )
        frames = 1 if last_image_hold else event.pulses
        if self.config.max_frames is not None:
            frames = min(frames, self.config.max_frames)
        img = ImagePlan(
            sop_instance_uid=new_uid(self.uid_rng),
            series_instance_uid=new_uid(self.uid_rng),
            series_number=0,  # numbered per study after the timeline is known
            plane=event.plane,
            acquisition_time=event.start + timedelta(milliseconds=int(lag * 1000)),
            frames=frames,
            frame_time_ms=dec(1000 / float(event.pulse_rate), 3),
            producers=producers,
            last_image_hold=last_image_hold,
        )
        if self.room.writes_event_uid:
            img.named_event_uids = tuple(p.uid for p in producers)
        for p in producers:
            p.images.append(img)

    def _doses(self, study: StudyPlan, targets: StudyTargets) -> None:
        """Share the study's DAP over its events; Dose (RP) is DAP over the field area at the
        reference point (as on real reports: GE within 0.1 %), times the device's calibration and
        a per-event spread."""
        rng = self.rng
        weights = [
            float(e.duration_s)
            * (1.0 if e.event_type == "fluoroscopy" else 12.0)
            * rng.uniform(0.6, 1.4)
            for e in study.events
        ]
        total = sum(weights) or 1.0
        for e, w in zip(study.events, weights, strict=True):
            dap = min(1e-2, max(1e-5, targets.dap_gy_m2 * w / total))
            e.dap_gy_m2 = dec(dap, 7)
            per_dap = targets.dose_per_dap / _field_at_reference_m2(e)
            e.dose_rp_gy = max(Decimal("0.000001"), dec(dap * per_dap * rng.uniform(0.85, 1.15), 6))


# Where the event sends no Distance Source to Reference Point (RF rooms), the reference point is
# taken 15 cm before the isocentre, as for the XA rooms.
_REFERENCE_BEFORE_ISOCENTER_MM = Decimal(150)


def _field_at_reference_m2(e: EventPlan) -> float:
    """Collimated Field Area (113790, at the detector) scaled to the reference point."""
    to_rp = e.source_reference_mm or e.source_isocenter_mm - _REFERENCE_BEFORE_ISOCENTER_MM
    return float(e.field_area_m2 * (to_rp / e.source_detector_mm) ** 2)
