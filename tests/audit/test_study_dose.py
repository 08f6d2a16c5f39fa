"""study_dose: totals from events, report-total comparison, image counts, procedures.

The month it checks (``builders.audit_tables``) is shared by the other audit tests: every value is
chosen so that totals, medians, percentiles and alerts can be worked out by hand.
"""

from datetime import date, datetime

import polars as pl
import pytest
from builders.audit_tables import (
    event_rows,
    known_accumulated,
    known_events,
    october,
)
from polars.testing import assert_frame_equal

from schemas import contract
from xrf_assets.core.audit.procedures import ProcedureMap
from xrf_assets.core.audit.study_dose import (
    build_study_dose,
    report_totals,
    study_months,
    study_totals,
    unplaced_event_count,
)
from xrf_assets.core.store import frame_from_rows
from xrf_assets.synth import GroundTruth


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
