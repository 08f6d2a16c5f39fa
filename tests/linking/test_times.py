"""The range join of linking: the bucketed equi-join finds exactly the pairs of the definition."""

import polars as pl
import pytest

from xrf_assets.core.linking.times import window_pairs

# One study in one room, one in another room; times in seconds of local time.
IMAGES = pl.DataFrame(
    {
        "sop_instance_uid": ["i1", "i2", "i3", "i4", "i5", "i6"],
        "study_instance_uid": ["s1", "s1", "s1", "s1", "s1", "s2"],
        "room_id": ["r1", "r1", "r1", "r1", "r1", "r2"],
        "img_t_s": [1_000.0, 1_059.9, 4_600.0, 11_800.5, None, 1_000.0],
    }
)
EVENTS = pl.DataFrame(
    {
        "irradiation_event_uid": ["e1", "e2", "e3"],
        "ev_study": ["s1", "s1", "s2"],
        "ev_room": ["r1", "r1", "r1"],  # e3: the study of i6 in another room: never a pair
        "ev_t_s": [1_000.0, 4_500.0, 1_000.0],
        "dur_s": [60.0, 30.0, 10.0],
    }
)


def _definition(widen_s: float) -> set[tuple[str, str]]:
    """Every same-study, same-room pair with img - ev in [-widen, dur + widen]: a cross product."""
    pairs = IMAGES.join(EVENTS, how="cross").filter(
        (pl.col("study_instance_uid") == pl.col("ev_study"))
        & (pl.col("room_id") == pl.col("ev_room"))
        & (pl.col("img_t_s") - pl.col("ev_t_s") >= -widen_s)
        & (pl.col("img_t_s") - pl.col("ev_t_s") <= pl.col("dur_s") + widen_s)
    )
    return set(pairs.select("sop_instance_uid", "irradiation_event_uid").iter_rows())


def _found(widen_s: float) -> pl.DataFrame:
    return window_pairs(IMAGES, EVENTS, "img_t_s", widen_s)


@pytest.mark.parametrize("widen_s", [0.0, 2.0, 301.0, 3_600.0, 10_801.0])
def test_pairs_are_those_of_the_definition_at_every_widening(widen_s: float) -> None:
    found = _found(widen_s)
    assert set(found.select("sop_instance_uid", "irradiation_event_uid").iter_rows()) == (
        _definition(widen_s)
    )
    assert found.select("sop_instance_uid", "irradiation_event_uid").is_duplicated().sum() == 0


def test_known_pairs() -> None:
    pair = ["sop_instance_uid", "irradiation_event_uid"]
    assert sorted(_found(2.0).select(pair).iter_rows()) == [("i1", "e1"), ("i2", "e1")]
    # three hours (the fingerprint search): i4 is 10,800.5 s after e1's start plus its 60 s run
    wide = sorted(_found(10_801.0).select(pair).iter_rows())
    assert wide == [
        ("i1", "e1"),
        ("i1", "e2"),
        ("i2", "e1"),
        ("i2", "e2"),
        ("i3", "e1"),
        ("i3", "e2"),
        ("i4", "e1"),
        ("i4", "e2"),
    ]
