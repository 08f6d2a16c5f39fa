"""Clock offset between a room's image clock and its dose-report clock.

Sign: ``offset = image clock - report clock``; the corrected image time is ``image time - offset``.

Estimator. A pair (image, event) known to belong together says the image's acquisition time lies
inside the event's window [DateTime Started (111526), + Irradiation Duration (113742)], so the
offsets consistent with it form the interval ``[diff - duration - slack, diff + slack]`` (``diff``
= image time - event start; ``slack`` covers whole-second TM values). Depth at an offset is the
number of images with an interval covering it; the estimate is the centre of the top plateau
(depth within ``PLATEAU_SHARE`` of the best) and its half-width is the uncertainty, which the
linker adds to its tolerance and ambiguity margin.

Why not the median of ``diff - duration / 2``: the time of a cine run is usually its first frame,
so that median is biased by half a typical duration, enough to move an image into the next event
of a back-to-back series. The plateau is unbiased (it narrows onto the true offset as image
positions within events vary; where they do not, its width says so) and robust: a wrong pair adds
one interval elsewhere and cannot move it.

Rooms with no pair known by UID ((0008,3010) and 113795 absent): the same estimator over every
same-study pair within ``max_offset_s`` finds the offset where most images fall inside an event
window (``pattern_offsets``). A regular rhythm of events has several equally good offsets, so the
pattern estimate is taken only when its peak is unique and narrow; where it is refused and 0 s
does not fit either, the offset is ``unresolved`` and the linker does not guess.
"""

from __future__ import annotations

import math

import polars as pl

OFFSET_COLUMNS = ["pairs", "supporting_images", "offset_s", "uncertainty_s", "confidence"]


def _intervals(pairs: pl.DataFrame, keys: list[str], slack_s: float) -> pl.DataFrame:
    """Per image, the union of its pairs' consistent-offset intervals, so that depth counts
    images: with back-to-back events an image's neighbouring windows overlap by the slack, and
    counting pairs would make those overlaps look better supported than the true offset."""
    per_pair = pairs.select(
        *keys,
        "sop_instance_uid",
        lo=pl.col("diff_s") - pl.col("dur_s") - slack_s,
        hi=pl.col("diff_s") + slack_s,
    ).sort([*keys, "sop_instance_uid", "lo"])
    image = [*keys, "sop_instance_uid"]
    # One running maximum over the sorted pairs instead of a window per image (``over`` with one
    # group per image grew with the square of the images: 1.4 -> 17.7 cpu s from 100k to 400k
    # pairs). Ends become their dense rank among all ends (order, ties included, kept), offset
    # by the image's number times more than any rank, so no image sees an earlier one's ends.
    first = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in image])
    first = first.fill_null(True)
    n = per_pair.height
    ranks = pl.concat([per_pair.get_column("lo"), per_pair.get_column("hi")]).rank("dense")
    ranks = ranks.cast(pl.Int64)
    numbered = per_pair.with_columns(_image=first.cast(pl.Int64).cum_sum() * (2 * n + 1))
    numbered = numbered.with_columns(
        _lo=pl.col("_image") + ranks.slice(0, n), _hi=pl.col("_image") + ranks.slice(n)
    )
    starts_new = first | (pl.col("_lo") > pl.col("_hi").cum_max().shift(1))
    return (
        numbered.with_columns(part=starts_new.fill_null(True).cum_sum())
        .group_by([*image, "part"])
        .agg(pl.col("lo").min(), pl.col("hi").max())
    )


def depth_profile(intervals: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Sweep over interval ends per key: ``depth`` is how many intervals cover [pos, next_pos].

    Starts sort before ends at the same position, so touching closed intervals overlap.
    """
    ends = pl.concat(
        [
            intervals.select(*keys, pos=pl.col("lo"), delta=pl.lit(1, pl.Int64)),
            intervals.select(*keys, pos=pl.col("hi"), delta=pl.lit(-1, pl.Int64)),
        ]
    )
    return ends.sort(
        [*keys, "pos", "delta"], descending=[False] * (len(keys) + 1) + [True]
    ).with_columns(
        depth=pl.col("delta").cum_sum().over(keys),
        next_pos=pl.col("pos").shift(-1).over(keys),
    )


# Offsets supported by at least this share of the best count form the plateau whose hull gives
# the estimate: a flat top (images at the start of runs of different lengths) can gain one or two
# chance images anywhere along it, so its single deepest point is not better evidence than the
# rest of it. 0.95 keeps only the top; the hull's half-width is then an honest uncertainty.
PLATEAU_SHARE = 0.95


def _deepest(profile: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Centre and half-width of the plateau (``PLATEAU_SHARE`` of the best depth) per key;
    disjoint plateaus are spanned together, so an undecided offset shows as a large uncertainty,
    not a guess."""
    best = pl.col("depth").max().over(keys)
    return (
        profile.filter(pl.col("depth") >= (best * PLATEAU_SHARE).ceil())
        .group_by(keys)
        .agg(
            supporting_images=pl.col("depth").max(),
            lo=pl.col("pos").min(),
            hi=pl.col("next_pos").max(),
        )
        .with_columns(
            offset_s=(pl.col("lo") + pl.col("hi")) / 2,
            uncertainty_s=(pl.col("hi") - pl.col("lo")) / 2,
        )
        .drop("lo", "hi")
    )


def uid_offsets(
    pairs: pl.DataFrame, keys: list[str], slack_s: float, min_pairs: int
) -> pl.DataFrame:
    """Offsets per key from pairs linked by UID (columns ``keys``, diff_s, dur_s); keys whose
    deepest region is supported by fewer than ``min_pairs`` images get none."""
    pairs = pairs.drop_nulls([*keys, "diff_s"])
    intervals = _intervals(pairs, keys, slack_s)
    counts = pairs.group_by(keys).agg(pairs=pl.len())
    return (
        _deepest(depth_profile(intervals, keys), keys)
        .join(counts, on=keys)
        .filter(pl.col("supporting_images") >= min_pairs)
        .with_columns(confidence=pl.lit(None, pl.Float64))  # known pairs: nothing was searched
        .select(*keys, *OFFSET_COLUMNS)
    )


def _log10_tail(k: int, n: int, p: float) -> float:
    """log10 P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0 or p >= 1.0:
        return 0.0
    if p <= 0.0 or k > n:
        return -math.inf
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(j + 1)
        - math.lgamma(n - j + 1)
        + j * math.log(p)
        + (n - j) * math.log1p(-p)
        for j in range(k, n + 1)
    ]
    top = max(terms)
    return (top + math.log(sum(math.exp(t - top) for t in terms))) / math.log(10)


def confidence(k: int, n: int, chance: float, trials: float) -> float:
    """-log10 of the probability that chance alone puts ``k`` of ``n`` images into event windows
    at the best of ``trials`` independent offsets, each image landing in one with probability
    ``chance`` (the share of the searched offsets its windows cover); capped at 300."""
    tail = _log10_tail(k, n, min(max(chance, 0.0), 1.0))
    return float(min(300.0, max(0.0, -tail - math.log10(max(trials, 1.0)))))


def _competitors(profile: pl.DataFrame, found: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per key, the best depth at offsets at least ``guard_s`` outside the plateau ``found``
    chose (0 where there are none): what the clock would be if the peak were not the answer."""
    hull = found.select(
        *keys,
        lo=pl.col("offset_s") - pl.col("uncertainty_s") - pl.col("guard_s"),
        hi=pl.col("offset_s") + pl.col("uncertainty_s") + pl.col("guard_s"),
    )
    away = (pl.col("next_pos") < pl.col("lo")) | (pl.col("pos") > pl.col("hi"))
    return (
        profile.filter(pl.col("next_pos") > pl.col("pos"))
        .join(hull, on=keys)
        .group_by(keys)
        .agg(competitor=pl.col("depth").filter(away).max().fill_null(0))
    )


def pattern_offsets(
    pairs: pl.DataFrame,
    keys: list[str],
    *,
    slack_s: float,
    max_offset_s: float,
    min_pairs: int,
    peak_ratio: float,
    max_uncertainty_s: float,
    min_image_fraction: float,
    min_confidence: float,
    guard_s: float,
) -> pl.DataFrame:
    """Offsets per key from candidate pairs (columns ``keys``, sop_instance_uid, diff_s, dur_s):
    all same-study pairs within ``max_offset_s`` (time evidence), or only the pairs whose
    fingerprints agree (fingerprint evidence).

    The test an offset must pass to be ``accepted`` (the images fit event windows there far better
    than anywhere else and far better than chance):

    - support: at least ``min_pairs`` images, and ``min_image_fraction`` of the key's images, fit
      a window at the offset;
    - far better than a few seconds away: at offsets more than ``guard_s`` (the median window
      length plus ``guard_s``) outside the top plateau, no depth reaches ``peak_ratio`` of the
      best (a regular rhythm of events, whose equally good offsets lie a period apart, fails),
      and the plateau is at most ``max_uncertainty_s`` wide either side (a flat rhythm of
      back-to-back events fits everywhere);
    - beyond chance: ``confidence`` (see ``confidence``: each image's chance is the share of the
      searched range its own intervals cover, i.e. the event density it sees; the trials are the
      range over the median interval length) reaches ``min_confidence``.
    """
    pairs = pairs.drop_nulls([*keys, "diff_s"])
    intervals = (
        _intervals(pairs, keys, slack_s)
        .with_columns(
            pl.col("lo").clip(lower_bound=-max_offset_s),
            pl.col("hi").clip(upper_bound=max_offset_s),
        )
        .filter(pl.col("lo") <= pl.col("hi"))
    )
    counts = pairs.group_by(keys).agg(
        pairs=pl.len(),
        images=pl.col("sop_instance_uid").n_unique(),
        window_s=(pl.col("dur_s") + 2 * slack_s).median(),
    )
    cover = (
        intervals.group_by([*keys, "sop_instance_uid"])
        .agg(share=((pl.col("hi") - pl.col("lo")).sum() / (2 * max_offset_s)).clip(0.0, 1.0))
        .group_by(keys)
        .agg(chance=pl.col("share").mean())
    )
    profile = depth_profile(intervals, keys)
    found = (
        _deepest(profile, keys)
        .join(counts, on=keys)
        .join(cover, on=keys)
        .with_columns(guard_s=pl.col("window_s") + guard_s)
    )
    found = found.join(_competitors(profile, found, keys), on=keys, how="left")
    conf = [
        confidence(
            int(r["supporting_images"]),
            int(r["images"]),
            float(r["chance"]),
            2 * max_offset_s / max(float(r["window_s"]), 1.0),
        )
        for r in found.iter_rows(named=True)
    ]
    enough = (pl.col("supporting_images") >= min_pairs) & (
        pl.col("supporting_images") >= pl.col("images") * min_image_fraction
    )
    return (
        found.with_columns(confidence=pl.Series(conf, dtype=pl.Float64))
        .with_columns(
            accepted=enough
            & (pl.col("competitor").fill_null(0) < pl.col("supporting_images") * peak_ratio)
            & (pl.col("uncertainty_s") <= max_uncertainty_s)
            & (pl.col("confidence") >= min_confidence)
        )
        .select(*keys, *OFFSET_COLUMNS, "accepted")
    )


def resolve_offsets(
    groups: pl.DataFrame, sources: list[tuple[str, pl.DataFrame, list[str]]]
) -> pl.DataFrame:
    """One offset per (room_id, day) of ``groups``: the first of ``sources`` (name, offsets,
    their keys), most trusted first, that has one; else ``unresolved``: no offset, not even 0 s,
    is assumed without evidence."""
    out = groups.select("room_id", "day").unique().with_columns(source=pl.lit(None, pl.String))
    for name, frame, keys in sources:
        renamed = frame.select(*keys, *[pl.col(c).alias(f"{c}_{name}") for c in OFFSET_COLUMNS])
        out = out.join(renamed, on=keys, how="left").with_columns(
            source=pl.coalesce(
                "source", pl.when(pl.col(f"offset_s_{name}").is_not_null()).then(pl.lit(name))
            )
        )
    out = out.with_columns(pl.col("source").fill_null("unresolved"))
    picks = {
        c: pl.coalesce(
            [
                pl.when(pl.col("source") == name).then(pl.col(f"{c}_{name}"))
                for name, _, _ in sources
            ]
        )
        for c in OFFSET_COLUMNS
    }
    return (
        out.with_columns(**picks)
        .with_columns(
            pl.col("pairs", "supporting_images").fill_null(0).cast(pl.Int64),
            pl.col("offset_s", "uncertainty_s").fill_null(0.0),
            pl.col("confidence").cast(pl.Float64),
        )
        .select("room_id", "day", "source", *OFFSET_COLUMNS)
        .sort("room_id", "day")
    )
