"""Hand-made audit input tables with totals computed by hand: four studies in October 2026.

Shared by the audit, asset and BI-reading tests, so every one of them checks the same known values.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl

from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.study_dose import build_study_dose, study_totals
from xrf_assets.core.store import TableStore, frame_from_rows

# study -> (room, patient, description, study date, report, modality)
STUDIES = {
    "S1": ("A", "P1", "Coronary angiography", date(2026, 10, 5), "r1", "fluoroscopy"),
    "S2": ("A", "P2", "PCI", date(2026, 10, 10), "r2", "fluoroscopy"),
    "S3": ("A", "P3", "PCI", date(2026, 10, 20), "r3", "fluoroscopy"),
    "S4": ("B", "P4", "Electrophysiology", date(2026, 10, 12), "r4", "fluoroscopy"),
    "S5": ("B", "P5", "Coronary angiography", date(2026, 10, 15), "r5", "fluoroscopy"),
    "S6": ("A", "P6", "PCI", date(2026, 9, 25), "r6", "fluoroscopy"),
    "S7": ("A", "P6", "PCI", date(2026, 10, 2), "r7", "fluoroscopy"),
    "S8": ("B", "P7", "TAVI", date(2026, 10, 28), "r8", "fluoroscopy"),
    "S9": ("B", "P7", "TAVI", date(2026, 3, 10), "r9", "fluoroscopy"),
    "S10": ("B", "P8", "Unusual study", date(2026, 10, 30), "r10", "fluoroscopy"),
    "S11": ("B", "P9", "Chest", date(2026, 10, 8), "r11", "radiography"),
}
# event -> (study, type, DAP Gy.m2, Dose (RP) Gy, duration s, protocol)
EVENTS = {
    "e1": ("S1", "fluoroscopy", 0.001, 0.1, 300.0, "Fluoro Card"),
    "e2": ("S1", "stationary", 0.002, 0.2, 5.0, "Coro 15fps"),
    "e3": ("S2", "fluoroscopy", 0.004, 0.5, 600.0, "Fluoro Card"),
    "e4": ("S2", "stationary", 0.006, 0.7, 6.0, "Coro 15fps"),
    "e5": ("S3", "fluoroscopy", 0.03, 3.0, 2400.0, "Fluoro Card"),
    "e6": ("S3", "rotational", 0.03, 2.5, 10.0, "Coro 15fps"),
    "e7": ("S4", "fluoroscopy", 0.0005, 0.05, 3600.0, "Fluoro EP"),
    "e8": ("S4", "fluoroscopy", 0.0003, 0.03, 600.0, None),
    "e9": ("S5", "fluoroscopy", 0.002, 0.2, 120.0, "Fluoro Card"),
    "e10": ("S5", "stationary", 0.003, 0.3, 4.0, "Coro 15fps"),
    "e11": ("S6", "fluoroscopy", 0.02, 2.5, 1200.0, "Fluoro Card"),
    "e12": ("S7", "fluoroscopy", 0.01, 2.5, 900.0, "Fluoro Card"),
    "e13": ("S8", "stationary", 0.008, 2.0, 8.0, "Aortic Root"),
    "e14": ("S9", "stationary", 0.01, 4.0, 8.0, "Aortic Root"),
    "e15": ("S10", "fluoroscopy", 0.0001, 0.01, 30.0, "Fluoro Card"),
    "e16": ("S11", "stationary", 0.00001, None, 0.1, "Chest PA"),
}


def event_rows(events: dict = EVENTS, studies: dict = STUDIES) -> list[dict]:
    rows = []
    for i, (uid, (study, kind, dap, dose, dur, protocol)) in enumerate(events.items()):
        room, patient, description, day, report, modality = studies[study]
        rows.append(
            {
                "irradiation_event_uid": uid,
                "report_sop_instance_uid": report,
                "study_instance_uid": study,
                "study_date": day,
                "study_description": description,
                "patient_id": patient,
                "modality": modality,
                "room_id": room,
                "event_type": kind,
                "acquisition_plane": "single_plane",
                "datetime_started": datetime.combine(day, datetime.min.time()).replace(
                    hour=8 + i % 8
                ),
                "irradiation_duration_s": dur,
                "acquisition_protocol": protocol,
                "dap_gy_m2": dap,
                "dose_rp_gy": dose,
                "source_path": f"reports/{report}.dcm",
            }
        )
    return rows


def known_events() -> pl.DataFrame:
    return frame_from_rows("irradiation_events", event_rows())


def known_accumulated() -> pl.DataFrame:
    def acc(report: str, study: str, plane: str, dap: float | None, dose: float | None) -> dict:
        return {
            "report_sop_instance_uid": report,
            "study_instance_uid": study,
            "acquisition_plane": plane,
            "dap_total_gy_m2": dap,
            "dose_rp_total_gy": dose,
            "source_path": f"reports/{report}.dcm",
        }

    return frame_from_rows(
        "accumulated_dose",
        [
            acc("r1", "S1", "single_plane", 0.003, 0.3),
            acc("r2", "S2", "single_plane", 0.010, 1.2),
            acc("r2-old", "S2", "single_plane", 0.004, 0.5),  # superseded: no event left
            acc("r3", "S3", "total", 0.06, 5.5),
            acc("r3", "S3", "plane_a", 0.01, 1.0),  # ignored: the report sends a total
            acc("r4", "S4", "single_plane", 0.0008, 0.0815),  # rounding: within tolerance
            acc("r5", "S5", "single_plane", 0.006, 0.5),  # DAP 20% above its events
        ],
    )


def known_images() -> pl.DataFrame:
    def image(uid: str, study: str, day: date) -> dict:
        return {
            "sop_instance_uid": uid,
            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.12.1",
            "study_instance_uid": study,
            "study_date": day,
            "room_id": "A",
            "irradiation_event_uids": [],
            "source_path": f"images/{uid}.dcm",
        }

    return frame_from_rows(
        "images",
        [
            image("im1", "S1", date(2026, 10, 5)),
            image("im2", "S2", date(2026, 10, 10)),
            image("im3", "S2", date(2026, 10, 10)),
            image("im4", "S12", date(2026, 10, 9)),
        ],
    )


def known_links() -> pl.DataFrame:
    return frame_from_rows(
        "event_image_links",
        [
            {
                "irradiation_event_uid": "e2",
                "sop_instance_uid": "im1",
                "link_method": "image_event_uid",
            },
            {
                "irradiation_event_uid": "e4",
                "sop_instance_uid": "im2",
                "link_method": "report_reference",
            },
        ],
    )


def known_studies() -> pl.DataFrame:
    """``study_totals`` of the known tables (every month)."""
    return study_totals(known_events(), known_accumulated(), known_images())


def october() -> pl.DataFrame:
    return build_study_dose(
        known_studies(),
        known_events(),
        known_images(),
        known_links(),
        "2026-10",
        ProcedureMap.from_yaml(),
    )


def known_store(root: Path) -> TableStore:
    """A table store under ``root`` holding the four audit inputs above, as ingest leaves them."""
    store = TableStore(root)
    store.write("irradiation_events", known_events())
    store.write("accumulated_dose", known_accumulated())
    store.write("images", known_images())
    store.write("event_image_links", known_links())
    return store
