"""Linking images to irradiation events: each method, ambiguity, clock offsets, biplane, reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pydicom
import pytest
from builders.corpus import CORPUS
from polars.testing import assert_frame_equal

from xrf_assets.assets.metadata import link_figures
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.linking.links import (
    LinkResult,
    LinkSettings,
    clock,
    link_images,
    link_inputs,
)
from xrf_assets.core.store import TableStore, frame_from_rows
from xrf_assets.synth import GroundTruth

T0 = datetime(2026, 9, 14, 10, 0, 0)


def _angles(angles: tuple[float, float] | None) -> dict[str, float]:
    """Positioner Primary / Secondary Angle: (0018,1510/1511) on images, 112011/112012 on events."""
    if angles is None:
        return {}
    return dict(
        zip(("positioner_primary_angle_deg", "positioner_secondary_angle_deg"), angles, strict=True)
    )


def img(
    sop: str,
    at_s: float | None,
    *,
    names: tuple[str, ...] = (),
    study: str | None = "S1",
    room: str = "R1",
    series: str = "SE1",
    utc: int | None = None,
    angles: tuple[float, float] | None = None,
) -> dict[str, Any]:
    return {
        **_angles(angles),
        "sop_instance_uid": sop,
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.12.1",
        "study_instance_uid": study,
        "series_instance_uid": series,
        "room_id": room,
        "acquisition_datetime": None if at_s is None else T0 + timedelta(seconds=at_s),
        "utc_offset_s": utc,
        "irradiation_event_uids": list(names),
        "source_path": f"{sop}.dcm",
    }


def ev(
    uid: str,
    at_s: float | None,
    dur_s: float | None,
    *,
    study: str = "S1",
    room: str = "R1",
    plane: str = "single_plane",
    kind: str = "stationary",
    utc: int | None = None,
    angles: tuple[float, float] | None = None,
) -> dict[str, Any]:
    return {
        **_angles(angles),
        "irradiation_event_uid": uid,
        "report_sop_instance_uid": f"REP-{study}",
        "study_instance_uid": study,
        "room_id": room,
        "acquisition_plane": plane,
        "event_type": kind,
        "datetime_started": None if at_s is None else T0 + timedelta(seconds=at_s),
        "utc_offset_s": utc,
        "irradiation_duration_s": dur_s,
        "source_path": f"REP-{study}.dcm",
    }


def ref(event_uid: str, sop: str | None) -> dict[str, Any]:
    return {
        "irradiation_event_uid": event_uid,
        "referenced_sop_instance_uid": sop,
        "referenced_sop_class_uid": "1.2.840.10008.5.1.4.1.1.12.1",
        "report_sop_instance_uid": "REP-S1",
    }


def link(
    images: list[dict[str, Any]],
    events: list[dict[str, Any]],
    refs: list[dict[str, Any]] | None = None,
    settings: LinkSettings | None = None,
) -> LinkResult:
    """Link the rows; by default with the site's declaration that the clocks agree (the window
    rules under test, on rooms too small for any offset to be verified)."""
    return link_images(
        frame_from_rows("images", images),
        frame_from_rows("irradiation_events", events),
        frame_from_rows("event_image_refs", refs or []),
        settings or ASSUMED,
    )


def links(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """(event, image, method, time_offset_s, clock_offset_s, source, utc_compared[, decided_by])
    rows, sorted; decided_by defaults to "time" for time_window links."""
    names = ["irradiation_event_uid", "sop_instance_uid", "link_method", "time_offset_s"]
    names += ["clock_offset_s", "clock_offset_source", "utc_compared", "decided_by"]
    full = [r if len(r) == 8 else (*r, "time" if r[2] == "time_window" else None) for r in rows]
    frame = frame_from_rows("event_image_links", [dict(zip(names, r, strict=True)) for r in full])
    return frame.sort("sop_instance_uid", "irradiation_event_uid")


def unlinked(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """(image, reason, candidate events, nearest_gap_s, clock_offset_s) rows, sorted."""
    names = [
        "sop_instance_uid",
        "reason",
        "candidate_event_uids",
        "nearest_gap_s",
        "clock_offset_s",
    ]
    frame = frame_from_rows("unlinked_images", [dict(zip(names, r, strict=True)) for r in rows])
    return frame.sort("sop_instance_uid")


NONE = (0.0, "assumed", False)  # declared clock offset 0 s, local times compared
ASSUMED = LinkSettings(assume_clock_offset_s=0.0)


def test_image_event_uid_links_only_known_events_and_biplane_to_both() -> None:
    result = link(
        [
            img("I1", 1.0, names=("E1",)),
            img("I2", 2.0, names=("EA", "EB")),  # biplane: one image names both planes' events
            img("I3", 500.0, names=("E-UNKNOWN",)),
        ],
        [
            ev("E1", 0.0, 5.0),
            ev("EA", 0.0, 4.0, plane="plane_a"),
            ev("EB", 0.0, 4.0, plane="plane_b"),
        ],
    )
    assert_frame_equal(
        result.links,
        links(
            ("E1", "I1", "image_event_uid", 1.0, *NONE),
            ("EA", "I2", "image_event_uid", 2.0, *NONE),
            ("EB", "I2", "image_event_uid", 2.0, *NONE),
        ),
    )
    # I3 names an event no report holds: not linked by that name; its time fits no window.
    assert result.unlinked.get_column("reason").to_list() == ["outside_window"]
    assert result.counts["images_naming_unknown_events"] == 1


def test_report_reference_links_and_skips_empty_or_unknown_references() -> None:
    result = link(
        [img("I1", 61.0), img("I2", 3.0)],
        [ev("E1", 0.0, 5.0), ev("E2", 60.0, 5.0)],
        [ref("E2", "I1"), ref("E1", None), ref("E-UNKNOWN", "I2")],
    )
    assert_frame_equal(
        result.links,
        links(
            ("E2", "I1", "report_reference", 1.0, *NONE),
            ("E1", "I2", "time_window", 3.0, *NONE),
        ),
    )
    assert result.counts["references_to_unknown_events"] == 1


def test_conflict_keeps_the_image_uid_link_and_is_counted() -> None:
    result = link(
        [img("I1", 1.0, names=("E1",)), img("I2", 62.0, names=("E2",))],
        [ev("E1", 0.0, 5.0), ev("E2", 60.0, 5.0)],
        [ref("E2", "I1"), ref("E2", "I2")],  # the report claims I1 for E2; I1 names E1
    )
    uid_only = (0.0, "none", False)  # every image linked by UID: no clock needed, none verified
    assert_frame_equal(
        result.links,
        links(
            ("E1", "I1", "image_event_uid", 1.0, *uid_only),
            ("E2", "I2", "image_event_uid", 2.0, *uid_only),
        ),
    )
    assert result.conflicts == 1
    assert result.conflict_images.to_dicts() == [
        {"sop_instance_uid": "I1", "image_event_uids": ["E1"], "report_event_uids": ["E2"]}
    ]
    assert link_figures(result)["conflicts"] == 1


def test_report_with_no_images_and_image_with_no_report() -> None:
    result = link(
        [img("I9", 10.0, study="S9")],
        [ev("E1", 0.0, 5.0), ev("E2", 60.0, 5.0)],
        [ref("E1", "I-MISSING-1"), ref("E2", "I-MISSING-2")],
    )
    assert result.links.is_empty()
    assert_frame_equal(result.unlinked, unlinked(("I9", "no_dose_report", [], None, None)))
    assert result.counts["references_without_image"] == 2


def test_unlinked_reasons() -> None:
    result = link(
        [
            img("I-ROOM", 1.0, room="R9"),  # study has events, but of another room
            img("I-NOSTUDY", 1.0, study=None),
            img("I-NOTIME", None),
            img("I-FAR", 200.0),
            img("I-OK", 2.0),
        ],
        [ev("E1", 0.0, 5.0), ev("E2", 100.0, 10.0)],
    )
    assert_frame_equal(result.links, links(("E1", "I-OK", "time_window", 2.0, *NONE)))
    assert_frame_equal(
        result.unlinked,
        unlinked(
            ("I-FAR", "outside_window", ["E2"], 90.0, 0.0),
            ("I-NOSTUDY", "no_dose_report", [], None, None),
            ("I-NOTIME", "no_time", [], None, None),
            ("I-ROOM", "no_candidate_event", [], None, None),
        ),
    )
    meta = link_figures(result)
    assert (meta["links_time_window"], meta["unlinked_outside_window"]) == (1, 1)
    assert (meta["unlinked_no_time"], meta["unlinked_ambiguous"]) == (1, 0)


def test_ambiguity_rule_back_to_back_and_overlapping_events() -> None:
    events = [
        ev("A", 0.0, 5.0),
        ev("B", 6.0, 5.0),  # back to back, 1 s after A
        ev("C", 100.0, 10.0),
        ev("D", 105.0, 10.0),  # overlaps C
        ev("F", 200.0, 30.0, kind="fluoroscopy"),
    ]
    result = link(
        [
            img("I-A", 2.0),  # inside A only
            img("I-AB", 5.5),  # 0.5 s from both A and B
            img("I-AB2", 5.8),  # 0.8 s from A, 0.2 s from B: not better by the 1 s margin
            img("I-B", 6.5),  # inside B, 1.5 s after A: better by more than the margin
            img("I-CD", 107.0),  # inside both C and D
            img("I-LIH", 231.0),  # last image hold 1 s after the fluoroscopy run
        ],
        events,
    )
    assert_frame_equal(
        result.links,
        links(
            ("A", "I-A", "time_window", 2.0, *NONE),
            ("B", "I-B", "time_window", 0.5, *NONE),
            ("F", "I-LIH", "time_window", 31.0, *NONE),
        ),
    )
    assert_frame_equal(
        result.unlinked,
        unlinked(
            ("I-AB", "ambiguous", ["A", "B"], 0.5, 0.0),
            ("I-AB2", "ambiguous", ["B", "A"], 0.2, 0.0),
            ("I-CD", "ambiguous", ["C", "D"], 0.0, 0.0),
        ),
    )


def test_whole_second_image_time_is_the_second_it_was_taken_in() -> None:
    # TM sent to the second is truncated: an image at 101 s was taken in [101, 102) s. Event A
    # ended at 100.2 s, so it cannot hold it, though the gaps (0.8 s, 0.3 s) differ by less than
    # the 1 s margin; C ended at 200.6 s, which a device rounding TM (200.5 s -> 201 s) could
    # still mean: within the 0.5 s rounding allowance, so that image stays ambiguous
    events = [ev("A", 99.4, 0.8), ev("B", 101.3, 2.0), ev("C", 199.8, 0.8), ev("D", 201.3, 2.0)]
    result = link([img("I-B", 101.0), img("I-CD", 201.0)], events)
    assert_frame_equal(result.links, links(("B", "I-B", "time_window", -0.3, *NONE)))
    assert_frame_equal(result.unlinked, unlinked(("I-CD", "ambiguous", ["D", "C"], 0.3, 0.0)))


def _offset_room(offset_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Six events whose images name them, at positions 0..5 s into 5 s runs, seen through an
    image clock ``offset_s`` ahead; plus a seventh event whose image names nothing."""
    events = [ev(f"E{k}", 60.0 * k, 5.0) for k in range(7)]
    images = [img(f"I{k}", 60.0 * k + k + offset_s, names=(f"E{k}",)) for k in range(6)]
    images.append(img("I6", 360.0 + 2.0 + offset_s))
    return images, events


def test_clock_offset_from_uid_pairs_is_applied_before_the_window() -> None:
    images, events = _offset_room(40.0)
    result = link(images, events)
    # intervals [k + 40 - 5 - 1, k + 40 + 1] for k = 0..5: deepest region [39, 41]
    expected = [
        (f"E{k}", f"I{k}", "image_event_uid", float(k), 40.0, "uid_pairs_day", False)
        for k in range(6)
    ]
    expected.append(("E6", "I6", "time_window", 2.0, 40.0, "uid_pairs_day", False))
    assert_frame_equal(result.links, links(*expected))
    assert result.clock_offsets.select(
        "source", "supporting_images", "offset_s", "uncertainty_s"
    ).to_dicts() == [
        {"source": "uid_pairs_day", "supporting_images": 6, "offset_s": 40.0, "uncertainty_s": 1.0}
    ]
    assert (
        "| R1 | uid_pairs_day | 1 | 40.0 | 40.0 .. 40.0 | 1.0 |"
        in link_figures(result)["clock_offsets"]
    )


def test_without_enough_pairs_no_offset_is_assumed() -> None:
    images, events = _offset_room(40.0)
    result = link(images, events, settings=LinkSettings(min_pairs_for_offset=7))
    assert result.clock_offsets.get_column("source").to_list() == ["unresolved"]
    # I6 is 42 s after E6 starts on the report clock; 0 s is not verified either: no guess
    assert result.unlinked.select("sop_instance_uid", "reason").rows() == [
        ("I6", "clock_unresolved")
    ]
    assert result.links.get_column("clock_offset_source").unique().to_list() == ["none"]


def test_offset_estimate_ignores_one_wrong_pair() -> None:
    pairs = pl.DataFrame(
        {
            "room_id": ["R1"] * 6,
            "sop_instance_uid": [f"I{k}" for k in range(6)],
            "diff_s": [30.0, 31.0, 32.0, 33.0, 34.0, 500.0],  # the last pair is wrong
            "dur_s": [5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
        }
    )
    got = clock.uid_offsets(pairs, ["room_id"], slack_s=1.0, min_pairs=5)
    # intervals [diff - 6, diff + 1] of the five right pairs overlap in [28, 31]
    assert got.to_dicts() == [
        {
            "room_id": "R1",
            "pairs": 6,
            "supporting_images": 5,
            "offset_s": 29.5,
            "uncertainty_s": 1.5,
            "confidence": None,
        }
    ]


# A room that writes neither (0008,3010) nor 113795: irregular gaps, fluoroscopy between runs.
_STARTS = [0.0, 47.0, 131.0, 158.0, 260.0, 301.0, 377.0, 452.0, 488.0, 590.0]


def _pattern_room(
    offset_s: float, starts: list[float], day: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events, images = [], []
    at = 86400.0 * day
    for k, start in enumerate(starts):
        events.append(ev(f"E{day}-{k}", at + start, 6.0, study=f"S{day}"))
        # fluoroscopy before each run, at varying lead times: a fixed lead would make "offset
        # minus the lead" fit as well as the true offset, and the estimate would (rightly) refuse
        lead = 12.0 + 3.0 * (k % 4)
        events.append(
            ev(f"F{day}-{k}", at + start - lead, 8.0, kind="fluoroscopy", study=f"S{day}")
        )
        images.append(img(f"I{day}-{k}", at + start + (k % 5) + offset_s, study=f"S{day}"))
    return images, events


def test_time_pattern_offset_for_a_room_without_uids() -> None:
    images, events = _pattern_room(45.0, _STARTS)
    result = link(images, events)
    offsets = result.clock_offsets.row(0, named=True)
    assert offsets["source"] == "time_pattern_room"
    # images 0..4 s into 6 s runs: intervals [45 + p - 7, 45 + p + 1] all overlap in [42, 46]
    assert (offsets["offset_s"], offsets["uncertainty_s"]) == (44.0, 2.0)
    assert offsets["supporting_images"] == len(_STARTS)
    assert sorted(result.links.select("irradiation_event_uid", "sop_instance_uid").rows()) == [
        (f"E0-{k}", f"I0-{k}") for k in range(len(_STARTS))
    ]
    assert result.unlinked.is_empty()


def test_time_pattern_per_day_after_a_clock_reset() -> None:
    day0 = _pattern_room(45.0, _STARTS, day=0)
    day1 = _pattern_room(-30.0, _STARTS, day=1)
    result = link(day0[0] + day1[0], day0[1] + day1[1])
    # the room's two peaks lie 75 s apart: refused; each day has its own
    assert result.clock_offsets.select("source", "offset_s").rows() == [
        ("time_pattern_day", 44.0),
        ("time_pattern_day", -31.0),
    ]
    assert result.links.height == 2 * len(_STARTS)
    assert result.links.filter(
        pl.col("irradiation_event_uid").str.slice(1) != pl.col("sop_instance_uid").str.slice(1)
    ).is_empty()


def test_settings_switch_off_day_offsets_and_the_time_pattern() -> None:
    images, events = _offset_room(40.0)
    by_room = link(images, events, settings=LinkSettings(per_day_offsets=False))
    assert by_room.links.get_column("clock_offset_source").unique().to_list() == ["uid_pairs_room"]
    images, events = _pattern_room(45.0, _STARTS)
    no_pattern = link(images, events, settings=LinkSettings(estimate_from_time_pattern=False))
    assert no_pattern.clock_offsets.get_column("source").to_list() == ["unresolved"]
    # compared at 0 s with a 2 s tolerance, two images would land in the next run's window;
    # with no verified offset nothing is compared
    assert no_pattern.links.is_empty()
    assert no_pattern.unlinked.get_column("reason").to_list() == ["clock_unresolved"] * 10


def test_a_regular_rhythm_is_placed_by_its_ends_and_no_image_is_guessed() -> None:
    events = [ev(f"E{k}", 6.0 * k, 5.0) for k in range(12)]  # back to back, 1 s apart
    for true_offset in (30.0, 0.0):
        images = [img(f"I{k}", 6.0 * k + 2.0 + true_offset) for k in range(12)]
        result = link(images, events, settings=LinkSettings())
        # only where all twelve fit does the first and the last run hold an image: the offset
        # is found, but +-3.5 s cannot tell windows 1 s apart: every image stays ambiguous
        offsets = result.clock_offsets.row(0, named=True)
        assert (offsets["source"], offsets["uncertainty_s"]) == ("time_pattern_room", 3.5)
        assert abs(offsets["offset_s"] - true_offset) <= 0.5
        assert result.links.is_empty()
        assert result.unlinked.get_column("reason").to_list() == ["ambiguous"] * 12


def test_biplane_plane_from_linked_siblings() -> None:
    events = [
        ev("A1", 0.0, 5.0, plane="plane_a"),
        ev("B1", 0.0, 5.0, plane="plane_b"),
        ev("A2", 60.0, 5.0, plane="plane_a"),
        ev("B2", 60.0, 5.0, plane="plane_b"),
    ]
    images = [
        img("IA1", 1.0, names=("A1",), series="SA"),
        img("IB1", 1.0, names=("B1",), series="SB"),
        img("IA2", 61.0, series="SA"),  # plane A known from its series sibling
        img("IX", 61.0, series="SX"),  # plane unknown: both planes' events fit
    ]
    result = link(images, events)
    assert_frame_equal(
        result.links,
        links(
            ("A1", "IA1", "image_event_uid", 1.0, *NONE),
            ("A2", "IA2", "time_window", 1.0, *NONE),
            ("B1", "IB1", "image_event_uid", 1.0, *NONE),
        ),
    )
    assert_frame_equal(result.unlinked, unlinked(("IX", "ambiguous", ["A2", "B2"], 0.0, 0.0)))


def test_positioner_angles_decide_between_windows_the_clock_cannot_separate() -> None:
    frontal, lateral = (0.0, 0.0), (90.0, 0.0)
    events = [
        ev("A", 0.0, 5.0, plane="plane_a", angles=frontal),
        ev("B", 0.0, 5.0, plane="plane_b", angles=lateral),
        ev("C", 60.0, 5.0, plane="plane_a", angles=frontal),
        ev("D", 60.0, 5.0, plane="plane_b", angles=frontal),  # both planes at the same angles
    ]
    images = [
        img("I-B", 1.0, series="S1", angles=(90.04, 0.0)),  # within 1 deg of B only
        img("I-CD", 61.0, series="S2", angles=frontal),  # agrees with both C and D
        img("I-NOANGLE", 1.0, series="S3"),
    ]
    result = link(images, events)
    assert_frame_equal(result.links, links(("B", "I-B", "time_window", 1.0, *NONE, "geometry")))
    assert_frame_equal(
        result.unlinked,
        unlinked(
            ("I-CD", "ambiguous", ["C", "D"], 0.0, 0.0),
            ("I-NOANGLE", "ambiguous", ["A", "B"], 0.0, 0.0),
        ),
    )


def test_utc_offsets_compared_only_when_both_sides_give_one() -> None:
    result = link(
        [
            img("I-UTC", 3600.0 + 2.0, utc=3600),  # 11:00:02+01:00 == 10:00:02Z
            img("I-MIXED", 62.0),  # no offset on the image: local times compared, counted
        ],
        [ev("E1", 0.0, 5.0, utc=0), ev("E2", 60.0, 5.0, utc=0)],
    )
    assert_frame_equal(
        result.links,
        links(
            ("E2", "I-MIXED", "time_window", 2.0, *NONE),
            ("E1", "I-UTC", "time_window", 2.0, 0.0, "assumed", True),
        ),
    )
    assert link_figures(result)["links_compared_local_mixed_utc"] == 1


def test_empty_inputs_give_empty_contract_frames() -> None:
    result = link([], [])
    assert result.links.is_empty() and result.unlinked.is_empty()
    assert link_figures(result)["links"] == 0


def test_metadata_is_plain_values() -> None:
    images, events = _offset_room(40.0)
    meta = link_figures(link(images, events))
    assert meta["links_image_event_uid"] == 6
    assert meta["links_time_window"] == 1
    assert meta["links_report_reference"] == 0
    assert meta["unlinked_images"] == 0
    assert all(isinstance(v, int | float | str) for v in meta.values())


def _report_extracts() -> list[tuple[str, Any]]:
    from xrf_assets.core.extract.dose_reports import extract_report

    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS} (../shared/corpus/openrem)")
    found = []
    for path in sorted(CORPUS.glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        try:
            report = extract_report(ds, path.name)
        except ExtractionError:
            continue
        if report.refs:
            found.append((path.name, report))
    return found


def test_real_reports_every_reference_links_by_report_reference() -> None:
    reports = _report_extracts()
    assert len(reports) == 10  # the reference page: 10 real reports carry 113795 items
    for name, report in reports:
        events = frame_from_rows("irradiation_events", report.events)
        refs = frame_from_rows("event_image_refs", report.refs)
        named = refs.drop_nulls("referenced_sop_instance_uid")
        # one image per referenced UID, in the study and room of (one of) its events, mid-window
        rows = (
            named.join(events, on="irradiation_event_uid")
            .group_by("referenced_sop_instance_uid")
            .agg(pl.all().first())
            .sort("referenced_sop_instance_uid")
        )
        images = frame_from_rows(
            "images",
            [
                {
                    "sop_instance_uid": r["referenced_sop_instance_uid"],
                    "sop_class_uid": r["referenced_sop_class_uid"]
                    or "1.2.840.10008.5.1.4.1.1.12.2",
                    "study_instance_uid": r["study_instance_uid"],
                    "room_id": r["room_id"],
                    "acquisition_datetime": r["datetime_started"]
                    + timedelta(seconds=(r["irradiation_duration_s"] or 0.0) / 2),
                    "irradiation_event_uids": [],
                    "source_path": "img.dcm",
                }
                for r in rows.iter_rows(named=True)
            ],
        )
        result = link_images(images, events, refs)
        expected = (
            named.select(
                "irradiation_event_uid",
                sop_instance_uid="referenced_sop_instance_uid",
                link_method=pl.lit("report_reference"),
            )
            .unique()
            .sort("sop_instance_uid", "irradiation_event_uid")
        )
        assert_frame_equal(result.links.select(expected.columns), expected)
        assert result.unlinked.is_empty(), name
        assert result.links.get_column("time_offset_s").is_not_null().all(), name


def test_links_from_the_columns_the_linker_reads_equal_links_from_whole_tables(
    synth_truth: GroundTruth, tmp_path: Path
) -> None:
    store = TableStore(tmp_path)
    tables = {
        "images": synth_truth.images,
        "irradiation_events": synth_truth.irradiation_events,
        "event_image_refs": synth_truth.event_image_refs,
    }
    for table, df in tables.items():
        store.write(table, df)
    narrow = link_inputs(store)
    assert narrow[0].collect_schema().len() < synth_truth.images.width / 3  # never loaded
    whole = link_images(*tables.values())
    projected = link_images(*narrow)
    assert whole.links.height > 0 and whole.counts["images_linked"] > 0
    assert_frame_equal(projected.links, whole.links)
    assert_frame_equal(projected.unlinked, whole.unlinked)
    assert_frame_equal(projected.clock_offsets, whole.clock_offsets)
    assert projected.counts == whole.counts
