"""The corpus plan: which studies happen in which room on which day, for which patient.

Besides the ordinary work list it places the hard cases a dose audit must get right: studies that
cross the NCRP 168 alert levels (Dose (RP) >= 5 Gy, DAP >= 500 Gy.cm2, fluoro time >= 60 min), a
patient whose DAP crosses 500 Gy.cm2 only when two months are summed, and dose reports re-sent
mid-study (an earlier report holding a subset of the events).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta

from xrf_assets.synth.config import RoomSpec, SynthConfig
from xrf_assets.synth.plan import (
    Patient,
    Planner,
    ReportPlan,
    StudyPlan,
    StudyTargets,
    make_patient,
    new_uid,
)
from xrf_assets.synth.procedures import PROCEDURES, Procedure

# Dose (RP) calibration of a device: Dose (RP) / (DAP / field area at the reference point).
_DOSE_PER_DAP = {"XA": (0.85, 1.2), "RF": (0.85, 1.2)}

HIGH_DOSE = StudyTargets(
    dap_gy_m2=0.08, dose_per_dap=1.0, fluoro=24, acquisitions=36, fluoro_duration_s=(155.0, 200.0)
)
"""About 0.08 Gy.m2 (800 Gy.cm2), several Gy at the reference point, over 62 min of fluoroscopy."""

CROSS_MONTH = StudyTargets(dap_gy_m2=0.03, dose_per_dap=0.5)
"""300 Gy.cm2 per study: under the 500 Gy.cm2 alert alone, over it summed over two months (a
low-reading device, so that Dose (RP) stays under its alert in either month alone)."""


def period_days(config: SynthConfig) -> list[date]:
    """Weekdays of the configured months (studies are scheduled on working days)."""
    first = config.start.replace(day=1)
    end_month = first.month - 1 + config.months
    end = date(first.year + end_month // 12, end_month % 12 + 1, 1)
    days, d = [], first
    while d < end:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _schedule(rng: random.Random, n: int, days: list[date]) -> list[datetime]:
    """``n`` study start times from 07:30, up to 100 minutes apart, all before 21:30."""
    chosen = sorted(rng.randrange(len(days)) for _ in range(n))
    count = Counter(chosen)
    starts, slots = [], dict.fromkeys(chosen, 0)
    for i in chosen:
        spacing = min(100, 840 // count[i])
        start = datetime.combine(days[i], time(7, 30)) + timedelta(
            minutes=spacing * slots[i] + rng.randint(0, spacing // 5), seconds=rng.randint(0, 59)
        )
        slots[i] += 1
        starts.append(start)
    return starts


class CorpusPlanner:
    """Plans every room of a config into :class:`StudyPlan` objects, deterministically."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.uid_rng = random.Random(f"{config.seed}/uids")
        self.patient_rng = random.Random(f"{config.seed}/patients")
        self.patients: list[Patient] = []
        self.accessions = 0

    def new_patient(self) -> Patient:
        patient = make_patient(self.patient_rng, len(self.patients) + 1)
        self.patients.append(patient)
        return patient

    def any_patient(self) -> Patient:
        if self.patients and self.patient_rng.random() < self.config.repeat_patient_fraction:
            return self.patient_rng.choice(self.patients)
        return self.new_patient()

    def study(
        self,
        planner: Planner,
        patient: Patient,
        start: datetime,
        proc: Procedure,
        targets: StudyTargets,
        scenario: str = "routine",
    ) -> StudyPlan:
        self.accessions += 1
        study = StudyPlan(
            planner.room,
            patient,
            new_uid(self.uid_rng),
            f"ACC{self.config.seed % 1000:03d}{self.accessions:06d}",
            start,
            proc,
            scenario,
        )
        planner.event_timeline(study, targets)
        return study

    def plan(self) -> list[StudyPlan]:
        config, days = self.config, period_days(self.config)
        studies: list[StudyPlan] = []
        for index, room in enumerate(config.rooms):
            planner = Planner(config, room, self.uid_rng)
            rng = planner.rng
            for start in _schedule(rng, room.studies, days):
                proc = PROCEDURES[rng.choice(room.procedures)]
                targets = StudyTargets(
                    dap_gy_m2=proc.median_dap_gy_cm2 * 1e-4 * rng.lognormvariate(0.0, 0.5),
                    dose_per_dap=rng.uniform(*_DOSE_PER_DAP[room.modality]),
                )
                studies.append(self.study(planner, self.any_patient(), start, proc, targets))
            if index == 0:
                studies.extend(self._special(planner, days))
        for study in studies:
            finish_study(
                study,
                self.uid_rng,
                random.Random(f"{config.seed}/{study.accession}"),
                config.resent_report_fraction,
            )
        return studies

    def _special(self, planner: Planner, days: list[date]) -> list[StudyPlan]:
        """High-dose studies and the cross-month patient, in the first room, after hours."""
        room, config, out = planner.room, self.config, []
        heavy = _heaviest(room)
        for k in range(config.high_dose_studies):
            day = days[(len(days) // 2 + 3 * k) % len(days)]
            out.append(
                self.study(
                    planner,
                    self.new_patient(),
                    datetime.combine(day, time(17, 5)),
                    heavy,
                    HIGH_DOSE,
                    "high_dose",
                )
            )
        if config.cross_month_patient and config.months >= 2:
            patient = self.new_patient()
            first_month_last = max(d for d in days if d.month == days[0].month)
            second_month = [d for d in days if d.month != days[0].month]
            for day in (first_month_last, second_month[min(3, len(second_month) - 1)]):
                out.append(
                    self.study(
                        planner,
                        patient,
                        datetime.combine(day, time(18, 10)),
                        heavy,
                        CROSS_MONTH,
                        "cross_month",
                    )
                )
        return out


def _heaviest(room: RoomSpec) -> Procedure:
    return max((PROCEDURES[d] for d in room.procedures), key=lambda p: p.median_dap_gy_cm2)


def finish_study(
    study: StudyPlan, uid_rng: random.Random, rng: random.Random, resent_fraction: float
) -> None:
    """Number the series, write down file paths and plan the dose report(s) of one study."""
    folder = f"{study.room.station_name}/{study.start:%Y%m}/{study.accession}"
    for number, img in enumerate(sorted(study.images, key=lambda i: i.acquisition_time), 1):
        img.series_number = number
        img.path = f"{folder}/IMG{number:04d}.dcm"
    events = sorted(study.events, key=lambda e: e.start)
    end = max(e.end for e in events)
    series = new_uid(uid_rng)
    reports = []
    starts = sorted({e.start for e in events})
    if len(starts) > 1 and rng.random() < resent_fraction:
        cut = starts[rng.randrange(1, len(starts))]
        subset = [e for e in events if e.start < cut]
        content = max(e.end for e in subset) + timedelta(minutes=2)
        reports.append(ReportPlan(new_uid(uid_rng), series, 1, content, subset, superseded=True))
    reports.append(
        ReportPlan(new_uid(uid_rng), series, len(reports) + 1, end + timedelta(minutes=5), events)
    )
    for r in reports:
        r.path = f"{folder}/SR{r.instance_number:02d}.dcm"
    study.reports = reports
