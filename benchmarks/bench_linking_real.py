"""Time-window linking on real event timing (issue #11): precision, recall per variant, offset.

For every irradiation event of the real fluoroscopy reports in ``--corpus`` (read by the project's
extractor) an XA image is made as a device without UID references writes it
(``xrf_assets.synth.real_timing``), in three variants (every event imaged with fingerprints;
acquisitions plus one fluoroscopy event in three; times only), through an image clock offset of
-300, -20, 0, +5, +45, +120 and +3600 s and a clock drifting by 30 s over the day. The image and
event tables go straight to ``link_images``; with ``--end-to-end`` one variant is also written as
DICOM files beside copies of the real reports in a temporary tree and ingested by the pipeline's own
reader, and scored the same way.

precision = correct links / links; recall = correct links / true pairs (one per image).
Goals: precision >= 0.995 everywhere; with fingerprints recall >= 0.95 for |offset| <= 300 s and
>= 0.9 at +3600 s; times only recall >= 0.8 at 0 s.

    .venv/bin/python benchmarks/bench_linking_real.py [--corpus DIR] [--end-to-end]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

from xrf_assets.core.linking.links import LinkResult, link_images
from xrf_assets.core.store import frame_from_rows
from xrf_assets.synth.real_timing import (
    PAIR,
    VARIANTS,
    Case,
    Offset,
    build_case,
    constant,
    drifting,
    real_report_events,
    write_images,
    write_rooms_file,
)

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "openrem"
COPIES = {"RF-RDSR-Siemens-Zee_adjusted.dcm"}  # RF-RDSR-Siemens-Zee.dcm, shifted study date only
OFFSETS: dict[str, Offset] = {
    **{f"{s:+d} s": constant(float(s)) for s in (-300, -20, 0, 5, 45, 120, 3600)},
    "drift 30 s/day": drifting(0.0, 30.0),
}


def score(case: Case, result: LinkResult) -> dict[str, object]:
    links = result.links.select(PAIR)
    correct = links.join(case.truth, on=PAIR, how="semi").height
    reasons = result.unlinked.get_column("reason").value_counts().sort("reason")
    return {
        "images": case.images.height,
        "links": links.height,
        "correct": correct,
        "precision": round(correct / links.height, 4) if links.height else None,
        "recall": round(correct / case.truth.height, 4) if case.truth.height else None,
        "unlinked": ", ".join(f"{r}={n}" for r, n in reasons.iter_rows()),
    }


def _ingested(tree: Path, out: Path, rooms_file: Path) -> dict[str, pl.DataFrame]:
    from xrf_assets.core.ingest.privacy import PrivacySettings
    from xrf_assets.core.ingest.rooms import RoomDirectory
    from xrf_assets.core.ingest.run import IngestSettings, run_ingest
    from xrf_assets.core.store import TableStore

    store = TableStore(out)
    settings = IngestSettings(
        input_dir=tree,
        rooms=RoomDirectory.from_yaml(rooms_file),
        privacy=PrivacySettings(mode="identified"),
    )
    run_ingest(settings, store, logging.getLogger("bench_linking_real"))
    return {t: store.read(t) for t in ("images", "irradiation_events", "event_image_refs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-to-end", action="store_true", help="also via DICOM files + ingest")
    args = parser.parse_args()

    reports = real_report_events(args.corpus.resolve())
    # A copy of a report with unchanged event times and scope of accumulation holds events no
    # image can tell from the original's.
    usable = {n: e for n, e in reports.items() if n not in COPIES}
    print(
        f"reports: {len(usable)} ({sum(e.height for e in usable.values())} events): "
        + ", ".join(usable)
    )
    skipped = sorted(set(reports) - set(usable))
    print(f"left out (a copy of another report): {', '.join(skipped) or '-'}")
    no_refs = frame_from_rows("event_image_refs", [])
    rows = []
    started = time.perf_counter()
    for variant in VARIANTS:
        for label, offset in OFFSETS.items():
            case = build_case(usable.values(), variant, offset, args.seed)
            result = link_images(case.images, case.events, no_refs)
            rows.append({"variant": variant, "offset": label, **score(case, result)})
    seconds = time.perf_counter() - started
    if args.end_to_end:
        variant, label = "fingerprints", "+45 s"
        case = build_case(usable.values(), variant, OFFSETS[label], args.seed)
        with tempfile.TemporaryDirectory(prefix="bench_linking_real_") as tmp:
            tree = Path(tmp) / "dicom"
            write_images(case.images, tree / "images")
            (tree / "reports").mkdir()
            for name in usable:
                shutil.copy(args.corpus / name, tree / "reports" / name)
            # images never carry the Device Observer UID a report names its room by: the site's
            # rooms file joins them, as a user's would
            rooms = Path(tmp) / "rooms.yaml"
            write_rooms_file(case.events, rooms)
            tables = _ingested(tree, Path(tmp) / "tables", rooms)
        result = link_images(
            tables["images"], tables["irradiation_events"], tables["event_image_refs"]
        )
        rows.append({"variant": f"{variant} [end-to-end]", "offset": label, **score(case, result)})

    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=200,
        fmt_str_lengths=70,
        tbl_hide_dataframe_shape=True,
    ):
        print(pl.DataFrame(rows))
    print(f"linking time: {len(VARIANTS) * len(OFFSETS)} cases in {seconds:.2f} s")


if __name__ == "__main__":
    main()
