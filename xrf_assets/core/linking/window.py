"""Method 3 of the linker: the time window, and the reason for every image left unlinked.

An image left over by the UID methods is compared with the events of its study (Scope of
Accumulation 110180, else the report's Study Instance UID) and room, of a compatible plane. Its
clock-corrected time must fall in [start, start + duration] widened by the tolerance (plus the
offset's uncertainty). Each fitting window scores the distance from the corrected time to it (0
inside); the best is linked only when it beats the second by the ambiguity margin (plus the
offset's uncertainty). Where the margin does not separate them, whole-second TM values are modelled
exactly (``_instant_gap``): the one window that alone can have held the image wins
(``_only_possible``). Where the clock cannot tell two or more windows apart, the positioner angles
decide if they can: the image's (0018,1510)/(0018,1511)/(0018,1450) must agree (within
``angle_tolerance_deg``) with exactly one contender's 112011/112012/113770 and disagree with every
other's, as with the two planes of a biplane system (``decided_by = geometry``). Before the angles
alone, the fingerprints: where the fitting window whose shared values agree best with the image's
(``times.fingerprint``) matches strongly and beats every other, it is linked (``decided_by =
fingerprint``); a mismatch only lowers a score, as a cumulative DAP in every image is common.
The clock's own choice is put to the fingerprints too where it has no strong match and another
fitting window has one (a drifting clock moves an image by a second or two).
Otherwise the image is ``ambiguous``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from xrf_assets.core.linking.times import (
    fingerprint,
    geometry,
    plane_compatible,
    utc_spread_s,
    window_pairs,
    with_pair_times,
)
from xrf_assets.core.store import frame_from_rows

if TYPE_CHECKING:
    from xrf_assets.core.linking.links import LinkSettings

_UNLINKED = [
    "sop_instance_uid",
    "reason",
    "candidate_event_uids",
    "nearest_gap_s",
    "clock_offset_s",
]


def _gap(corrected: pl.Expr) -> pl.Expr:
    return pl.max_horizontal(pl.lit(0.0), -corrected, corrected - pl.col("dur_s"))


def _instant_gap(corrected: pl.Expr) -> pl.Expr:
    """Distance from the moments the image can have been taken to those its event can have
    lasted: a whole-second image time t stands for [t, t + 1 s), a whole-second start s for
    [s, s + 1 s) (``times._step_s``)."""
    early = -corrected - pl.col("img_step_s")
    late = corrected - pl.col("dur_s") - pl.col("ev_step_s")
    return pl.max_horizontal(pl.lit(0.0), early, late)


def _fits(timed: pl.DataFrame, ev: pl.DataFrame, angle_tolerance_deg: float) -> pl.DataFrame:
    """Every (image, event) pair whose widened window holds the corrected image time, with its
    gap to the window and whether the angles agree."""
    widen = timed.select(pl.col("tol").max().fill_null(0.0)).item()
    pairs = with_pair_times(window_pairs(timed, ev, "t_corr", widen + utc_spread_s(timed, ev)))
    corrected = pl.col("diff_s") - pl.col("clock_offset_s")
    return pairs.filter(
        plane_compatible("img_plane", "plane"),
        corrected >= -pl.col("tol"),
        corrected <= pl.col("dur_s") + pl.col("tol"),
    ).with_columns(
        gap_s=_gap(corrected),
        instant_gap_s=_instant_gap(corrected),
        geometry=geometry(angle_tolerance_deg),
        **fingerprint(angle_tolerance_deg),
    )


def _contenders(fits: pl.DataFrame) -> pl.DataFrame:
    """Per image, the windows within the margin of the best: those the clock cannot separate."""
    return fits.filter(
        pl.col("gap_s") <= pl.col("gap_s").min().over("sop_instance_uid") + pl.col("margin")
    )


def _only_possible(fits: pl.DataFrame, rounding_s: float) -> pl.DataFrame:
    """The fitting pairs whose window alone can have held the image: within the offset's
    uncertainty of the moments it can have been taken (``_instant_gap``), while every other
    fitting window is more than the uncertainty plus ``rounding_s`` away from them."""
    possible = pl.col("instant_gap_s") <= pl.col("uncertainty_s")
    excluded = pl.col("instant_gap_s") > pl.col("uncertainty_s") + rounding_s
    single = (
        fits.group_by("sop_instance_uid")
        .agg(n=pl.len(), possible=possible.sum(), excluded=excluded.sum())
        .filter(pl.col("possible") == 1, pl.col("excluded") == pl.col("n") - 1)
    )
    return fits.filter(possible).join(single.select("sop_instance_uid"), on="sop_instance_uid")


def _by_fingerprint(fits: pl.DataFrame) -> pl.DataFrame:
    """The fitting pairs the fingerprints single out: of the fitting windows (all within the
    tolerance of the clock), the one with the best score (``times.fingerprint``) has a strong
    match and beats every other by at least one."""
    ranked = fits.sort(
        ["sop_instance_uid", "fp_score", "irradiation_event_uid"], descending=[False, True, False]
    )
    best = ranked.group_by("sop_instance_uid", maintain_order=True).agg(
        pl.all().first(), second=pl.col("fp_score").get(1, null_on_oob=True)
    )
    return best.filter(
        "fp_strong", pl.col("second").is_null() | (pl.col("fp_score") >= pl.col("second") + 1)
    ).drop("second")


def _by_geometry(fits: pl.DataFrame) -> pl.DataFrame:
    """The fitting pairs the angles single out: per image, of the contenders, exactly one agrees
    and every other disagrees."""
    contenders = _contenders(fits)
    match = pl.col("geometry") == "match"
    single = (
        contenders.group_by("sop_instance_uid")
        .agg(n=pl.len(), matches=match.sum(), mismatches=(pl.col("geometry") == "mismatch").sum())
        .filter(pl.col("n") >= 2, pl.col("matches") == 1, pl.col("mismatches") == pl.col("n") - 1)
    )
    return contenders.filter(match).join(single.select("sop_instance_uid"), on="sop_instance_uid")


def _nearest(unfit: pl.DataFrame, ev: pl.DataFrame) -> pl.DataFrame:
    """Nearest event of the same study and room for images no window holds: the last event started
    before the corrected time and the first started after it (a diagnostic for the physicist)."""
    starts = ev.drop_nulls(["ev_t_s", "ev_study", "ev_room"]).sort("ev_t_s")
    left = unfit.sort("t_corr")
    found = []
    for strategy in ("backward", "forward"):
        found.append(
            left.join_asof(
                starts,
                left_on="t_corr",
                right_on="ev_t_s",
                by_left=["study_instance_uid", "room_id"],
                by_right=["ev_study", "ev_room"],
                strategy=strategy,
                check_sortedness=False,  # sorted on t_corr as a whole, hence within each group
            ).drop_nulls("irradiation_event_uid")
        )
    pairs = with_pair_times(pl.concat(found, how="diagonal_relaxed"))
    return (
        pairs.with_columns(gap_s=_gap(pl.col("diff_s") - pl.col("clock_offset_s")))
        .sort("sop_instance_uid", "gap_s", "irradiation_event_uid")
        .group_by("sop_instance_uid", maintain_order=True)
        .first()
        .select(
            "sop_instance_uid",
            candidate_event_uids=pl.concat_list("irradiation_event_uid"),
            nearest_gap_s="gap_s",
        )
    )


def classify_leftovers(
    leftover: pl.DataFrame, ev: pl.DataFrame, offsets: pl.DataFrame, s: LinkSettings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Time-window links (pairs with diff_s, clock_offset_s, source, utc_compared, mixed_utc) and
    the `unlinked_images` frame for every other leftover image."""
    lo = (
        leftover.join(offsets, on=["room_id", "day"], how="left")
        .with_columns(
            source=pl.col("source").fill_null("unresolved"),
            clock_offset_s=pl.col("offset_s").fill_null(0.0),
            uncertainty_s=pl.col("uncertainty_s").fill_null(0.0),
        )
        .with_columns(
            tol=s.tolerance_s + pl.col("uncertainty_s"),
            margin=s.ambiguity_margin_s + pl.col("uncertainty_s"),
            t_corr=pl.col("img_t_s") - pl.col("clock_offset_s"),
        )
    )
    studies = ev.select(study_instance_uid="ev_study").drop_nulls().unique()
    reported = lo.join(studies, on="study_instance_uid", how="semi")
    ev_groups = ev.group_by("ev_study", "ev_room", "plane").agg(
        timed=pl.col("ev_t_s").is_not_null().any()
    )
    candidates = (
        reported.join(
            ev_groups, left_on=["study_instance_uid", "room_id"], right_on=["ev_study", "ev_room"]
        )
        .filter(plane_compatible("img_plane", "plane"))
        .group_by("sop_instance_uid")
        .agg(timed=pl.col("timed").any())
    )
    comparable = reported.join(
        candidates.filter("timed"), on="sop_instance_uid", how="semi"
    ).filter(pl.col("img_t_s").is_not_null())
    unresolved = comparable.filter(pl.col("source") == "unresolved")
    timed = comparable.filter(pl.col("source") != "unresolved")

    fits = _fits(timed, ev, s.angle_tolerance_deg)
    ranked = (
        fits.sort("sop_instance_uid", "gap_s", "irradiation_event_uid")
        .group_by("sop_instance_uid", maintain_order=True)
        .agg(
            pl.all().first(),
            fitting=pl.col("irradiation_event_uid"),
            second_gap_s=pl.col("gap_s").get(1, null_on_oob=True),
            strong_fits=pl.col("fp_strong").sum(),
        )
    )
    # the clock's choice stands unless its fingerprint is not strong and another window's is
    vetoed = ~pl.col("fp_strong") & (pl.col("strong_fits") > 0)
    decided = (
        pl.col("second_gap_s").is_null()
        | (pl.col("second_gap_s") - pl.col("gap_s") >= pl.col("margin"))
    ) & ~vetoed
    # where the gaps cannot separate the windows, a whole-second TM modelled exactly may
    only = _only_possible(fits, s.tm_rounding_s).join(
        ranked.filter(~decided).select("sop_instance_uid", "strong_fits"), on="sop_instance_uid"
    )
    only = only.filter(pl.col("fp_strong") | (pl.col("strong_fits") == 0))
    undecided = ranked.filter(~decided).join(only, on="sop_instance_uid", how="anti")
    open_fits = fits.join(undecided, on="sop_instance_uid", how="semi")
    by_fingerprint = _by_fingerprint(open_fits)
    by_geometry = _by_geometry(open_fits.join(by_fingerprint, on="sop_instance_uid", how="anti"))
    links = pl.concat(
        [
            ranked.filter(decided).with_columns(decided_by=pl.lit("time")),
            only.with_columns(decided_by=pl.lit("time")),
            by_fingerprint.with_columns(decided_by=pl.lit("fingerprint")),
            by_geometry.with_columns(decided_by=pl.lit("geometry")),
        ],
        how="diagonal_relaxed",
    ).with_columns(link_method=pl.lit("time_window"))
    chosen = pl.concat([by_fingerprint, by_geometry], how="diagonal_relaxed")
    ambiguous = undecided.join(chosen, on="sop_instance_uid", how="anti").select(
        "sop_instance_uid",
        reason=pl.lit("ambiguous"),
        candidate_event_uids="fitting",
        nearest_gap_s="gap_s",
        clock_offset_s="clock_offset_s",
    )
    unfit = timed.join(ranked, on="sop_instance_uid", how="anti")
    outside = (
        unfit.select("sop_instance_uid", "clock_offset_s")
        .join(_nearest(unfit, ev), on="sop_instance_uid", how="left")
        .select(
            "sop_instance_uid",
            reason=pl.lit("outside_window"),
            candidate_event_uids=pl.col("candidate_event_uids").fill_null([]),
            nearest_gap_s="nearest_gap_s",
            clock_offset_s="clock_offset_s",
        )
    )
    no_report = lo.join(studies, on="study_instance_uid", how="anti")
    no_candidate = reported.join(candidates, on="sop_instance_uid", how="anti")
    no_time = reported.join(candidates, on="sop_instance_uid", how="semi").join(
        comparable, on="sop_instance_uid", how="anti"
    )
    plain = [
        frame.select("sop_instance_uid").with_columns(reason=pl.lit(reason))
        for frame, reason in (
            (no_report, "no_dose_report"),
            (no_candidate, "no_candidate_event"),
            (no_time, "no_time"),
            (unresolved, "clock_unresolved"),
        )
    ]
    empty = frame_from_rows("unlinked_images", [])
    unlinked = pl.concat([empty, *plain, ambiguous, outside], how="diagonal_relaxed").with_columns(
        pl.col("candidate_event_uids").fill_null([])
    )
    return links, unlinked.select(_UNLINKED).cast(empty.schema).sort("sop_instance_uid")
