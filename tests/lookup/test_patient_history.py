"""A demo patient's dose history against the ground truth, and the rolling windows' edges."""

from __future__ import annotations

from datetime import date
from itertools import accumulate

import polars as pl
import pytest
from builders.demo_run import DemoRun

from xrf_assets.core.lookup.patient_history import (
    WINDOWS,
    patient_history,
    rolling_sums,
    sum_column,
    year_before,
)
from xrf_assets.core.lookup.study_card import LookupNotFound


def test_the_rolling_sums_are_the_truth_studies_summed(demo_run: DemoRun) -> None:
    """For the cross-month scenario's patient (studies each side of a month end: two month
    partitions) and the patient with the most studies."""
    studies = demo_run.truth.studies
    (cross,) = studies.filter(scenario="cross_month")["patient_id"].unique()
    count = studies.group_by("patient_id").len()
    most = count.sort(["len", "patient_id"], descending=[True, False])["patient_id"][0]
    assert count.filter(patient_id=most)["len"][0] == 5
    crossing = patient_history(demo_run.store, demo_run.pseudonym(cross))
    assert crossing.studies["month"].to_list() == ["2026-09", "2026-10"]
    for patient in (cross, most):
        truth = demo_run.truth.studies.filter(patient_id=patient).sort(
            "study_date", "study_instance_uid"
        )
        history = patient_history(demo_run.store, demo_run.pseudonym(patient))
        studies = history.studies
        assert studies.height == truth.height >= 2
        assert studies["study_instance_uid"].to_list() == truth["study_instance_uid"].to_list()
        # every demo study lies within 90 days of the others: each window holds all before it
        assert (truth["study_date"].max() - truth["study_date"].min()).days < 90
        for figure, values in (
            ("dap", (truth["dap_total_gy_m2"] * 1e4).to_list()),
            ("dose_rp", truth["dose_rp_total_gy"].to_list()),
        ):
            expected = list(accumulate(values))
            for window in WINDOWS:
                got = studies[sum_column(figure, window)].to_list()
                assert got == pytest.approx(expected, rel=1e-12), (patient, figure, window.name)


def test_a_patient_s_alerts_and_peak_skin_dose_are_those_published(demo_run: DemoRun) -> None:
    patient = demo_run.truth.studies.filter(scenario="high_dose")["patient_id"][0]
    pseudonym = demo_run.pseudonym(patient)
    history = patient_history(demo_run.store, pseudonym)
    published = demo_run.store.read("dose_alerts").filter(patient_id=pseudonym)
    assert history.alerts.height == published.height == 6  # 3 study rules, 3 window rules
    assert sorted(history.alerts["rule"]) == sorted(published["rule"])
    skin = demo_run.store.read("skin_dose").filter(patient_id=pseudonym)
    assert history.studies["peak_skin_dose_gy"].to_list() == [skin["peak_skin_dose_gy"].max()]
    text = history.render()
    assert f"Patient {pseudonym}: 1 study, " in text
    assert "  90d: the studies of the 90 days ending with this date" in text.splitlines()
    assert patient not in text and patient not in history.to_json()


def test_the_windows_end_12_months_and_90_days_before_each_study() -> None:
    studies = pl.DataFrame(
        {
            "study_instance_uid": ["a", "b", "c", "d", "e"],
            "study_date": [
                date(2024, 2, 29),
                date(2024, 5, 29),  # 90 days after a: a is out of its 90-day window
                date(2025, 2, 28),  # 12 months back is 2024-02-28: a is in
                date(2025, 3, 1),  # no DAP: adds nothing
                date(2025, 3, 1),
            ],
            "dap_total_gy_cm2": [1.0, 2.0, 4.0, None, 8.0],
            "dose_rp_total_gy": [0.1, 0.2, 0.4, 0.8, 1.6],
        }
    )
    out = rolling_sums(studies)
    assert out["dap_cumulative_gy_cm2"].to_list() == [1, 3, 7, 7, 15]
    assert out["dap_12mo_gy_cm2"].to_list() == [1, 3, 7, 6, 14]
    assert out["dap_90d_gy_cm2"].to_list() == [1, 2, 4, 4, 12]
    assert out["dose_rp_90d_gy"].to_list() == pytest.approx([0.1, 0.2, 0.4, 1.2, 2.8])
    assert year_before(date(2024, 2, 29)) == date(2023, 2, 28)


def test_an_unknown_patient_and_a_real_id_in_pseudonymize_mode_find_nothing(
    demo_run: DemoRun,
) -> None:
    real = demo_run.truth.studies["patient_id"][0]
    for asked in ("nobody", real):
        with pytest.raises(LookupNotFound, match=f"^no patient {asked} in study_dose under "):
            patient_history(demo_run.store, asked)
