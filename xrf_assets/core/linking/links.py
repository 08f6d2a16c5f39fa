"""Which irradiation event produced which image (issue #5), and how that is known.

Methods, most trusted first (``shared/docs/dicom-dose-reference.md`` section 4):

1. ``image_event_uid``: the image's Irradiation Event UID (0008,3010) names the event (TID 10003,
   113769). An image naming two events (biplane) links to both. Only events present in the
   events table count; an image naming an unknown event is counted, not linked by that name.
2. ``report_reference``: the event's Acquired Image (113795) items name the image's SOP Instance
   UID. Where the image's own (0008,3010) names a known event and the report disagrees, the image
   keeps its method 1 links and the disagreement is counted as a conflict.
3. ``time_window``: images left over are compared with the events of the same study and room and,
   where known, the same plane. The plane of an image is known when its series' siblings are
   already linked (methods 1 and 2) to events of one biplane plane only; otherwise every plane is a
   candidate and simultaneous biplane events end as ``ambiguous``. The clock-corrected image time
   must fall inside [start, start + duration] widened by the tolerance; where two windows fit and
   the better is not better by the ambiguity margin, the image is ``ambiguous``, not linked.

Fluoroscopy events are candidates like any other: they usually store no image, but a last-image-
hold image is real and belongs to them. Excluding them would hand such an image to a neighbouring
acquisition whose widened window touches it: a wrong link. Kept, the fluoroscopy window competes
and the ambiguity rule decides. They vote in the clock estimates too (real rooms are mostly
fluoroscopy).

Clock offsets are estimated per room (and per day) by ``clock.py`` from UID pairs, fingerprints
and the time pattern, and applied before the window; an offset (0 s included) is used only where
it passes the test of ``clock.pattern_offsets``; elsewhere images are left ``clock_unresolved``.
Times are compared as ``times.py`` describes (UTC only when both sides give an offset; local times
otherwise, counted in the metadata where only one side does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl

from xrf_assets.core.linking import clock
from xrf_assets.core.linking.times import (
    ANGLES,
    LINK_COLUMNS,
    fingerprint,
    prepare_events,
    prepare_images,
    utc_spread_s,
    window_pairs,
    with_pair_times,
)
from xrf_assets.core.linking.window import classify_leftovers
from xrf_assets.core.store import TableStore, validate

METHODS = ("image_event_uid", "report_reference", "time_window")
REASONS = (
    "no_dose_report",
    "no_candidate_event",
    "no_time",
    "clock_unresolved",
    "ambiguous",
    "outside_window",
)
_PAIR = ["irradiation_event_uid", "sop_instance_uid"]
_Source = tuple[str, pl.DataFrame, list[str]]  # name, offsets, their keys (clock.resolve_offsets)
# Images per group of rooms linked at once: memory follows a group, not the archive. At 1M images
# and 1.5M events 50k peaks at 1.52 GB, 100k at 1.65 GB, for about 1 cpu s less.
GROUP_IMAGES = 50_000
# The columns of the pairs ``clock.pattern_offsets`` searches; those the window join and the pair
# times read (``_window_pairs``), and those the fingerprint reads (``times.fingerprint``).
_SEARCHED = ["room_id", "day", "sop_instance_uid", "diff_s", "dur_s"]
_WINDOW_IMG = ["room_id", "day", "sop_instance_uid", "study_instance_uid", "img_t_s", "img_utc_off"]
_WINDOW_EV = ["ev_study", "ev_room", "ev_t_s", "ev_utc_off", "dur_s"]
_FINGERPRINT_IMG = ["img_dap", "img_kvp", "img_frames", "img_run_s", *(f"img_{a}" for a in ANGLES)]
_FINGERPRINT_EV = ["ev_dap", "ev_kvp", "ev_pulses", "ev_run_s", *(f"ev_{a}" for a in ANGLES)]
# Images per slice of a group's fingerprint pairs (``_fingerprint_pairs``).
SEARCH_IMAGES = 25_000


@dataclass(frozen=True)
class LinkSettings:
    """Knobs of the linker; the defaults never assume a clock offset that no evidence verifies.

    tolerance_s: the event window is widened by this much on each side. 2 s covers TM values
        truncated to whole seconds on either side plus the rest of the clock estimate's error; a
        room whose offset is unknown misses its images (``outside_window``) rather than linking
        them to a neighbour.
    ambiguity_margin_s: the best window must beat the second by this many seconds (distance of the
        corrected image time to each window) to be linked. 1 s is the timing error of a whole-
        second TM: two windows closer than that cannot be told apart.
    tm_rounding_s: where the margin does not separate the windows, the whole-second TM is
        modelled exactly instead (a time without a fraction stands for [t, t + 1 s), on the image
        and on the event start): the image is linked when one fitting window can have held it
        (within the offset's uncertainty) and every other is farther than the uncertainty plus
        this. 0.5 s covers a device that rounds TM to the nearest second instead of truncating.
    min_pairs_for_offset: an offset is taken only where at least this many images agree on it, so a
        single wrong pair cannot set a room's clock.
    per_day_offsets: estimate per (room, day) first, as device clocks drift and are reset.
    offset_slack_s: each pair's image time may sit this far outside its event window when the
        offset is estimated (whole-second TM truncation).
    max_clock_offset_s: the time-pattern estimate searches offsets within +-this; real devices
        drift by seconds to minutes.
    max_fingerprint_offset_s: the fingerprint estimate searches within +-this: 3 h covers a
        daylight-saving hour plus drift (fingerprints single pairs out at any distance).
    estimate_from_time_pattern: for rooms with no pair known by UID, estimate the offset from the
        alignment of image times with event windows (see ``clock.pattern_offsets``).
    pattern_peak_ratio, pattern_guard_s, pattern_max_uncertainty_s, pattern_min_image_fraction,
        min_offset_confidence: the test a searched offset must pass (``clock.pattern_offsets``):
        no offset more than a window length + 3 s outside the top plateau scores 80 % of the best
        (two peaks a rhythm of events apart are refused), the plateau is at most 30 s either side
        (its half-width widens tolerance and margin, so the windows it blurs stay ambiguous), half
        the images fit a window at the offset, and chance alone would do as well with
        probability below 1e-4 (confidence >= 4).
    min_fingerprint_pairs: fingerprints single pairs out, so fewer images suffice (the chance
        test still applies).
    assume_clock_offset_s: a site's own declaration that a room's clocks differ by this (e.g. 0 s
        for clocks kept by NTP), used where no evidence sets an offset (source ``assumed``);
        None (the default): nothing is assumed, such images are ``clock_unresolved``.
    angle_tolerance_deg: where the clock cannot separate two windows, positioner angles that
        agree within this (header and SR both send tenths of a degree) single out the event;
        the two planes of a biplane system differ by tens of degrees.
    """

    tolerance_s: float = 2.0
    ambiguity_margin_s: float = 1.0
    tm_rounding_s: float = 0.5
    min_pairs_for_offset: int = 5
    per_day_offsets: bool = True
    offset_slack_s: float = 1.0
    max_clock_offset_s: float = 300.0
    max_fingerprint_offset_s: float = 10800.0
    estimate_from_time_pattern: bool = True
    pattern_peak_ratio: float = 0.8
    pattern_max_uncertainty_s: float = 30.0
    pattern_guard_s: float = 3.0
    min_fingerprint_pairs: int = 3
    assume_clock_offset_s: float | None = None
    pattern_min_image_fraction: float = 0.5
    min_offset_confidence: float = 4.0
    angle_tolerance_deg: float = 1.0


@dataclass(frozen=True)
class LinkResult:
    """``links`` and ``unlinked`` are contract frames; ``clock_offsets`` has one row per (room_id,
    day) with images: source, pairs, supporting_images, offset_s, uncertainty_s, confidence."""

    links: pl.DataFrame
    unlinked: pl.DataFrame
    clock_offsets: pl.DataFrame
    conflicts: int
    conflict_images: pl.DataFrame  # sop_instance_uid, image_event_uids, report_event_uids
    counts: dict[str, int] = field(default_factory=dict)


def _uid_links(
    images: pl.DataFrame, events: pl.DataFrame, refs: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Methods 1 and 2: the links, the conflicting images, and counts of unusable names."""
    known = events.select("irradiation_event_uid")
    named = (
        images.select("sop_instance_uid", irradiation_event_uid="irradiation_event_uids")
        .explode("irradiation_event_uid", empty_as_null=False)
        .unique()
    )
    by_image = named.join(known, on="irradiation_event_uid").with_columns(
        link_method=pl.lit("image_event_uid")
    )
    unknown_named = named.join(known, on="irradiation_event_uid", how="anti")
    referenced = (
        refs.filter(pl.col("referenced_sop_instance_uid").is_not_null())
        .select("irradiation_event_uid", sop_instance_uid="referenced_sop_instance_uid")
        .unique()
    )
    of_known = referenced.join(known, on="irradiation_event_uid")
    usable = of_known.join(images.select("sop_instance_uid"), on="sop_instance_uid")
    by_report = usable.with_columns(link_method=pl.lit("report_reference"))
    disagree = by_report.join(by_image, on=_PAIR, how="anti").join(
        by_image.select("sop_instance_uid").unique(), on="sop_instance_uid"
    )
    conflict_images = (
        disagree.select("sop_instance_uid")
        .unique()
        .join(
            by_image.group_by("sop_instance_uid").agg(
                image_event_uids=pl.col("irradiation_event_uid").sort()
            ),
            on="sop_instance_uid",
        )
        .join(
            by_report.group_by("sop_instance_uid").agg(
                report_event_uids=pl.col("irradiation_event_uid").sort()
            ),
            on="sop_instance_uid",
        )
        .sort("sop_instance_uid")
    )
    links = pl.concat(
        [
            by_image.select(*_PAIR, "link_method"),
            by_report.join(by_image, on="sop_instance_uid", how="anti").select(
                *_PAIR, "link_method"
            ),
        ]
    )
    counts = {
        "images_naming_unknown_events": unknown_named.get_column("sop_instance_uid").n_unique(),
        "references_to_unknown_events": referenced.join(
            known, on="irradiation_event_uid", how="anti"
        ).height,
        "references_without_image": of_known.join(
            images.select("sop_instance_uid"), on="sop_instance_uid", how="anti"
        ).height,
    }
    return links, conflict_images, counts


def _series_planes(uid_links: pl.DataFrame, img: pl.DataFrame, ev: pl.DataFrame) -> pl.DataFrame:
    """series_instance_uid -> plane, where the series' linked images name events of one biplane
    plane only (113764 Plane A or Plane B)."""
    return (
        uid_links.join(img.select("sop_instance_uid", "series_instance_uid"), on="sop_instance_uid")
        .join(ev.select("irradiation_event_uid", "plane"), on="irradiation_event_uid")
        .filter(
            pl.col("series_instance_uid").is_not_null(),
            pl.col("plane").is_in(["plane_a", "plane_b"]),
        )
        .group_by("series_instance_uid")
        .agg(pl.col("plane").unique())
        .filter(pl.col("plane").list.len() == 1)
        .select("series_instance_uid", img_plane=pl.col("plane").list.first())
    )


def _uid_sources(
    uid_links: pl.DataFrame, img: pl.DataFrame, ev: pl.DataFrame, s: LinkSettings
) -> list[_Source]:
    """The offsets the UID pairs give, per day then per room (see :func:`_offsets`), for the whole
    run before any group is built: from the pairs' times alone, and a group of rooms (``img``'s
    ``group``) at a time, as sorting every pair at once cost more."""
    times = ["sop_instance_uid", "room_id", "day", "img_t_s", "img_utc_off", "group"]
    pairs = with_pair_times(
        uid_links.select(_PAIR)
        .join(img.select(times), on="sop_instance_uid")
        .join(
            ev.select("irradiation_event_uid", "ev_t_s", "ev_utc_off", "dur_s"),
            on="irradiation_event_uid",
        )
    )
    parts = pairs.partition_by("group") or [pairs]
    room, day = ["room_id"], ["room_id", "day"]
    uid_scopes = [("day", day), ("room", room)] if s.per_day_offsets else [("room", room)]
    return [
        (
            f"uid_pairs_{scope}",
            pl.concat(
                clock.uid_offsets(p, keys, s.offset_slack_s, s.min_pairs_for_offset) for p in parts
            ),
            keys,
        )
        for scope, keys in uid_scopes
    ]


def _need(leftover: pl.DataFrame, uid_sources: list[_Source]) -> pl.DataFrame:
    """Leftover images of the rooms no UID pair gives an offset: those the searches are for."""
    return leftover.join(uid_sources[-1][1].select("room_id"), on="room_id", how="anti")


def _offsets(
    uid_sources: list[_Source],
    need: pl.DataFrame,
    img: pl.DataFrame,
    ev: pl.DataFrame,
    s: LinkSettings,
    searching: bool,
    spread_s: float,
) -> pl.DataFrame:
    """Resolved clock offset per (room_id, day) of every image with a room and a time.

    ``searching``: whether any image of the run needs a search (``_need``; ``need`` is this group's
    rooms'), ``spread_s``: the UTC spread of those images against every event (it widens the
    reach): both are the whole run's, so a group's offsets are those of a run over every group.
    ``uid_sources`` are the whole run's too; only this group's rooms meet them.

    Trust order: UID pairs of the day, then of the room (clocks drift: a day's own pairs first);
    then fingerprints of the day, then of the room (pairs whose DAP or three other shared values
    agree, searched within ``max_fingerprint_offset_s``: an hour after a daylight-saving change is
    found); then the time pattern of the room, then of the day (a room's pattern pools all its
    days and is far less likely to lock onto a chance alignment than one day's few images; a day's
    own pattern serves where the room's peak is blurred, e.g. by a clock reset). Each searched
    offset must pass ``clock.pattern_offsets``' test; a (room, day) none passes is
    ``unresolved``.
    """
    room, day = ["room_id"], ["room_id", "day"]
    uid_scopes = [("day", day), ("room", room)] if s.per_day_offsets else [("room", room)]
    sources = list(uid_sources)
    if not searching:
        return clock.resolve_offsets(img.drop_nulls(["room_id", "day"]), sources)

    def search(
        pairs: pl.DataFrame, keys: list[str], max_offset_s: float, min_pairs: int
    ) -> pl.DataFrame:
        found = clock.pattern_offsets(
            pairs,
            keys,
            slack_s=s.offset_slack_s,
            max_offset_s=max_offset_s,
            min_pairs=min_pairs,
            guard_s=s.pattern_guard_s,
            peak_ratio=s.pattern_peak_ratio,
            max_uncertainty_s=s.pattern_max_uncertainty_s,
            min_image_fraction=s.pattern_min_image_fraction,
            min_confidence=s.min_offset_confidence,
        )
        return found.filter("accepted")

    widen = s.max_fingerprint_offset_s + s.offset_slack_s + spread_s
    matched = _fingerprint_pairs(need, ev, widen, s.angle_tolerance_deg)
    for scope, keys in uid_scopes:
        sources.append(
            (f"fingerprint_{scope}", search(matched, keys, widen, s.min_fingerprint_pairs), keys)
        )
    if s.estimate_from_time_pattern:
        # Every event votes: last-image-hold and fluoroscopy stores are real images. Where that
        # fails the test, the acquisitions alone may pass it: fluoroscopy often precedes each run
        # by a similar lead, which gives "true offset + lead" a second peak when only runs store.
        runs = ev.filter(pl.col("event_type").ne_missing("fluoroscopy"))
        widen = s.max_clock_offset_s + s.offset_slack_s + spread_s
        tries = [_pattern_pairs(need, e, widen) for e in (ev, runs)]
        for scope, keys in reversed(uid_scopes):
            every, acquisitions = (
                search(p, keys, s.max_clock_offset_s, s.min_pairs_for_offset) for p in tries
            )
            found = pl.concat([every, acquisitions.join(every, on=keys, how="anti")])
            sources.append((f"time_pattern_{scope}", found, keys))
    if s.assume_clock_offset_s is not None:
        declared = img.select("room_id").drop_nulls().unique()
        sources.append(
            ("assumed", declared.with_columns(**_declared(s.assume_clock_offset_s)), room)
        )
    return clock.resolve_offsets(img.drop_nulls(["room_id", "day"]), sources)


def _window_pairs(
    need: pl.DataFrame,
    ev: pl.DataFrame,
    widen_s: float,
    img_columns: Sequence[str] = (),
    ev_columns: Sequence[str] = (),
) -> pl.DataFrame:
    """``window_pairs`` with pair times, joined from only the columns the window reads and those
    given: the time-pattern pairs of a group's 100k searched images took 280 MB with every
    column, 110 MB with these."""
    img = need.select(*_WINDOW_IMG, *img_columns)
    return with_pair_times(
        window_pairs(img, ev.select(*_WINDOW_EV, *ev_columns), "img_t_s", widen_s)
    )


def _pattern_pairs(need: pl.DataFrame, ev: pl.DataFrame, widen_s: float) -> pl.DataFrame:
    """The pairs a time-pattern search reads (``clock.pattern_offsets``)."""
    return _window_pairs(need, ev, widen_s).select(_SEARCHED)


def _fingerprint_pairs(
    need: pl.DataFrame, ev: pl.DataFrame, widen_s: float, angle_tolerance_deg: float
) -> pl.DataFrame:
    """The pairs a fingerprint search reads: those whose fingerprints match strongly, built
    ``SEARCH_IMAGES`` images at a time (the pairs of 100k images with every event of their study
    within three hours took 490 MB at once with every column, 235 MB so)."""
    return pl.concat(
        _window_pairs(
            need.slice(start, SEARCH_IMAGES), ev, widen_s, _FINGERPRINT_IMG, _FINGERPRINT_EV
        )
        .with_columns(**fingerprint(angle_tolerance_deg))
        .filter("fp_strong")
        .select(_SEARCHED)
        for start in range(0, max(need.height, 1), SEARCH_IMAGES)
    )


def _declared(offset_s: float) -> dict[str, pl.Expr]:
    return {
        "pairs": pl.lit(0, pl.Int64),
        "supporting_images": pl.lit(0, pl.Int64),
        "offset_s": pl.lit(offset_s, pl.Float64),
        "uncertainty_s": pl.lit(0.0),
        "confidence": pl.lit(None, pl.Float64),
    }


def link_inputs(store: TableStore) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """Scans of images, irradiation_events and event_image_refs with only the columns the linker
    reads: at 1M images and 1.4M events the rest would be most of its memory. ``link_images``
    loads from them what it prepares, so the tables as read are not held through the run."""
    images, events, refs = (
        store.scan(t).select(LINK_COLUMNS[t])
        for t in ("images", "irradiation_events", "event_image_refs")
    )
    return images, events, refs


@dataclass(frozen=True)
class _Group:
    """The images of some rooms, and every event they can meet: of those rooms, of their studies
    (whether a study has a dose report at all) and named by their UID links."""

    img: pl.DataFrame
    ev: pl.DataFrame
    uid_links: pl.DataFrame

    def uid_pairs(self) -> pl.DataFrame:
        pairs = self.uid_links.join(self.img, on="sop_instance_uid")
        return with_pair_times(pairs.join(self.ev, on="irradiation_event_uid"))

    def leftover(self) -> pl.DataFrame:
        return self.img.join(self.uid_links, on="sop_instance_uid", how="anti")


def _group_numbers(img: pl.DataFrame, group_images: int) -> pl.Series:
    """The group of each image: rooms in groups of about ``group_images`` images (images without a
    room: group -1). A link, a clock offset and an unlinked reason never cross a room, so each
    group links alone."""
    before = pl.col("room_id").rank("min") - 1  # images in the rooms sorted before this one's
    return img.select(group=(before // group_images).fill_null(-1)).to_series()


def _groups(img: pl.DataFrame, ev: pl.DataFrame, uid_links: pl.DataFrame) -> Iterator[_Group]:
    """The groups of ``img`` (its ``group``), each built as it is reached, so that only the one
    being linked is held: the eleven groups of 1M images built at once held another copy of the
    images and of most events."""
    if not img.height:
        yield _Group(img.drop("group"), ev, uid_links)
        return
    numbered = uid_links.join(
        img.select("sop_instance_uid", "group"), on="sop_instance_uid", maintain_order="left"
    )
    for n in img.get_column("group").unique(maintain_order=True):
        part = img.filter(pl.col("group") == n).drop("group")
        links = numbered.filter(pl.col("group") == n).drop("group")
        met = (
            pl.col("ev_room").is_in(part.get_column("room_id").drop_nulls().unique().implode())
            | pl.col("ev_study").is_in(
                part.get_column("study_instance_uid").drop_nulls().unique().implode()
            )
            | pl.col("irradiation_event_uid").is_in(
                links.get_column("irradiation_event_uid").implode()
            )
        )
        yield _Group(part, ev.filter(met), links)


def _search_reach(
    img: pl.DataFrame, ev: pl.DataFrame, uid_links: pl.DataFrame, uid_sources: list[_Source]
) -> tuple[bool, float]:
    """Whether any image of the run needs a clock search (``_need``), and the UTC spread of those
    images against every event: what ``_offsets`` needs of the whole run."""
    leftover = img.select("sop_instance_uid", "room_id", "img_utc_off").join(
        uid_links, on="sop_instance_uid", how="anti"
    )
    searched = _need(leftover, uid_sources)
    return searched.height > 0, utc_spread_s(searched, ev)


def link_images(
    images: pl.DataFrame | pl.LazyFrame,
    events: pl.DataFrame | pl.LazyFrame,
    refs: pl.DataFrame | pl.LazyFrame,
    settings: LinkSettings | None = None,
    group_images: int = GROUP_IMAGES,
) -> LinkResult:
    """Link `images` rows to `irradiation_events` rows, using `event_image_refs` (113795).

    Returns `event_image_links` and `unlinked_images` contract frames (validated), the clock
    offsets used and the counts the asset shows. The UID links and the offsets they give are
    found over the whole run; the other clock offsets and the time windows per group of rooms
    (``group_images`` images), which gives the same frames with the memory of one group. The
    inputs may be scans (``link_inputs``): then only the prepared frames are held.
    """
    s = settings or LinkSettings()
    img = prepare_images(images, "irradiation_event_uids")
    ev = prepare_events(events)
    uid_links, conflict_images, counts = _uid_links(img, ev, refs.lazy().collect())
    img = img.drop("irradiation_event_uids")
    img = img.with_columns(_group_numbers(img, group_images))
    planes = _series_planes(uid_links, img, ev)
    uid_sources = _uid_sources(uid_links, img, ev, s)
    searching, spread_s = _search_reach(img, ev, uid_links, uid_sources)

    links, unlinked, offsets, mixed = [], [], [], 0
    for group in _groups(img, ev, uid_links):
        leftover = group.leftover()
        needed = _need(leftover, uid_sources)
        found = _offsets(uid_sources, needed, group.img, group.ev, s, searching, spread_s)
        leftover = leftover.join(planes, on="series_instance_uid", how="left")
        window_links, not_linked = classify_leftovers(leftover, group.ev, found, s)
        uid_rows = (
            group.uid_pairs()
            .join(
                found.select("room_id", "day", "source", "offset_s", "confidence"),
                on=["room_id", "day"],
                how="left",
            )
            .with_columns(
                clock_offset_s=pl.col("offset_s").fill_null(0.0),
                # a UID link needs no clock: where none is verified, 0 s is applied to time_offset_s
                source=pl.col("source").replace("unresolved", None).fill_null("none"),
                decided_by=pl.lit(None, pl.String),
            )
        )
        links += [_link_rows(uid_rows), _link_rows(window_links)]
        unlinked.append(not_linked)
        offsets.append(found)
        mixed += int(uid_rows.get_column("mixed_utc").sum())
        mixed += int(window_links.get_column("mixed_utc").sum())
    links_frame = pl.concat(links).sort(_PAIR[::-1])
    counts["links_compared_local_mixed_utc"] = mixed
    counts["images"] = img.height
    counts["images_linked"] = links_frame.get_column("sop_instance_uid").n_unique()
    return LinkResult(
        links=validate("event_image_links", links_frame),
        unlinked=validate("unlinked_images", pl.concat(unlinked).sort("sop_instance_uid")),
        clock_offsets=pl.concat(offsets).sort("room_id", "day"),
        conflicts=conflict_images.height,
        conflict_images=conflict_images,
        counts={k: int(v) for k, v in counts.items()},
    )


def _link_rows(pairs: pl.DataFrame) -> pl.DataFrame:
    """`event_image_links` columns from pairs carrying diff_s, clock_offset_s, source and
    decided_by; the clock fields stay null where a side has no time (nothing was compared)."""
    timed = pl.col("diff_s").is_not_null()
    return pairs.select(
        *_PAIR,
        "link_method",
        time_offset_s=pl.col("diff_s") - pl.col("clock_offset_s"),
        clock_offset_s=pl.when(timed).then(pl.col("clock_offset_s")),
        clock_offset_source=pl.when(timed).then(pl.col("source")),
        clock_offset_confidence=pl.when(timed).then(pl.col("confidence")),
        utc_compared=pl.when(timed).then(pl.col("utc_compared")),
        decided_by="decided_by",
    )
