"""Linking in groups of rooms gives the links, unlinked reasons and clock offsets of one run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from xrf_assets.core.ingest.publish import UID_COLUMNS
from xrf_assets.core.linking import links
from xrf_assets.core.linking.links import LinkResult, LinkSettings, link_images, link_inputs
from xrf_assets.core.store import TableStore
from xrf_assets.synth import GroundTruth


def _tables(truth: GroundTruth) -> dict[str, pl.DataFrame]:
    """The generator's tables with two of its three rooms' images stripped of event UIDs and
    report references (linked by time window, their clocks estimated from fingerprints), one of
    them 37 s fast, and one study's report gone (its images: ``no_dose_report``)."""
    images, refs = truth.images, truth.event_image_refs
    rooms = images.group_by("room_id").len().sort("len").get_column("room_id")
    blind = pl.col("room_id").is_in(rooms.head(2).implode())
    blind_images = images.filter(blind).get_column("sop_instance_uid")
    images = images.with_columns(
        irradiation_event_uids=pl.when(blind)
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise("irradiation_event_uids"),
        acquisition_datetime=pl.when(pl.col("room_id") == rooms[0])
        .then(pl.col("acquisition_datetime") + pl.duration(seconds=37))
        .otherwise("acquisition_datetime"),
    )
    first = images.get_column("study_instance_uid").min()
    return {
        "images": images,
        "irradiation_events": truth.irradiation_events.filter(
            pl.col("study_instance_uid") != first
        ),
        "event_image_refs": refs.filter(
            ~pl.col("referenced_sop_instance_uid").is_in(blind_images.implode())
        ),
    }


def _tiled(tables: dict[str, pl.DataFrame], copies: int) -> dict[str, pl.DataFrame]:
    """``copies`` copies of the tables, each in rooms of its own (``#k``) and with UIDs ``.k``."""
    out = {}
    for table, df in tables.items():
        frames = []
        for k in range(copies):
            exprs = [pl.col(c) + f".{k}" for c in UID_COLUMNS[table]]
            if "room_id" in df.columns:
                exprs.append(pl.col("room_id") + f"#{k}")
            if table == "images":
                exprs.append(pl.col("irradiation_event_uids").list.eval(pl.element() + f".{k}"))
            frames.append(df.with_columns(exprs))
        out[table] = pl.concat(frames)
    return out


def _assert_same(grouped: LinkResult, whole: LinkResult) -> None:
    assert_frame_equal(grouped.links, whole.links)
    assert_frame_equal(grouped.unlinked, whole.unlinked)
    assert_frame_equal(grouped.clock_offsets, whole.clock_offsets)
    assert_frame_equal(grouped.conflict_images, whole.conflict_images)
    assert grouped.counts == whole.counts


@pytest.mark.parametrize("copies", [1, 3])
@pytest.mark.parametrize("settings", [LinkSettings(), LinkSettings(per_day_offsets=False)])
def test_a_room_at_a_time_links_as_one_run(
    synth_truth: GroundTruth, copies: int, settings: LinkSettings
) -> None:
    tables = _tiled(_tables(synth_truth), copies)
    whole = link_images(*tables.values(), settings, group_images=10**9)
    rooms = tables["images"].get_column("room_id").n_unique()
    assert rooms >= 3 * copies  # groups of one room each below
    grouped = link_images(*tables.values(), settings, group_images=1)
    methods = set(whole.links.get_column("link_method"))
    assert methods == {"image_event_uid", "time_window"}
    assert set(whole.links.get_column("decided_by").drop_nulls()) == {"time", "fingerprint"}
    assert set(whole.unlinked.get_column("reason")) == {"no_dose_report"}
    sources = set(whole.clock_offsets.get_column("source"))
    assert {src.split("_")[0] for src in sources} == {"uid", "fingerprint"}
    _assert_same(grouped, whole)


def test_images_without_a_room_and_events_of_another_room_stay_linked(
    synth_truth: GroundTruth,
) -> None:
    """A UID link may join an image and an event of different rooms, or an image without one."""
    tables = _tables(synth_truth)
    images = tables["images"]
    roomless = images.get_column("sop_instance_uid").head(len(images) // 4)
    tables["images"] = images.with_columns(
        room_id=pl.when(pl.col("sop_instance_uid").is_in(roomless)).then(None).otherwise("room_id")
    )
    whole = link_images(*tables.values(), group_images=10**9)
    grouped = link_images(*tables.values(), group_images=1)
    assert (
        whole.links.join(
            tables["images"].filter(pl.col("room_id").is_null()), on="sop_instance_uid"
        ).height
        > 0
    )
    _assert_same(grouped, whole)


def test_scans_and_fingerprint_slices_link_as_one_run(
    synth_truth: GroundTruth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inputs given as scans of the store (``link_inputs``: only the prepared frames are held) and
    the fingerprint pairs built a few images at a time give the frames of one run over whole
    frames."""
    tables = _tiled(_tables(synth_truth), 2)
    whole = link_images(*tables.values(), group_images=10**9)
    store = TableStore(tmp_path)
    for table, df in tables.items():
        store.write(table, df)
    monkeypatch.setattr(links, "SEARCH_IMAGES", 7)
    sliced = link_images(*link_inputs(store), group_images=1)
    sources = set(whole.clock_offsets.get_column("source"))
    assert {"fingerprint_day", "fingerprint_room"} & sources
    _assert_same(sliced, whole)
