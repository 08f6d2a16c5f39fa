"""dose_alerts: exactly the studies and patients built over each threshold are alerted.

The hand-built month (test_audit_study_dose): S3 has 5.5 Gy and 600 Gy.cm2; S4 has 70 min of
fluoroscopy; patient P6 has 2.5 Gy in September and 2.5 Gy in October (5.0 Gy: over only across the
two months); patient P7 has 4 Gy in March and 2 Gy in October (over only with a window of 8 months).
"""

from datetime import date

import polars as pl
import pytest
from builders.audit_tables import known_studies
from polars.testing import assert_frame_equal

from xrf_assets.core.audit.alerts import AlertThresholds, build_dose_alerts
from xrf_assets.core.audit.study_dose import study_totals
from xrf_assets.synth import GroundTruth


def _alerts(month: str, thresholds: AlertThresholds | None = None) -> pl.DataFrame:
    return build_dose_alerts(known_studies(), month, thresholds or AlertThresholds())


def test_october_alerts_are_exactly_the_built_ones() -> None:
    df = _alerts("2026-10")
    expected = pl.DataFrame(
        {
            "scope": ["study", "study", "study", "patient", "patient", "patient", "patient"],
            "rule": [
                "study_dap_gy_cm2",
                "study_dose_rp_gy",
                "study_fluoro_time_min",
                "patient_window_dap_gy_cm2",
                "patient_window_dose_rp_gy",
                "patient_window_dose_rp_gy",
                "patient_window_fluoro_time_min",
            ],
            "unit": ["Gy.cm2", "Gy", "min", "Gy.cm2", "Gy", "Gy", "min"],
            "value": [600.0, 5.5, 70.0, 600.0, 5.5, 5.0, 70.0],
            "threshold": [500.0, 5.0, 60.0, 500.0, 5.0, 5.0, 60.0],
            # S3's report sends its totals; S4, S6 and S7 send none: their events are summed
            "source": [
                "device_total",
                "device_total",
                "event_sum",
                "device_total",
                "device_total",
                "event_sum",
                "event_sum",
            ],
            "estimate": [False] * 7,
            "patient_id": ["P3", "P3", "P4", "P3", "P3", "P6", "P4"],
            "study_instance_uid": ["S3", "S3", "S4", None, None, None, None],
            "room_id": ["A", "A", "B", None, None, None, None],
            "study_date": [
                date(2026, 10, 20),
                date(2026, 10, 20),
                date(2026, 10, 12),
                date(2026, 10, 20),
                date(2026, 10, 20),
                date(2026, 10, 2),
                date(2026, 10, 12),
            ],
            "window_study_count": [None, None, None, 1, 1, 2, 1],
            "window_study_uids": [["S3"], ["S3"], ["S4"], ["S3"], ["S3"], ["S6", "S7"], ["S4"]],
        },
        schema_overrides={"window_study_count": pl.Int64},
    )
    assert_frame_equal(
        df.drop("month", "window_start_date", "window_end_date"),
        expected,
        check_exact=False,
        rel_tol=1e-12,
    )
    patients = df.filter(pl.col("scope") == "patient")
    assert set(patients.get_column("window_start_date")) == {date(2026, 5, 1)}
    assert set(patients.get_column("window_end_date")) == {date(2026, 10, 31)}


def test_the_cross_month_patient_is_not_alerted_on_the_first_month_alone() -> None:
    assert _alerts("2026-09").height == 0


def test_no_new_study_no_repeated_patient_alert() -> None:
    # P6's window still holds 5 Gy in November, but P6 has no study then.
    assert _alerts("2026-11").height == 0


def test_window_length_decides_whether_older_studies_count() -> None:
    six = _alerts("2026-10").filter(pl.col("patient_id") == "P7")
    eight = _alerts("2026-10", AlertThresholds(window_months=8)).filter(
        pl.col("patient_id") == "P7"
    )
    assert six.height == 0
    assert eight.select("rule", "value", "window_study_uids").to_dicts() == [
        {
            "rule": "patient_window_dose_rp_gy",
            "value": pytest.approx(6.0),
            "window_study_uids": ["S9", "S8"],
        }
    ]


def test_thresholds_are_configurable_and_inclusive() -> None:
    df = _alerts("2026-10", AlertThresholds(dose_rp_gy=2.5, dap_gy_cm2=1e9, fluoro_time_min=1e9))
    studies = df.filter(pl.col("scope") == "study")
    assert sorted(studies.get_column("study_instance_uid").to_list()) == ["S3", "S7"]  # 5.5, 2.5
    patients = df.filter(pl.col("scope") == "patient")
    assert sorted(patients.get_column("patient_id").to_list()) == ["P3", "P6"]


def test_generated_corpus_alerts_its_high_dose_study_and_cross_month_patient(
    synth_truth: GroundTruth,
) -> None:
    studies = synth_truth.studies
    over = (
        (pl.col("dose_rp_total_gy") >= 5.0)
        | (pl.col("dap_total_gy_m2") * 1e4 >= 500.0)
        | (pl.col("fluoro_time_s") >= 3600.0)
    )
    cross = studies.filter(pl.col("scenario") == "cross_month").sort("study_date")
    assert cross.height == 2 and cross.get_column("month").n_unique() == 2
    patient = cross.get_column("patient_id")[0]
    totals = study_totals(
        synth_truth.irradiation_events, synth_truth.accumulated_dose, synth_truth.images
    )
    for month in ("2026-09", "2026-10"):
        df = build_dose_alerts(totals, month, AlertThresholds())
        alerted = set(df.filter(pl.col("scope") == "study").get_column("study_instance_uid"))
        assert alerted == set(
            studies.filter((pl.col("month") == month) & over).get_column("study_instance_uid")
        )
        patients = set(df.filter(pl.col("scope") == "patient").get_column("patient_id"))
        # the cross-month patient only once both studies are in the window
        assert (patient in patients) == (month == cross.get_column("month")[1])
    high = studies.filter(pl.col("scenario") == "high_dose")
    assert high.height >= 1 and high.filter(over).height == high.height
