"""The checks on the audit's inputs find exactly the broken rows, and pass on clean ones."""

import polars as pl
from builders.audit_tables import (
    event_rows,
    known_accumulated,
    known_events,
    known_images,
    known_links,
    known_studies,
    october,
)

from xrf_assets.core.audit.checks import (
    INPUT_CHECKS,
    audit_input_checks,
    check_event_bounds,
    check_imaged_studies_reported,
    check_links_within_study,
    check_report_totals,
    check_unique_event_uids,
    events_in_window,
)
from xrf_assets.core.audit.study_dose import study_totals
from xrf_assets.core.store import frame_from_rows


def test_known_month_passes_the_blocking_checks_and_warns_on_the_report_totals() -> None:
    outcomes = audit_input_checks(
        known_events(),
        known_accumulated(),
        known_images(),
        known_links(),
        known_studies(),
        "2026-10",
        6,
    )
    assert [o.name for o in outcomes] == list(INPUT_CHECKS)
    failed = {o.name: o for o in outcomes if not o.passed}
    assert list(failed) == ["report_totals_match_events"]
    assert not failed["report_totals_match_events"].blocking
    assert [s["report_sop_instance_uid"] for s in failed["report_totals_match_events"].sample] == [
        "r5"
    ]


def test_dap_outside_physical_bounds_is_found() -> None:
    rows = event_rows()
    rows[0]["dap_gy_m2"] = 1.0  # 10,000 Gy.cm2 in one event: a unit read wrongly
    rows[1]["dose_rp_gy"] = -0.1
    outcome = check_event_bounds(frame_from_rows("irradiation_events", rows))
    assert (outcome.passed, outcome.blocking, outcome.failures) == (False, True, 2)
    assert [s["irradiation_event_uid"] for s in outcome.sample] == ["e1", "e2"]
    assert "physical bounds" in outcome.description


def test_duplicate_event_uids_are_found() -> None:
    events = pl.concat([known_events(), known_events().head(1)])
    outcome = check_unique_event_uids(events)
    assert (outcome.passed, outcome.failures) == (False, 1)
    assert outcome.sample[0]["irradiation_event_uid"] == "e1"
    assert outcome.sample[0]["copies"] == 2
    assert check_unique_event_uids(known_events()).passed


def test_an_image_linked_to_another_studys_event_is_found() -> None:
    links = frame_from_rows(
        "event_image_links",
        [{"irradiation_event_uid": "e3", "sop_instance_uid": "im1", "link_method": "time_window"}],
    )
    outcome = check_links_within_study(known_events(), known_images(), links)
    # a PACS merge or split re-files images: a warning naming the records, never a blocked month
    assert (outcome.passed, outcome.blocking, outcome.failures) == (False, False, 1)
    assert outcome.sample == [
        {"irradiation_event_uid": "e3", "sop_instance_uid": "im1", "link_method": "time_window"}
    ]


def test_report_totals_check_names_only_the_report_beyond_rounding() -> None:
    outcome = check_report_totals(known_events(), known_accumulated())
    assert (outcome.failures, outcome.sample[0]["source_path"]) == (1, "reports/r5.dcm")


def test_checks_look_at_the_window_the_audit_reads() -> None:
    rows = event_rows()
    rows[13]["dap_gy_m2"] = 5.0  # e14, March: outside a 6-month window ending in October
    events = frame_from_rows("irradiation_events", rows)
    studies = study_totals(events, known_accumulated(), known_images())
    in_window = events_in_window(events, studies, "2026-10", 6)
    assert "e14" not in in_window.get_column("irradiation_event_uid")
    for window, passed in ((6, True), (8, False)):
        bounds = audit_input_checks(
            events, known_accumulated(), known_images(), known_links(), studies, "2026-10", window
        )[0]
        assert bounds.passed is passed


def test_imaged_study_without_dose_report_is_found() -> None:
    outcome = check_imaged_studies_reported(known_images(), october(), "2026-10")
    assert (outcome.passed, outcome.blocking) == (False, False)
    assert outcome.sample == [{"study_instance_uid": "S12", "image_count": 1, "room_id": "A"}]
