"""dose_by_room_month, dose_by_procedure_month, dose_by_protocol_month on the hand-built month.

Percentiles interpolate linearly: for sorted values v0..v(n-1), p at position p*(n-1).
"""

import polars as pl
from builders.audit_tables import known_events, known_images, october
from polars.testing import assert_frame_equal

from xrf_assets.core.audit.statistics import dose_by_procedure, dose_by_protocol, dose_by_room


def test_room_statistics() -> None:
    df = dose_by_room(october(), "2026-10")
    expected = pl.DataFrame(
        {
            "month": ["2026-10"] * 3,
            "room_id": ["A", "B", "B"],
            "modality": ["fluoroscopy", "fluoroscopy", "radiography"],
            # A holds S12, known from one image without a dose: an estimated study, no DAP
            "study_count": [5, 4, 1],
            "patient_count": [5, 4, 1],
            "estimated_study_count": [1, 0, 0],
            "dap_missing_count": [1, 0, 0],
            # A: DAP 30, 100, 100, 600 Gy.cm2. B fluoroscopy: 1, 8, 60 (S5's device total), 80.
            # B radiography: 0.1.
            "dap_mean_gy_cm2": [207.5, 37.25, 0.1],
            "dap_median_gy_cm2": [100.0, 34.0, 0.1],
            "dap_p75_drl_candidate_gy_cm2": [225.0, 65.0, 0.1],
            "dap_p95_gy_cm2": [525.0, 77.0, 0.1],
            "dap_max_gy_cm2": [600.0, 80.0, 0.1],
            "dose_rp_missing_count": [1, 0, 1],
            # A: Dose (RP) 0.3, 1.2, 2.5, 5.5 Gy; fluoro time 300, 600, 900, 2400 s.
            # B: 0.01, 0.0815 (S4's device total), 0.5, 2.0 Gy.
            "dose_rp_median_gy": [1.85, 0.29075, None],
            "fluoro_time_median_s": [750.0, 75.0, 0.0],
            "fluoro_time_max_s": [2400.0, 4200.0, 0.0],
        },
        schema_overrides={"dose_rp_median_gy": pl.Float64},
    )
    assert_frame_equal(df.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)


def test_procedure_statistics_count_unmapped_descriptions() -> None:
    df = dose_by_procedure(october(), "2026-10")
    expected = pl.DataFrame(
        {
            "procedure": ["(unmapped)", "coronary_angiography", "electrophysiology", "pci", "tavi"],
            "study_count": [3, 2, 1, 3, 1],
            "estimated_study_count": [1, 0, 0, 0, 0],
            "dap_median_gy_cm2": [0.55, 45.0, 8.0, 100.0, 80.0],
            "dap_p75_drl_candidate_gy_cm2": [0.775, 52.5, 8.0, 350.0, 80.0],
            "dose_rp_missing_count": [2, 0, 0, 0, 0],
        }
    )
    assert_frame_equal(df.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)


def test_protocol_statistics_are_per_room_and_over_events_of_the_months_studies() -> None:
    df = dose_by_protocol(known_events(), known_images(), october(), "2026-10")
    expected = pl.DataFrame(
        {
            "room_id": ["A", "A", "A", "B", "B", "B", "B", "B", "B"],
            "acquisition_protocol": [
                "(not sent)",  # S12's one image: an estimated irradiation without DAP
                "Coro 15fps",
                "Fluoro Card",
                "(not sent)",
                "Aortic Root",
                "Chest PA",
                "Coro 15fps",
                "Fluoro Card",
                "Fluoro EP",
            ],
            # A Fluoro Card: e1 10, e3 40, e5 300, e12 100 (not September's e11); Coro 20, 60, 300.
            "event_count": [1, 3, 4, 1, 1, 1, 1, 2, 1],
            "estimated_event_count": [1, 0, 0, 0, 0, 0, 0, 0, 0],
            "study_count": [1, 3, 4, 1, 1, 1, 1, 2, 1],
            "dap_missing_count": [1, 0, 0, 0, 0, 0, 0, 0, 0],
            "dap_median_gy_cm2": [None, 60.0, 70.0, 3.0, 80.0, 0.1, 30.0, 10.5, 5.0],
            "dap_p75_drl_candidate_gy_cm2": [None, 180.0, 150.0, 3.0, 80.0, 0.1, 30.0, 15.25, 5.0],
            "irradiation_duration_max_s": [None, 10.0, 2400.0, 600.0, 8.0, 0.1, 4.0, 120.0, 3600.0],
        }
    )
    assert_frame_equal(df.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)
    assert df.get_column("month").unique().to_list() == ["2026-10"]


def test_an_empty_month_gives_empty_tables_of_the_right_shape() -> None:
    empty = october().clear()
    assert dose_by_room(empty, "2026-11").height == 0
    assert dose_by_procedure(empty, "2026-11").height == 0
    assert dose_by_protocol(known_events(), known_images(), empty, "2026-11").height == 0
