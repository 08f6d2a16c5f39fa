"""Times for linking images to irradiation events: one clock basis per pair, and a range join.

DICOM times arrive as naive local wall-clock times; a UTC offset, where the file gives one, travels
beside them (images: the (0008,002A) suffix or (0008,0201); events: the 111526 DateTime Started
suffix or the report's (0008,0201)). A pair is compared in UTC only when both sides give an offset.
Otherwise the local times are compared: an image and the dose report of one device are stamped by
that device's wall clock, and any systematic difference is what the clock offset absorbs. Pairs
where only one side gives an offset are flagged (``mixed_utc``) and counted in the link metadata,
never converted silently.
"""

from __future__ import annotations

import polars as pl

from xrf_assets.core.extract.irradiation_events import implausible

# Narrowest time bucket of the range join: any width is correct; 60 s keeps both sides small.
BUCKET_S = 60.0

_OPPOSITE_PLANE = {"plane_a": "plane_b", "plane_b": "plane_a"}

# Angles both sides carry: image (0018,1510) / (0018,1511) / (0018,1450), event 112011 / 112012 /
# 113770. Same column names in both contracts; prefixed img_/ev_ here.
ANGLES = ("positioner_primary_angle_deg", "positioner_secondary_angle_deg", "column_angulation_deg")


def _epoch_s(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us").cast(pl.Float64) / 1e6


def _step_s(column: str) -> pl.Expr:
    """1 s where a time has no fraction of a second (a TM sent to the whole second is truncated:
    the moment lies in [t, t + 1 s); one exactly on the second lies there too), else 0."""
    return pl.when(pl.col(column).dt.microsecond() == 0).then(1.0).otherwise(0.0)


def _image_selection() -> list[pl.Expr]:
    return [
        *map(pl.col, ("sop_instance_uid", "study_instance_uid", "series_instance_uid", "room_id")),
        _epoch_s("acquisition_datetime").alias("img_t_s"),
        _step_s("acquisition_datetime").alias("img_step_s"),
        pl.col("utc_offset_s").alias("img_utc_off"),
        pl.col("acquisition_datetime").dt.date().alias("day"),
        *(pl.col(a).alias(f"img_{a}") for a in ANGLES),
        pl.col("dap_gy_m2").alias("img_dap"),
        pl.col("kvp_kv").alias("img_kvp"),
        pl.col("number_of_frames").alias("img_frames"),
        pl.col("acquisition_duration_s").alias("img_run_s"),
    ]


def prepare_images(images: pl.DataFrame | pl.LazyFrame, *keep: str) -> pl.DataFrame:
    """The `images` columns the linker needs, and ``keep`` as they are; ``img_t_s``: local time in
    s; ``day``: its date. From a scan, only the columns these read are loaded."""
    return images.lazy().select(*_image_selection(), *keep).collect()


def read_columns(selection: list[pl.Expr]) -> set[str]:
    """The input columns a selection reads: what a reader of the tables needs to load."""
    return {name for expr in selection for name in expr.meta.root_names()}


def duration_trusted() -> pl.Expr:
    """False where ``plausibility`` says Irradiation Duration (113742) is not the time the beam was
    on: longer than the device's total, or far from Number of Pulses / Pulse Rate (the Canon
    Alphenix sends ~13 s per fluoroscopy pulse). ``duration_exceeds_gap`` alone does not count:
    a run may overlap the next event of its plane (a fluoroscopy run continuing into an
    acquisition), and its images then lie inside that overlap."""
    return ~implausible("duration", ignore=("duration_exceeds_gap",))


def window_duration_s() -> pl.Expr:
    """Length of an event's link window in s: Irradiation Duration (113742) where trusted, else
    Number of Pulses (113768) / Pulse Rate (113791) where both are sent, else 0 (a window at
    DateTime Started (111526): the tolerance alone decides), as for a missing or negative
    duration. A flagged duration never sets a window on its own."""
    pulses, rate = pl.col("number_of_pulses"), pl.col("pulse_rate_per_s")
    by_pulses = pl.when((pulses > 0) & (rate > 0)).then(pulses / rate)
    return (
        pl.when(duration_trusted())
        .then(pl.col("irradiation_duration_s"))
        .otherwise(by_pulses)
        .fill_null(0.0)
        .clip(lower_bound=0.0)
    )


def _event_selection() -> list[pl.Expr]:
    return [
        pl.col("irradiation_event_uid"),
        pl.col("study_instance_uid").alias("ev_study"),
        pl.col("room_id").alias("ev_room"),
        pl.col("acquisition_plane").alias("plane"),
        pl.col("event_type"),
        _epoch_s("datetime_started").alias("ev_t_s"),
        _step_s("datetime_started").alias("ev_step_s"),
        pl.col("utc_offset_s").alias("ev_utc_off"),
        window_duration_s().alias("dur_s"),
        *(pl.col(a).alias(f"ev_{a}") for a in ANGLES),
        pl.col("dap_gy_m2").alias("ev_dap"),
        pl.col("kvp_kv").alias("ev_kvp"),
        pl.col("number_of_pulses").alias("ev_pulses"),
        pl.when(duration_trusted()).then(pl.col("irradiation_duration_s")).alias("ev_run_s"),
    ]


def prepare_events(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The `irradiation_events` columns the linker needs, renamed apart from the image side.

    ``dur_s`` is ``window_duration_s``; ``ev_run_s``, the run length an image's frames are
    compared with, is the duration only where trusted (pulses / rate would repeat the frames
    vs pulses fingerprint).
    """
    return events.lazy().select(_event_selection()).collect()


# per input table, the columns the linker reads (prepared above, plus the UID link columns)
LINK_COLUMNS: dict[str, tuple[str, ...]] = {
    "images": tuple(sorted(read_columns(_image_selection()) | {"irradiation_event_uids"})),
    "irradiation_events": tuple(sorted(read_columns(_event_selection()))),
    "event_image_refs": ("irradiation_event_uid", "referenced_sop_instance_uid"),
}


def with_pair_times(pairs: pl.DataFrame) -> pl.DataFrame:
    """Add ``diff_s`` (image time minus event start, before clock correction), ``utc_compared``
    and ``mixed_utc`` to a frame holding both sides' time columns."""
    img_off = pl.col("img_utc_off")
    ev_off = pl.col("ev_utc_off")
    both = img_off.is_not_null() & ev_off.is_not_null()
    return pairs.with_columns(
        diff_s=pl.col("img_t_s")
        - pl.col("ev_t_s")
        - pl.when(both).then((img_off - ev_off).cast(pl.Float64)).otherwise(0.0),
        utc_compared=both,
        mixed_utc=img_off.is_null() != ev_off.is_null(),
    )


def utc_spread_s(images: pl.DataFrame, events: pl.DataFrame) -> float:
    """Largest |image UTC offset - event UTC offset| any pair can have: how far a UTC comparison can
    move a pair away from its local-time bucket."""
    img = set(images.get_column("img_utc_off").drop_nulls().to_list())
    ev = set(events.get_column("ev_utc_off").drop_nulls().to_list())
    return float(max((abs(a - b) for a in img for b in ev), default=0))


def geometry(tolerance_deg: float) -> pl.Expr:
    """``match`` when every angle both sides give agrees within ``tolerance_deg`` (at least one),
    ``mismatch`` when one differs by more, null when no angle is on both sides."""
    diffs = [(pl.col(f"img_{a}") - pl.col(f"ev_{a}")).abs() for a in ANGLES]
    known = pl.sum_horizontal([d.is_not_null() for d in diffs])
    off = pl.any_horizontal([(d > tolerance_deg).fill_null(False) for d in diffs])
    return (
        pl.when(known == 0)
        .then(pl.lit(None, pl.String))
        .when(off)
        .then(pl.lit("mismatch"))
        .otherwise(pl.lit("match"))
    )


# Fingerprint tolerances. DAP: (0018,115E) is a DS in dGy.cm2 (1 Gy.m2 = 1e5 dGy.cm2), written
# to a few significant digits: 1 % or 0.0005 dGy.cm2 (real fluoroscopy events send 0.005
# dGy.cm2). kVp: the event's value may be a per-pulse mean.
# A run's frames against the event's pulses (113768) and frames x frame time against 113742 are
# compared only for multi-frame images: a last-image-hold is one frame of a long fluoroscopy run.
DAP_REL_TOL = 0.01
DAP_ABS_TOL_GY_M2 = 5e-9
KVP_TOL_KV = 1.0
FRAMES_TOL = 1.0
RUN_REL_TOL, RUN_ABS_TOL_S = 0.1, 0.5


def _agree(diff: pl.Expr, tol: pl.Expr | float) -> pl.Expr:
    """1 when both sides agree within ``tol``, 0 when they differ, null when a side is missing."""
    return pl.when(diff.is_null()).then(None).otherwise((diff.abs() <= tol).cast(pl.Int32))


def fingerprint(angle_tolerance_deg: float) -> dict[str, pl.Expr]:
    """``fp_score``: how many of the values an image and its event share agree (DAP, kVp,
    positioner angles, frames vs pulses, run length vs 113742; the DAP counts three) minus how
    many differ, and ``fp_strong``: the DAP agrees, or three of the others do.

    A match is strong evidence (a DAP to 1 % singles out one event of a study); a mismatch is weak
    (some devices write a run's or the study's cumulative DAP into every image), so mismatches only
    ever keep a pair from being singled out, never reject it.
    """
    dap_tol = pl.max_horizontal(
        pl.max_horizontal("img_dap", "ev_dap") * DAP_REL_TOL, pl.lit(DAP_ABS_TOL_GY_M2)
    )
    multi = pl.col("img_frames") > 1
    run_tol = pl.max_horizontal(pl.col("ev_run_s") * RUN_REL_TOL, pl.lit(RUN_ABS_TOL_S))
    dap = _agree(pl.when(pl.col("img_dap") > 0).then(pl.col("img_dap") - pl.col("ev_dap")), dap_tol)
    geo = geometry(angle_tolerance_deg)
    parts = [
        _agree(pl.col("img_kvp") - pl.col("ev_kvp"), KVP_TOL_KV),
        pl.when(geo.is_null()).then(None).otherwise((geo == "match").cast(pl.Int32)),
        _agree(pl.when(multi).then(pl.col("img_frames") - pl.col("ev_pulses")), FRAMES_TOL),
        _agree(pl.when(multi).then(pl.col("img_run_s") - pl.col("ev_run_s")), run_tol),
    ]
    others = pl.sum_horizontal([p.fill_null(0) for p in parts])
    mismatches = pl.sum_horizontal([(1 - p).fill_null(0) for p in [dap, *parts]])
    return {
        "fp_score": others + 3 * dap.fill_null(0) - mismatches,
        "fp_strong": (dap == 1).fill_null(False) | (others >= 3),
    }


def plane_compatible(image_plane: str, event_plane: str) -> pl.Expr:
    """False only where the image's plane is known and the event is of the other plane of a biplane
    system (113764 Plane A / Plane B); an unknown plane on either side stays a candidate."""
    opposite = pl.col(image_plane).replace_strict(_OPPOSITE_PLANE, default=None)
    return ~(opposite.is_not_null() & (pl.col(event_plane) == opposite).fill_null(False))


def window_pairs(
    images: pl.DataFrame, events: pl.DataFrame, time_col: str, widen_s: float
) -> pl.DataFrame:
    """Same study and room pairs with ``time_col - ev_t_s`` in ``[-widen_s, dur_s + widen_s]``.

    An equi-join on (study, room, time bucket) instead of a study-wide cross product: each event is
    registered in every bucket its widened window touches, each image in the one bucket of its
    time, so a pair is found once and a long study costs no quadratic frame. Buckets are at least
    as wide as the widening, so an event registers in a few buckets however far the search
    reaches (three hours for fingerprints: 60 s buckets made 360 rows per event, 1.7 GB at 14k
    events).
    """
    width = max(BUCKET_S, widen_s)
    img = images.filter(pl.col(time_col).is_not_null()).with_columns(
        bucket=(pl.col(time_col) / width).floor().cast(pl.Int64)
    )
    ev = (
        events.filter(pl.col("ev_t_s").is_not_null())
        .with_columns(
            bucket=pl.int_ranges(
                ((pl.col("ev_t_s") - widen_s) / width).floor().cast(pl.Int64),
                ((pl.col("ev_t_s") + pl.col("dur_s") + widen_s) / width).floor().cast(pl.Int64) + 1,
            )
        )
        .explode("bucket")
    )
    rel = pl.col(time_col) - pl.col("ev_t_s")
    return (
        img.join(
            ev,
            left_on=["study_instance_uid", "room_id", "bucket"],
            right_on=["ev_study", "ev_room", "bucket"],
        )
        .filter(rel >= -widen_s, rel <= pl.col("dur_s") + widen_s)
        .drop("bucket")
    )
