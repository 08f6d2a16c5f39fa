"""Linking on real event timing (issue #11): images made around the events of real dose reports
(``xrf_assets.synth.real_timing``), linked with no UID aid; the link sets are asserted."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from builders.corpus import CORPUS
from polars.testing import assert_frame_equal

from xrf_assets.core.linking.links import LinkResult, link_images
from xrf_assets.core.store import frame_from_rows
from xrf_assets.synth.real_timing import (
    PAIR,
    Case,
    Offset,
    build_case,
    constant,
    drifting,
    real_report_events,
    shifted_report,
)


@pytest.fixture(scope="module")
def reports() -> dict[str, pl.DataFrame]:
    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS} (../shared/corpus/openrem)")
    return real_report_events(CORPUS)


def _link(
    reports: dict[str, pl.DataFrame], names: list[str], variant: str, offset: Offset
) -> tuple[Case, LinkResult]:
    case = build_case([reports[n] for n in names], variant, offset)
    return case, link_images(case.images, case.events, frame_from_rows("event_image_refs", []))


def _pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select(PAIR).iter_rows())


def test_fluoro_dominated_room_with_an_offset(reports: dict[str, pl.DataFrame]) -> None:
    # Siemens Zee: eight fluoroscopy events and nothing else; times only, image clock 2 min ahead
    case, result = _link(reports, ["RF-RDSR-Siemens-Zee.dcm"], "times only", constant(120.0))
    assert (case.events.get_column("event_type") == "fluoroscopy").all()
    assert _pairs(result.links) == _pairs(case.truth)
    offsets = result.clock_offsets.row(0, named=True)
    assert (offsets["source"], offsets["offset_s"]) == ("time_pattern_room", 120.0)
    assert offsets["confidence"] >= 4.0


def test_room_at_zero_seconds_where_zero_is_verified(reports: dict[str, pl.DataFrame]) -> None:
    # Philips Azurion (72 of 89 events fluoroscopy), every event imaged, clocks agree
    name = "RF-RDSR-Philips_Azurion.dcm"
    case, result = _link(reports, [name], "times only", constant(0.0))
    offsets = result.clock_offsets.row(0, named=True)
    assert offsets["source"] == "time_pattern_room"
    assert abs(offsets["offset_s"]) <= offsets["uncertainty_s"] <= 1.5
    # no wrong link; the images the clock cannot place are ambiguous, every other one is linked
    ambiguous = set(result.unlinked.filter(pl.col("reason") == "ambiguous")["sop_instance_uid"])
    assert set(result.unlinked.get_column("reason")) == {"ambiguous"}
    assert _pairs(result.links) == {p for p in _pairs(case.truth) if p[1] not in ambiguous}
    # with fingerprints the same images are all linked, the ambiguous ones by their DAP (or angles)
    case, result = _link(reports, [name], "fingerprints", constant(0.0))
    assert _pairs(result.links) == _pairs(case.truth)
    by = result.links.filter(pl.col("sop_instance_uid").is_in(list(ambiguous)))
    assert set(by.get_column("decided_by")) == {"fingerprint", "geometry"}


def test_room_where_nothing_can_be_verified(reports: dict[str, pl.DataFrame]) -> None:
    # Philips Allura: three events; times only, 45 s off: no offset, not even 0 s, is verified
    case, result = _link(reports, ["RF-RDSR-Philips_Allura.dcm"], "times only", constant(45.0))
    assert result.links.is_empty()
    assert result.clock_offsets.get_column("source").to_list() == ["unresolved"]
    assert set(result.unlinked.select("sop_instance_uid", "reason").iter_rows()) == {
        (sop, "clock_unresolved") for sop in case.truth.get_column("sop_instance_uid")
    }


def test_one_hour_offset_found_by_fingerprints(reports: dict[str, pl.DataFrame]) -> None:
    # Azurion after a daylight-saving change: far beyond any time pattern; DAP and kVp find it
    name = "RF-RDSR-Philips_Azurion.dcm"
    case, result = _link(reports, [name], "acquisitions + 1/3 fluoro", constant(3600.0))
    assert _pairs(result.links) == _pairs(case.truth)
    offsets = result.clock_offsets.row(0, named=True)
    assert offsets["source"] == "fingerprint_day"
    assert abs(offsets["offset_s"] - 3600.0) <= offsets["uncertainty_s"] <= 1.5
    assert set(result.links.get_column("clock_offset_source")) == {"fingerprint_day"}
    # the same images without fingerprints: the hour is not searched, nothing is guessed
    case, result = _link(reports, [name], "times only", constant(3600.0))
    assert result.links.is_empty()
    assert set(result.unlinked.get_column("reason")) == {"clock_unresolved"}


def test_drifting_clock_gets_an_offset_per_day(reports: dict[str, pl.DataFrame]) -> None:
    # the Zee room on three days, its image clock 10 s, 40 s, 70 s ahead: one offset per day
    zee = reports["RF-RDSR-Siemens-Zee.dcm"]
    days = [shifted_report(zee, d, f".{d}") for d in range(3)]
    first = zee.get_column("datetime_started").min()
    assert isinstance(first, datetime)

    def drift(t: datetime) -> float:
        return 10.0 + 30.0 * (t.date() - first.date()).days

    case = build_case(days, "times only", drift)
    result = link_images(case.images, case.events, frame_from_rows("event_image_refs", []))
    assert _pairs(result.links) == _pairs(case.truth)
    assert result.clock_offsets.select("source", "offset_s").rows() == [
        ("time_pattern_day", 10.0),
        ("time_pattern_day", 40.0),
        ("time_pattern_day", 70.0),
    ]


def test_canon_windows_from_pulses_not_from_a_flagged_duration(
    reports: dict[str, pl.DataFrame],
) -> None:
    # Canon Alphenix: 48 fluoroscopy events send ~13 s of Irradiation Duration per pulse (6,718 s
    # in a 24-minute study whose Total Fluoro Time is 70 s) and the rotational run 366 s against a
    # device total of 10 s; all 49 are flagged, so each window is pulses / pulse rate (the
    # rotational run, without pulses: its start), and the images lie where the beam was on
    name = "RF-RDSR-Canon-Alphenix-rotational.dcm"
    case, result = _link(reports, [name], "times only", constant(45.0))
    events = case.events.with_columns(
        lasts_s=pl.col("number_of_pulses").fill_null(0.0)
        / pl.col("pulse_rate_per_s").fill_null(1.0)
    )
    assert events.height == 49 and events.get_column("plausibility").is_not_null().all()
    placed = case.truth.join(case.images, on="sop_instance_uid").join(
        events, on="irradiation_event_uid"
    )
    late = (pl.col("acquisition_datetime") - pl.col("datetime_started")).dt.total_seconds()
    assert placed.filter((late - 45 < 0) | (late - 45 > pl.col("lasts_s"))).is_empty()
    assert _pairs(result.links) == _pairs(case.truth)
    offsets = result.clock_offsets.row(0, named=True)
    assert offsets["source"] == "time_pattern_room"
    assert abs(offsets["offset_s"] - 45.0) <= offsets["uncertainty_s"] <= 1.5


@pytest.mark.parametrize(
    ("variant", "offset"),
    [("times only", constant(120.0)), ("fingerprints", drifting(3600.0, 40.0))],
)
def test_every_real_room_linked_alone_links_as_one_run(
    reports: dict[str, pl.DataFrame], variant: str, offset: Offset
) -> None:
    """Linking in groups of rooms (``GROUP_IMAGES`` at a million images) on real timing: each of
    the real reports' rooms its own group gives the links, reasons and clock offsets of one run."""
    case = build_case(list(reports.values()), variant, offset)
    refs = frame_from_rows("event_image_refs", [])
    assert case.images.get_column("room_id").n_unique() >= 10
    whole = link_images(case.images, case.events, refs, group_images=10**9)
    grouped = link_images(case.images, case.events, refs, group_images=1)
    assert whole.links.height > 0 and whole.clock_offsets.height >= 10
    for frame in ("links", "unlinked", "clock_offsets", "conflict_images"):
        assert_frame_equal(getattr(grouped, frame), getattr(whole, frame))
    assert grouped.counts == whole.counts
