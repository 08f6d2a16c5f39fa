"""One read per file: every file of a tree sorted into rows, refusals with reasons, and the rest."""

from __future__ import annotations

import pickle
from pathlib import Path

import polars as pl
import pytest

from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.read_file import ReaderContext, read_one


@pytest.fixture(scope="module")
def corpus(small_corpus: tuple[Path, object]) -> Path:
    return small_corpus[0]


def _context(corpus: Path) -> ReaderContext:
    return ReaderContext(corpus / "dicom", PrivacySettings("identified"))


def test_every_file_of_the_tree_is_sorted(corpus: Path) -> None:
    files = pl.read_parquet(corpus / "truth" / "files.parquet")
    truth = pl.read_parquet(corpus / "truth" / "images.parquet")
    ctx = _context(corpus)
    outcomes = [read_one(ctx, p) for p in files["path"]]
    images = [r for o in outcomes for r in o.rows.get("images", [])]
    assert sorted(r["sop_instance_uid"] for r in images) == sorted(truth["sop_instance_uid"])
    refused = {o.path: o.reason for o in outcomes if o.status == "rejected"}
    assert sorted(refused) == sorted(files.filter(pl.col("status") == "rejected")["path"])
    assert all(
        str(reason).startswith(("truncated file: ", "not a DICOM instance: "))
        for reason in refused.values()
    )
    others = files.filter(pl.col("kind").is_in(["dose_report", "other"]))["path"].to_list()
    assert sorted(o.path for o in outcomes if o.kind in ("dose_report", "other")) == sorted(others)
    assert not [o.issues for o in outcomes if o.kind == "image" and o.issues]


def test_outcomes_travel_between_processes(corpus: Path) -> None:
    """Workers return outcomes by pickling: rows must survive the trip unchanged."""
    paths = pl.read_parquet(corpus / "truth" / "images.parquet")["source_path"][:5].to_list()
    ctx = _context(corpus)
    outcomes = [read_one(ctx, p) for p in paths]
    assert pickle.loads(pickle.dumps(outcomes)) == outcomes
    assert [o.rows["images"][0]["source_path"] for o in outcomes] == paths
