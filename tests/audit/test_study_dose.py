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
    known_images,
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

NO_IMAGES = known_images().clear()


def test_study_rows_of_the_month_with_hand_computed_totals() -> None:
    df = october()
    dr, ev, imgs = "dose_report", "event_sum", "image_headers"
    device = "device_total"
    expected = pl.DataFrame(
        {
            "study_instance_uid": ["S7", "S1", "S11", "S12", "S2", "S4", "S5", "S3", "S8", "S10"],
            "procedure": [
                "pci",
                "coronary_angiography",
                None,
                None,
                "pci",
                "electrophysiology",
                "coronary_angiography",
                "pci",
                "tavi",
                None,
            ],
            # S12 is known from one image only (no DAP in it); S5 and S4 take their device's
            # totals (60 Gy.cm2 against events' 50; 0.0815 Gy against 0.08)
            "dose_source": [dr, dr, dr, imgs, dr, dr, dr, dr, dr, dr],
            "dap_total_gy_cm2": [100.0, 30.0, 0.1, None, 100.0, 8.0, 60.0, 600.0, 80.0, 1.0],
            "dap_source": [ev, device, ev, None, device, device, device, device, ev, ev],
            "event_dap_total_gy_m2": [
                0.01,
                0.003,
                1e-5,
                None,
                0.01,
                0.0008,
                0.005,
                0.06,
                0.008,
                0.0001,
            ],
            "dose_rp_total_gy": [2.5, 0.3, None, None, 1.2, 0.0815, 0.5, 5.5, 2.0, 0.01],
            "fluoro_time_s": [900.0, 300.0, 0.0, None, 600.0, 4200.0, 120.0, 2400.0, 0.0, 30.0],
            "fluoro_time_source": [ev, ev, ev, None, ev, ev, ev, ev, ev, ev],
            "acquisition_time_s": [0.0, 5.0, 0.1, None, 6.0, 0.0, 4.0, 10.0, 8.0, 0.0],
            "event_count": [1, 2, 1, 0, 2, 2, 2, 2, 1, 1],
            "fluoro_event_count": [1, 1, 0, 0, 1, 2, 1, 1, 0, 1],
            "acquisition_event_count": [0, 1, 1, 0, 1, 0, 1, 1, 1, 0],
            "dose_rp_missing_event_count": [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            "image_count": [0, 1, 0, 1, 2, 0, 0, 0, 0, 0],
            "linked_image_count": [0, 1, 0, 0, 1, 0, 0, 0, 0, 0],
            "totals_mismatch": [None, False, None, None, False, False, True, False, None, None],
            "times_mismatch": [None] * 10,
        },
        schema_overrides={
            "dose_rp_total_gy": pl.Float64,
            "totals_mismatch": pl.Boolean,
            "times_mismatch": pl.Boolean,
        },
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
    row = study_totals(frame_from_rows("irradiation_events", rows), acc, NO_IMAGES).row(
        0, named=True
    )
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
    assert study_months(events, NO_IMAGES).to_dicts() == [
        {"study_instance_uid": "S1", "month": "2026-11"}
    ]
    totals = study_totals(events, known_accumulated().clear(), NO_IMAGES)
    assert totals.get_column("study_date").to_list() == [date(2026, 11, 30)]
    assert unplaced_event_count(events) == 2


def test_months_follow_the_same_rule_for_studies_known_from_images() -> None:
    images = known_images().with_columns(
        study_date=pl.when(pl.col("study_instance_uid") == "S12").then(pl.col("study_date")),
        acquisition_datetime=pl.lit(datetime(2026, 12, 1, 0, 5)),
    )
    months = study_months(known_events(), images)
    totals = study_totals(known_events(), known_accumulated(), images)
    assert_frame_equal(
        months, totals.select("study_instance_uid", "month").sort("month", "study_instance_uid")
    )
    # images of reported studies do not move them; S12 has its images' Study Date
    assert dict(months.iter_rows())["S2"] == "2026-10"
    undated = images.with_columns(study_date=pl.lit(None, pl.Date))
    assert dict(study_months(known_events().clear(), undated).iter_rows())["S12"] == "2026-12"


def _acc(report: str = "r1", **totals: float) -> dict:
    return {
        "report_sop_instance_uid": report,
        "study_instance_uid": "S1",
        "acquisition_plane": "single_plane",
        "source_path": f"reports/{report}.dcm",
        **totals,
    }


def test_the_device_total_time_is_the_studys_and_the_event_sum_is_kept_beside_it() -> None:
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 0.001, 0.1, None, "F"),
            "x2": ("S1", "stationary", 0.001, 0.1, 4.0, "A"),
        }
    )
    acc = frame_from_rows(
        "accumulated_dose", [_acc(total_fluoro_time_s=75.0, total_acquisition_time_s=99.0)]
    )
    row = study_totals(frame_from_rows("irradiation_events", rows), acc, NO_IMAGES).row(
        0, named=True
    )
    assert (row["fluoro_time_s"], row["acquisition_time_s"]) == (75.0, 99.0)
    assert (row["fluoro_time_source"], row["acquisition_time_source"]) == ("device_total",) * 2
    assert (row["event_fluoro_time_s"], row["event_acquisition_time_s"]) == (None, 4.0)
    assert row["times_mismatch"] is True  # 99 s sent against 4 s of acquisition events


def test_times_differing_by_rounding_are_not_a_mismatch() -> None:
    """55.0 s sent against 56.3 s summed over the events (seen on real reports) is rounding."""
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 0.001, 0.1, 30.1, "F"),
            "x2": ("S1", "fluoroscopy", 0.001, 0.1, 26.2, "F"),
        }
    )
    acc = frame_from_rows("accumulated_dose", [_acc(total_fluoro_time_s=55.0)])
    row = study_totals(frame_from_rows("irradiation_events", rows), acc, NO_IMAGES).row(
        0, named=True
    )
    assert (row["fluoro_time_s"], row["event_fluoro_time_s"]) == (55.0, pytest.approx(56.3))
    assert row["times_mismatch"] is False


def test_events_under_the_device_total_take_the_total_and_are_flagged() -> None:
    """The u104 Philips case: the events sum to 16 % under the DAP total the device sends."""
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 0.0042, 0.42, 60.0, "F"),
            "x2": ("S1", "stationary", 0.0042, 0.42, 5.0, "A"),
        }
    )
    acc = frame_from_rows("accumulated_dose", [_acc(dap_total_gy_m2=0.01, dose_rp_total_gy=1.0)])
    row = study_totals(frame_from_rows("irradiation_events", rows), acc, NO_IMAGES).row(
        0, named=True
    )
    assert (row["dap_total_gy_m2"], row["dap_source"], row["totals_mismatch"]) == (
        0.01,
        "device_total",
        True,
    )
    assert row["event_dap_total_gy_m2"] == pytest.approx(0.0084)


def test_a_value_flagged_implausible_is_kept_but_left_out_of_an_event_sum_figure() -> None:
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 1.0, 0.1, 5000.0, "F"),
            "x2": ("S1", "fluoroscopy", 0.002, 0.2, 60.0, "F"),
        }
    )
    rows[0]["plausibility"] = (
        "duration_exceeds_gap: 5000 s > 3600 s to the next event of its plane; "
        "dap_out_of_bounds: 1 Gy.m2 outside 0..0.1"
    )
    events = frame_from_rows("irradiation_events", rows)
    row = study_totals(events, known_accumulated().clear(), NO_IMAGES).row(0, named=True)
    assert (row["dap_total_gy_m2"], row["fluoro_time_s"], row["dose_rp_total_gy"]) == (
        0.002,
        60.0,
        pytest.approx(0.3),  # Dose (RP) not flagged: both count
    )
    assert (row["event_dap_total_gy_m2"], row["event_fluoro_time_s"]) == (1.002, 5060.0)
    assert (row["implausible_event_count"], row["dap_source"]) == (1, "event_sum")


def test_an_event_without_dap_is_counted_and_the_total_is_the_sum_of_the_others() -> None:
    rows = event_rows(
        {
            "x1": ("S1", "fluoroscopy", 0.001, 0.1, 1.0, "F"),
            "x2": ("S1", "fluoroscopy", None, 0.1, 1.0, "F"),
        }
    )
    row = study_totals(
        frame_from_rows("irradiation_events", rows), known_accumulated().clear(), NO_IMAGES
    ).row(0, named=True)
    assert (row["dap_total_gy_m2"], row["dap_missing_event_count"]) == (0.001, 1)
    only_missing = event_rows({"x3": ("S1", "fluoroscopy", None, None, 1.0, "F")})
    row = study_totals(
        frame_from_rows("irradiation_events", only_missing), known_accumulated().clear(), NO_IMAGES
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
        study_totals(truth.irradiation_events, truth.accumulated_dose, truth.images),
        truth.irradiation_events,
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
    assert df.get_column("times_mismatch").to_list() == [False] * df.height
    assert set(df.get_column("dose_source")) == {"dose_report"}
    # every image repeats its event's DAP: the image headers never claim more than the report
    assert not df.get_column("image_dap_mismatch").any()


@pytest.mark.parametrize("months", [["2026-09"], ["2026-10"], ["2026-09", "2026-10"], ["2027-01"]])
def test_totals_of_some_months_are_the_rows_of_every_month_there(
    synth_truth: GroundTruth, months: list[str]
) -> None:
    """A month's audit computes only its window's studies: the same rows, nothing else."""
    tables = (synth_truth.irradiation_events, synth_truth.accumulated_dose, synth_truth.images)
    every = study_totals(*tables)
    some = study_totals(*tables, months=months)
    assert_frame_equal(some, every.filter(pl.col("month").is_in(months)))
    assert some.height == synth_truth.studies.filter(pl.col("month").is_in(months)).height
    assert (some.height > 0) == (months != ["2027-01"])  # the corpus has no January
