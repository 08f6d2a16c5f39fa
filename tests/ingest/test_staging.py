"""The staging state: segments, manifest, pointers, orphans after a crash, lock, compaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from xrf_assets.core.ingest.staging import (
    StagingArea,
    StateError,
    empty_rows,
    files_schema,
    staged_frame,
)


def file_row(path: str, **kw: Any) -> dict[str, Any]:
    return {
        "path": path,
        "size_bytes": 10,
        "mtime_ns": 5,
        "kind": "image",
        "status": "ok",
        "sop_instance_uid": f"1.2.{len(path)}",
        "present": True,
        **kw,
    }


def files(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=files_schema(), strict=False)


def image_rows(*paths: str) -> dict[str, pl.DataFrame]:
    rows = empty_rows()
    rows["images"] = staged_frame(
        "images",
        [
            {
                "sop_instance_uid": f"1.2.{p}",
                "sop_class_uid": "1.2.840.10008.5.1.4.1.1.12.1",
                "irradiation_event_uids": [],
                "source_path": p,
            }
            for p in paths
        ],
    )
    return rows


def test_latest_segment_wins_and_missing_points_at_old_rows(tmp_path: Path) -> None:
    with StagingArea(tmp_path, "fp").open() as area:
        first = area.append(files(file_row("a"), file_row("b")), image_rows("a", "b"))
        area.append(files(file_row("b", size_bytes=11)), image_rows("b"))
        gone = area.files().filter(pl.col("path") == "a").with_columns(present=pl.lit(False))
        area.append(gone)
        state = area.load()
    assert state.files.select("path", "size_bytes", "present", "data_seg").rows() == [
        ("a", 10, False, first),
        ("b", 11, True, first + 1),
    ]
    assert sorted(state.rows["images"]["source_path"]) == ["a", "b"]


def test_compaction_keeps_the_same_state_in_one_segment(tmp_path: Path) -> None:
    with StagingArea(tmp_path, "fp").open() as area:
        for name in "abc":
            area.append(files(file_row(name)), image_rows(name))
        area.append(files(file_row("a", status="rejected", reason="broken")))
        before = area.load()
        area.compact()
        after = area.load()
    manifest = json.loads((tmp_path / "_state" / "manifest.json").read_text())
    assert len(manifest["segments"]) == 1
    assert [p.name for p in (tmp_path / "_state").iterdir() if p.is_dir()] == [
        f"seg-{manifest['segments'][0]:08d}"
    ]
    assert_frame_equal(before.files.drop("data_seg"), after.files.drop("data_seg"))
    for table, df in before.rows.items():
        assert_frame_equal(df.sort("source_path"), after.rows[table].sort("source_path"))
    assert sorted(after.rows["images"]["source_path"]) == ["b", "c"]  # a was re-read, broken


def test_a_segment_no_manifest_names_is_removed(tmp_path: Path) -> None:
    with StagingArea(tmp_path, "fp").open() as area:
        area.append(files(file_row("a")), image_rows("a"))
    # What a run killed between writing a segment and the manifest leaves behind:
    (tmp_path / "_state" / "seg-00000099").mkdir()
    (tmp_path / "_state" / ".manifest.json.tmp").write_text("{half")
    with StagingArea(tmp_path, "fp").open() as area:
        assert area.files()["path"].to_list() == ["a"]
    assert not (tmp_path / "_state" / "seg-00000099").exists()
    assert not (tmp_path / "_state" / ".manifest.json.tmp").exists()


def test_other_privacy_fingerprint_is_refused_or_reset(tmp_path: Path) -> None:
    with StagingArea(tmp_path, "key-1").open() as area:
        area.append(files(file_row("a")), image_rows("a"))
    with (
        pytest.raises(StateError, match="other privacy settings"),
        StagingArea(tmp_path, "key-2").open(),
    ):
        pass
    with StagingArea(tmp_path, "key-2").open(reset_on_mismatch=True) as area:
        assert area.was_reset and area.files().height == 0


def test_one_run_at_a_time(tmp_path: Path) -> None:
    with (
        StagingArea(tmp_path, "fp").open(),
        pytest.raises(StateError, match="another ingest"),
        StagingArea(tmp_path, "fp").open(),
    ):
        pass
