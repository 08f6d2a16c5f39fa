"""A batch of files -> image rows, refusals with reasons, and the other DICOM files set aside."""

from __future__ import annotations

import pickle
from pathlib import Path

import polars as pl
import pytest

from xrf_assets.core.image_files import extract_image_files
from xrf_assets.core.rooms import RoomDirectory


@pytest.fixture(scope="module")
def corpus(small_corpus: tuple[Path, object]) -> Path:
    return small_corpus[0]


def test_batch_sorts_every_file_of_the_tree(corpus: Path) -> None:
    files = pl.read_parquet(corpus / "truth" / "files.parquet")
    truth = pl.read_parquet(corpus / "truth" / "images.parquet")
    batch = extract_image_files(files["path"].to_list(), corpus / "dicom", RoomDirectory())
    assert sorted(r["sop_instance_uid"] for r in batch.rows) == sorted(truth["sop_instance_uid"])
    refused = files.filter(pl.col("status") == "rejected")["path"].to_list()
    assert sorted(batch.refused) == sorted(refused)
    assert all(
        reason.startswith(("truncated file: ", "not a DICOM instance: "))
        for reason in batch.refused.values()
    )
    others = files.filter(pl.col("kind").is_in(["dose_report", "other"]))["path"].to_list()
    assert sorted(batch.not_images) == sorted(others)
    assert batch.problems == {}


def test_batch_travels_between_processes(corpus: Path) -> None:
    """Workers return batches by pickling: rows must survive the trip unchanged."""
    paths = pl.read_parquet(corpus / "truth" / "images.parquet")["source_path"][:5].to_list()
    batch = extract_image_files(paths, corpus / "dicom", RoomDirectory())
    assert pickle.loads(pickle.dumps(batch)) == batch
    assert [r["source_path"] for r in batch.rows] == paths
