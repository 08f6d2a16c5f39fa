"""The ingest plan: which files a run reads and which file rows it marks without reading."""

from __future__ import annotations

from typing import Any

import polars as pl

from xrf_assets.core.ingest.discovery import Discovery, FoundFile, Unreadable
from xrf_assets.core.ingest.run import _file_rows, _plan


def _row(path: str, size: int | None, mtime: int, present: bool, **more: Any) -> dict[str, Any]:
    return {
        "path": path,
        "size_bytes": size,
        "mtime_ns": mtime,
        "kind": "image",
        "status": "ok",
        "present": present,
        "data_seg": 1,
        **more,
    }


STATE = _file_rows(
    [
        _row("a.dcm", 100, 1_000, True),  # unchanged
        _row("b.dcm", 100, 1_000, True),  # touched since: new mtime
        _row("c.dcm", 100, 1_000, True),  # gone
        _row("d.dcm", 200, 2_000, False),  # gone in an earlier run, back unchanged
        _row("e.dcm", 200, 2_000, False),  # gone, back changed
        _row("g.dcm", 300, 3_000, True),  # gone, it was rejected
        _row(
            "pipe",
            None,
            5_000,
            True,
            kind="unknown",
            status="ignored",
            reason="a FIFO (named pipe): not read",
        ),
    ]
)
WALK = Discovery(
    files=(
        FoundFile("a.dcm", 100, 1_000),
        FoundFile("b.dcm", 100, 1_001),
        FoundFile("d.dcm", 200, 2_000),
        FoundFile("e.dcm", 201, 2_000),
        FoundFile("f.dcm", 50, 500),  # new
    ),
    unreadable=(
        Unreadable("pipe", "ignored", "a FIFO (named pipe): not read", mtime_ns=5_000),
        Unreadable("sock", "ignored", "a socket: not read", mtime_ns=6_000),  # new
    ),
)


def _marks(plan_markers: pl.DataFrame) -> list[tuple[str, bool, int | None]]:
    return sorted(plan_markers.select("path", "present", "data_seg").iter_rows())


def test_reads_new_and_changed_marks_gone_back_and_new_unreadable() -> None:
    plan = _plan(WALK, STATE, False, str.upper)
    assert [f.path for f in plan.to_read] == ["b.dcm", "e.dcm", "f.dcm"]
    assert plan.unchanged == 2  # a.dcm and the FIFO
    # d.dcm comes back with its staged rows (segment 1); sock is new; c.dcm and g.dcm are gone
    assert _marks(plan.markers) == [
        ("c.dcm", False, 1),
        ("d.dcm", True, 1),
        ("g.dcm", False, 1),
        ("sock", True, None),
    ]
    gone = plan.markers.filter(pl.col("path") == "c.dcm").row(0, named=True)
    assert (gone["size_bytes"], gone["mtime_ns"], gone["status"]) == (100, 1_000, "ok")
    assert plan.markers.schema == STATE.schema


def test_full_rebuild_reads_every_file() -> None:
    plan = _plan(WALK, STATE, True, str.upper)
    assert [f.path for f in plan.to_read] == ["a.dcm", "b.dcm", "d.dcm", "e.dcm", "f.dcm"]
    assert plan.unchanged == 1  # the FIFO: nothing to read there
    assert _marks(plan.markers) == [("c.dcm", False, 1), ("g.dcm", False, 1), ("sock", True, None)]


def test_first_run_reads_everything_and_marks_the_unreadable() -> None:
    plan = _plan(WALK, STATE.clear(), False, str.upper)
    assert len(plan.to_read) == 5 and plan.unchanged == 0
    assert _marks(plan.markers) == [("pipe", True, None), ("sock", True, None)]
