"""Linking quality against the synthetic ground truth (issue #5): precision and recall per method.

Each scenario generates a corpus (``xrf_assets.synth.generate``), links the truth's ``images``,
``irradiation_events`` and ``event_image_refs`` frames (so the figures measure the linker, not the
readers) and compares the links with ``truth/links.parquet``. With ``--end-to-end`` the same is done
again on the tables the ingest stage reads from the generated DICOM files.

Recall per method counts the true pairs the method was meant to find: ``image_event_uid`` the pairs
whose image names its event in (0008,3010); ``report_reference`` the pairs named by a 113795
reference and not by the image; ``time_window`` every other true pair.

    .venv/bin/python benchmarks/bench_linking.py [--studies 25] [--seed 7] [--end-to-end]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import polars as pl

from xrf_assets.core.linking.links import METHODS, LinkResult, link_images
from xrf_assets.synth import RoomSpec, SynthConfig, default_rooms, generate

PAIR = ["irradiation_event_uid", "sop_instance_uid"]
CATH, ANGIO, FLUORO = default_rooms()


def _no_aids(room: RoomSpec, offset_s: float, dense: bool = False) -> RoomSpec:
    """The room writing neither (0008,3010) nor 113795, its image clock ``offset_s`` ahead;
    ``dense``: half of its events back to back (1 s apart), a tenth overlapping."""
    return replace(
        room,
        writes_event_uid=False,
        writes_image_refs=False,
        clock_offset_s=offset_s,
        back_to_back_fraction=0.5 if dense else room.back_to_back_fraction,
        overlap_fraction=0.1 if dense else room.overlap_fraction,
    )


# name -> (rooms, goal); studies per room are set on the command line
SCENARIOS: dict[str, tuple[Callable[[], tuple[RoomSpec, ...]], str]] = {
    "demo rooms": (
        lambda: (CATH, ANGIO, FLUORO),
        "UID methods P = R = 1",
    ),
    "no aids, offsets -90/+90 s": (
        lambda: (_no_aids(ANGIO, -90.0), _no_aids(FLUORO, 90.0)),
        "time_window P >= 0.995, R >= 0.97",
    ),
    "no aids, back-to-back + overlap": (
        lambda: (
            _no_aids(ANGIO, 30.0, dense=True),
            _no_aids(FLUORO, -60.0, dense=True),
        ),
        "no wrong link",
    ),
    "UIDs, back-to-back + overlap": (
        lambda: tuple(
            replace(r, back_to_back_fraction=0.5, overlap_fraction=0.1)
            for r in (CATH, ANGIO, FLUORO)
        ),
        "no wrong link",
    ),
    "biplane, no aids, offset +20 s": (
        lambda: (_no_aids(CATH, 20.0),),
        "no wrong link (planes unknown)",
    ),
}


def eligible_method(images: pl.DataFrame, refs: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """The true pairs, each with the most trusted method that could find it."""
    named = images.select(
        "sop_instance_uid", irradiation_event_uid="irradiation_event_uids"
    ).explode("irradiation_event_uid")
    referenced = refs.select(
        "irradiation_event_uid", sop_instance_uid="referenced_sop_instance_uid"
    ).drop_nulls()
    by_image = truth.join(named, on=PAIR, how="semi")
    imaged = by_image.select("sop_instance_uid").unique()
    by_report = truth.join(referenced, on=PAIR, how="semi").join(
        imaged, on="sop_instance_uid", how="anti"
    )
    return truth.with_columns(
        method=pl.when(
            pl.struct(PAIR).is_in(by_image.select(pl.struct(PAIR)).to_series().implode())
        )
        .then(pl.lit("image_event_uid"))
        .when(pl.struct(PAIR).is_in(by_report.select(pl.struct(PAIR)).to_series().implode()))
        .then(pl.lit("report_reference"))
        .otherwise(pl.lit("time_window"))
    )


def score(
    scenario: str, result: LinkResult, truth: pl.DataFrame, eligible: pl.DataFrame
) -> list[dict[str, object]]:
    """One row per method and one overall: links, correct, wrong, precision, recall."""
    marked = result.links.join(
        truth.with_columns(correct=pl.lit(True)), on=PAIR, how="left"
    ).with_columns(pl.col("correct").fill_null(False))
    rows = []
    for method in (*METHODS, "overall"):
        mine = marked if method == "overall" else marked.filter(pl.col("link_method") == method)
        wanted = eligible if method == "overall" else eligible.filter(pl.col("method") == method)
        if mine.is_empty() and wanted.is_empty():
            continue
        correct = int(mine.get_column("correct").sum())
        found = wanted.join(mine.filter("correct"), on=PAIR, how="semi").height
        rows.append(
            {
                "scenario": scenario,
                "method": method,
                "true pairs": wanted.height,
                "links": mine.height,
                "correct": correct,
                "wrong": mine.height - correct,
                "precision": round(correct / mine.height, 4) if mine.height else None,
                "recall": round(found / wanted.height, 4) if wanted.height else None,
            }
        )
    unlinked = result.unlinked.get_column("reason").value_counts().sort("reason")
    rows[-1]["unlinked"] = ", ".join(f"{r}={n}" for r, n in unlinked.iter_rows())
    return rows


def _ingested(dicom_dir: Path, out_dir: Path) -> dict[str, pl.DataFrame]:
    """The ingest stage's own tables for the generated tree (identified mode, no pseudonyms)."""
    from xrf_assets.core.ingest.privacy import PrivacySettings
    from xrf_assets.core.ingest.rooms import RoomDirectory
    from xrf_assets.core.ingest.run import IngestSettings, run_ingest
    from xrf_assets.core.store import TableStore

    store = TableStore(out_dir)
    settings = IngestSettings(
        input_dir=dicom_dir, rooms=RoomDirectory(), privacy=PrivacySettings(mode="identified")
    )
    run_ingest(settings, store, logging.getLogger("bench_linking"))
    return {t: store.read(t) for t in ("images", "irradiation_events", "event_image_refs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=25, help="studies per room")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-to-end", action="store_true", help="also link the ingested tables")
    args = parser.parse_args()

    rows: list[dict[str, object]] = []
    timings = []
    with tempfile.TemporaryDirectory(prefix="bench_linking_") as tmp:
        for k, (name, (rooms, goal)) in enumerate(SCENARIOS.items()):
            config = replace(SynthConfig.demo(args.seed + k), rooms=rooms()).scaled(args.studies)
            config = replace(config, non_dicom_files=0, truncated_files=0, other_dicom_files=0)
            out = Path(tmp) / f"s{k}"
            truth = generate(out, config)
            eligible = eligible_method(truth.images, truth.event_image_refs, truth.links)
            start = time.perf_counter()
            result = link_images(truth.images, truth.irradiation_events, truth.event_image_refs)
            timings.append((name, truth.images.height, time.perf_counter() - start))
            rows += [r | {"goal": goal} for r in score(name, result, truth.links, eligible)]
            if args.end_to_end:
                tables = _ingested(out / "dicom", out / "tables")
                result = link_images(
                    tables["images"], tables["irradiation_events"], tables["event_image_refs"]
                )
                e2e = score(f"{name} [end-to-end]", result, truth.links, eligible)
                rows += [r | {"goal": goal} for r in e2e]

    table = pl.DataFrame(rows)
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=250,
        fmt_str_lengths=60,
        tbl_hide_dataframe_shape=True,
    ):
        print(table)
    for name, n, seconds in timings:
        print(f"linking time, {name}: {n} images in {seconds:.2f} s")


if __name__ == "__main__":
    main()
