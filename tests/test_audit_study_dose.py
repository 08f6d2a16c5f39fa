"""study_dose: totals from events, report-total comparison, image counts, procedures.

The month built here (``known_events`` etc.) is shared by the other audit tests: every value is
chosen so that totals, medians, percentiles and alerts can be worked out by hand.
"""

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from schemas import contract
from xrf_assets.core.procedures import ProcedureMap
from xrf_assets.core.store import frame_from_rows
from xrf_assets.core.study_dose import (
    build_study_dose,
    report_totals,
    study_months,
    study_totals,
    unplaced_event_count,
)
from xrf_assets.synth import GroundTruth

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


def october() -> pl.DataFrame:
    return build_study_dose(
        known_events(),
        known_accumulated(),
        known_images(),
        known_links(),
        "2026-10",
        ProcedureMap.from_yaml(),
    )


def test_study_rows_of_the_month_with_hand_computed_totals() -> None:
    df = october()
    expected = pl.DataFrame(
        {
            "study_instance_uid": ["S7", "S1", "S11", "S2", "S4", "S5", "S3", "S8", "S10"],
            "procedure": [
                "pci",
                "coronary_angiography",
                None,
                "pci",
                "electrophysiology",
                "coronary_angiography",
                "pci",
                "tavi",
                None,
            ],
            "dap_total_gy_cm2": [100.0, 30.0, 0.1, 100.0, 8.0, 50.0, 600.0, 80.0, 1.0],
            "dose_rp_total_gy": [2.5, 0.3, None, 1.2, 0.08, 0.5, 5.5, 2.0, 0.01],
            "fluoro_time_s": [900.0, 300.0, 0.0, 600.0, 4200.0, 120.0, 2400.0, 0.0, 30.0],
            "acquisition_time_s": [0.0, 5.0, 0.1, 6.0, 0.0, 4.0, 10.0, 8.0, 0.0],
            "event_count": [1, 2, 1, 2, 2, 2, 2, 1, 1],
            "fluoro_event_count": [1, 1, 0, 1, 2, 1, 1, 0, 1],
            "acquisition_event_count": [0, 1, 1, 1, 0, 1, 1, 1, 0],
            "dose_rp_missing_event_count": [0, 0, 1, 0, 0, 0, 0, 0, 0],
            "image_count": [0, 1, 0, 2, 0, 0, 0, 0, 0],
            "linked_image_count": [0, 1, 0, 1, 0, 0, 0, 0, 0],
            "totals_mismatch": [None, False, None, False, False, True, False, None, None],
        },
        schema_overrides={"dose_rp_total_gy": pl.Float64, "totals_mismatch": pl.Boolean},
    )
    assert_frame_equal(df.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)
    assert df.get_column("month").unique().to_list() == ["2026-10"]
    s1 = df.filter(pl.col("study_instance_uid") == "S1").row(0, named=True)
    assert (s1["patient_id"], s1["room_id"], s1["modality"]) == ("P1", "A", "fluoroscopy")
    assert (s1["study_date"], s1["report_count"]) == (date(2026, 10, 5), 1)
    assert s1["dap_total_gy_m2"] == pytest.approx(0.003)
    assert s1["report_dap_total_gy_m2"] == 0.003


def test_report_totals_use_a_total_row_over_planes_and_ignore_superseded_reports() -> None:
    totals = report_totals(known_events(), known_accumulated()).sort("study_instance_uid")
    by_study = {r["study_instance_uid"]: r for r in totals.iter_rows(named=True)}
    # S2: the superseded r2-old (no events left) is not added to r2's 0.010 Gy.m2
    assert by_study["S2"]["report_dap_total_gy_m2"] == 0.010
    # S3: the 'total' row, not total + plane_a
    assert (
        by_study["S3"]["report_dap_total_gy_m2"],
        by_study["S3"]["report_dose_rp_total_gy"],
    ) == (
        0.06,
        5.5,
    )
    # S4 is within the vendors' rounding (0.08 vs 0.0815 Gy), S5's DAP is 20 % off
    assert [by_study[s]["totals_mismatch"] for s in ("S1", "S2", "S3", "S4", "S5")] == [
        False,
        False,
        False,
        False,
        True,
    ]


def test_a_study_with_two_reports_adds_their_totals() -> None:
    rows = event_rows({"x1": ("S1", "fluoroscopy", 0.001, 0.1, 1.0, "F")})
    rows += [
        event_rows({"x2": ("S1", "fluoroscopy", 0.002, 0.2, 1.0, "F")})[0]
        | {"report_sop_instance_uid": "r1b"}
    ]
    acc = frame_from_rows(
        "accumulated_dose",
        [
            {
                "report_sop_instance_uid": r,
                "study_instance_uid": "S1",
                "acquisition_plane": "single_plane",
                "dap_total_gy_m2": dap,
                "dose_rp_total_gy": dose,
                "source_path": f"{r}.dcm",
            }
            for r, dap, dose in (("r1", 0.001, 0.1), ("r1b", 0.002, 0.2))
        ],
    )
    row = study_totals(frame_from_rows("irradiation_events", rows), acc).row(0, named=True)
    assert (row["report_count"], row["report_dap_total_gy_m2"], row["totals_mismatch"]) == (
        2,
        pytest.approx(0.003),
        False,
    )


def test_study_date_falls_back_to_the_first_event_and_unplaceable_events_are_counted() -> None:
    rows = event_rows({"x1": ("S1", "fluoroscopy", 0.001, 0.1, 1.0, "F")})
    rows[0] |= {"study_date": None, "datetime_started": datetime(2026, 11, 30, 23, 59)}
    no_uid = event_rows({"x2": ("S2", "fluoroscopy", 0.001, 0.1, 1.0, "F")})[0] | {
        "study_instance_uid": None
    }
    undated = event_rows({"x3": ("S3", "fluoroscopy", 0.001, 0.1, 1.0, "F")})[0] | {
        "study_date": None,
        "datetime_started": None,
    }
    events = frame_from_rows("irradiation_events", [*rows, no_uid, undated])
    assert study_months(events).to_dicts() == [{"study_instance_uid": "S1", "month": "2026-11"}]
    assert study_totals(events, known_accumulated().clear()).get_column("study_date").to_list() == [
        date(2026, 11, 30)
    ]
    assert unplaced_event_count(events) == 2


def test_fluoro_time_falls_back_to_the_report_total_only_when_no_event_gives_one() -> None:
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 0.001, 0.1, None, "F"),
            "x2": ("S1", "stationary", 0.001, 0.1, 4.0, "A"),
        }
    )
    acc = frame_from_rows(
        "accumulated_dose",
        [
            {
                "report_sop_instance_uid": "r1",
                "study_instance_uid": "S1",
                "acquisition_plane": "single_plane",
                "source_path": "reports/r1.dcm",
                "total_fluoro_time_s": 75.0,
                "total_acquisition_time_s": 99.0,
            }
        ],
    )
    row = study_totals(frame_from_rows("irradiation_events", rows), acc).row(0, named=True)
    assert (row["fluoro_time_s"], row["acquisition_time_s"]) == (75.0, 4.0)


def test_an_event_without_dap_is_counted_and_the_total_is_the_sum_of_the_others() -> None:
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 0.001, 0.1, 1.0, "F"),
            "x2": ("S1", "fluoroscopy", None, 0.1, 1.0, "F"),
        }
    )
    row = study_totals(
        frame_from_rows("irradiation_events", rows), known_accumulated().clear()
    ).row(0, named=True)
    assert (row["dap_total_gy_m2"], row["dap_missing_event_count"]) == (0.001, 1)
    only_missing = event_rows({"x3": ("S1", "fluoroscopy", None, None, 1.0, "F")})
    row = study_totals(
        frame_from_rows("irradiation_events", only_missing), known_accumulated().clear()
    ).row(0, named=True)
    assert row["dap_total_gy_m2"] is None and row["dose_rp_total_gy"] is None


@pytest.fixture(scope="module")
def synth_truth(small_corpus: tuple[Path, GroundTruth]) -> GroundTruth:
    """The small generated corpus (two months, every knob on); its truth gives the input tables."""
    return small_corpus[1]


def synth_links(truth: GroundTruth) -> pl.DataFrame:
    """The true producer of every image as ``event_image_links`` rows."""
    return truth.links.with_columns(link_method=pl.lit("image_event_uid")).select(
        contract("event_image_links").column_names[:3]
    )


@pytest.mark.parametrize("month", ["2026-09", "2026-10"])
def test_study_dose_equals_the_generators_study_truth(synth_truth: GroundTruth, month: str) -> None:
    truth = synth_truth
    links = frame_from_rows("event_image_links", synth_links(truth).to_dicts())
    df = build_study_dose(
        truth.irradiation_events,
        truth.accumulated_dose,
        truth.images,
        links,
        month,
        ProcedureMap.from_yaml(),
    )
    expected = (
        truth.studies.filter(pl.col("month") == month)
        .select(
            "month",
            "study_instance_uid",
            "patient_id",
            "room_id",
            "study_date",
            "study_description",
            "procedure",
            "dap_total_gy_m2",
            "dose_rp_total_gy",
            "fluoro_time_s",
            "acquisition_time_s",
            event_count="n_events",
            fluoro_event_count="n_fluoro_events",
            acquisition_event_count="n_acquisition_events",
            image_count="n_images",
            linked_image_count="n_images",
        )
        .sort("study_instance_uid")
    )
    assert expected.height > 0
    assert_frame_equal(
        df.select(expected.columns).sort("study_instance_uid"),
        expected,
        check_dtypes=False,
        check_exact=False,
        rel_tol=1e-9,
    )
    # the generator's reports send totals equal to the sums of their events
    assert df.get_column("totals_mismatch").to_list() == [False] * df.height
