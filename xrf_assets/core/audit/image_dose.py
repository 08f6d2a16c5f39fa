"""A dose from image headers, for studies whose device sends no dose report.

Older devices and many mobile C-arms write no RDSR but put Image and Fluoroscopy Area Dose Product
(0018,115E) into their images, in two conventions seen on real files: a GE mobile C-arm writes the
same run total (17.468694 dGy.cm2) into every image of a series while kVp changes per image; a GE
angiography system writes each run's own DAP. The rule that counts each irradiation once:

- an image naming an Irradiation Event UID (0008,3010) belongs to that event; other images are
  grouped by series (Series Instance UID; an image without one is its own group);
- in a group, a DAP repeated in every image, or growing from image to image like a running total
  (in acquisition time, then instance order), is one irradiation: its last (largest) value counts;
- otherwise each image is its own run and the values are summed.

A series whose runs happen to grow in dose is read as a running total (an undercount, never a double
count). The irradiation time of an image is its own: Actual Frame Duration (0018,1242) x Number of
Frames, else Exposure Time (0018,1150 / 0018,9328); it is summed over the images. These figures are
estimates (``dose_source = image_headers``); where a dose report exists they are a cross-check only,
never added to it.
"""

from __future__ import annotations

import polars as pl

from xrf_assets.core.audit.months import sum_or_null

# Values equal within DS rounding (10 significant digits) are one repeated value.
_REPEAT_TOLERANCE = 1e-9

IMAGE_TIME_S = pl.coalesce(
    pl.col("actual_frame_duration_ms") * pl.col("number_of_frames").fill_null(1),
    pl.col("exposure_time_ms"),
) / pl.lit(1000.0)


def _once(value: pl.Expr) -> pl.Expr:
    """True for a group whose values repeat or only grow: one irradiation (a run total)."""
    v = value.drop_nulls()
    repeated = (v.max() - v.min()) <= _REPEAT_TOLERANCE * v.abs().max()
    growing = (v.diff().drop_nulls() >= 0).all()
    return repeated | growing


def image_runs(images: pl.DataFrame) -> pl.DataFrame:
    """One row per irradiation the images of each study show, counted once (module rule).

    Columns: study_instance_uid, room_id, acquisition_protocol, dap_gy_m2, irradiation_duration_s,
    image_count. Images without a Study Instance UID cannot be given to a study and are left out.
    """
    df = images.filter(pl.col("study_instance_uid").is_not_null()).with_columns(
        run_key=pl.coalesce(
            pl.col("irradiation_event_uids").list.first(),
            pl.col("series_instance_uid"),
            pl.col("sop_instance_uid"),
        ),
        time_s=IMAGE_TIME_S,
        protocol=pl.coalesce("acquisition_protocol_name", "protocol_name"),
    )
    df = df.sort("acquisition_datetime", "instance_number", "sop_instance_uid", nulls_last=True)
    keys = ["study_instance_uid", "run_key"]
    df = df.with_columns(once=_once(pl.col("dap_gy_m2")).over(keys))
    single = (
        df.filter(pl.col("once"))
        .group_by(keys, maintain_order=True)
        .agg(
            pl.col("room_id").drop_nulls().last(),
            acquisition_protocol=pl.col("protocol").drop_nulls().last(),
            dap_gy_m2=pl.col("dap_gy_m2").max(),
            irradiation_duration_s=sum_or_null(pl.col("time_s")),
            image_count=pl.len(),
        )
    )
    each = df.filter(~pl.col("once")).select(
        *keys,
        "room_id",
        acquisition_protocol="protocol",
        dap_gy_m2="dap_gy_m2",
        irradiation_duration_s="time_s",
        image_count=pl.lit(1, pl.UInt32),
    )
    return pl.concat([single, each], how="vertical_relaxed").drop("run_key")


def image_dose(images: pl.DataFrame) -> pl.DataFrame:
    """Per study: the DAP and irradiation time its image headers give, counted once per run."""
    return (
        image_runs(images)
        .group_by("study_instance_uid")
        .agg(
            image_dap_total_gy_m2=sum_or_null(pl.col("dap_gy_m2")),
            image_fluoro_time_s=sum_or_null(pl.col("irradiation_duration_s")),
            image_run_count=pl.len(),
        )
    )
