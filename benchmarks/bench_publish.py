"""Publish benchmark (issue 17): peak RSS and CPU of the ingest's publish alone, up to 1M files.

No 1M corpus is needed: bench_scale's template corpus (about 1,000 files) is ingested once, and
its staged rows are tiled into a staging of ``N`` files. Copy ``k`` has ``.k`` after every path,
UID, patient ID and accession number (as bench_scale's ``tiled_tables`` does for the published
tables), so no copy duplicates another and the re-sent reports of a copy supersede within it. Each
size's staging is written in segments and compacted into one, as a first ingest leaves it.

The publish runs in its own process (bench_scale's ``measure``: peak RSS of its process tree by
``os.wait4``, CPU seconds with its imports), twice: ``publish`` with no tables yet, then
``republish`` over the tables it wrote (a re-run that publishes, which reads the previous
dicom_files to log new verdicts).

    nice -n 5 .venv/bin/python benchmarks/bench_publish.py [--sizes 100000,1000000]
        [--work data/publish]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import _UID_COLUMNS, KEY, _ingest, _template, measure

_SUFFIXED = {
    "files": ("path", "sop_instance_uid", "study_instance_uid"),
    **{t: (*c, "source_path") for t, c in _UID_COLUMNS.items()},
}
_SUFFIXED["images"] += ("accession_number",)
_SUFFIXED["irradiation_events"] += ("accession_number",)


def _copy(df, table: str, k: int):
    import polars as pl

    suffix = f".{k}"
    exprs = [pl.col(c) + suffix for c in _SUFFIXED[table] if c in df.columns]
    if table == "images":
        exprs.append(pl.col("irradiation_event_uids").list.eval(pl.element() + suffix))
    return df.with_columns(exprs)


def build_staging(base: Path, target: Path, files: int, per_segment: int = 100) -> int:
    """A compacted staging of about ``files`` files under ``target``: ``base``'s tiled."""
    import polars as pl

    from xrf_assets.core.ingest.privacy import PrivacySettings
    from xrf_assets.core.ingest.staging import StagingArea

    fingerprint = PrivacySettings("pseudonymize", KEY).fingerprint
    with StagingArea(base, fingerprint).open() as area:
        staged = area.load()
    copies = math.ceil(files / staged.files.height)
    shutil.rmtree(target, ignore_errors=True)
    with StagingArea(target, fingerprint).open() as area:
        for start in range(0, copies, per_segment):
            ks = range(start, min(start + per_segment, copies))
            files_rows = pl.concat([_copy(staged.files, "files", k) for k in ks])
            rows = {t: pl.concat([_copy(df, t, k) for k in ks]) for t, df in staged.rows.items()}
            area.append(files_rows.with_columns(pl.lit(None, pl.Int64()).alias("data_seg")), rows)
        area.compact()
    return copies * staged.files.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="file counts")
    parser.add_argument("--template", type=int, default=1000, help="files of the ingested corpus")
    parser.add_argument("--work", type=Path, default=Path("data/publish"))
    parser.add_argument("--rebuild", action="store_true", help="tile the stagings again")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    work = args.work.resolve()
    base = work / "base"
    if not (base / "_state").is_dir():
        _ingest(_template(work, args.template), base)
    for n in sorted(int(s) for s in args.sizes.split(",") if s.strip()):
        output = work / str(n)
        if args.rebuild or not (output / "_state").is_dir():
            print(f"staging of {build_staging(base, output, n):,} files built", flush=True)
        for table in (*_UID_COLUMNS, "dicom_files"):
            shutil.rmtree(output / table, ignore_errors=True)
        for stage in ("publish", "republish"):
            figures = measure("publish", output, output)
            print(f"{n:>9} files  {stage:<10} {json.dumps(figures)}", flush=True)


if __name__ == "__main__":
    main()
