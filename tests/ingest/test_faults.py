"""Faults of real archives on real reports: damaged newer copies, files left by kills, a full
disk, and who may read what is written."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pydicom
import pytest
from builders.corpus import corpus_file
from polars.testing import assert_frame_equal
from pydicom.sequence import Sequence

from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import TABLES, IngestSettings, run_ingest
from xrf_assets.core.store import TableStore

ZEE = "RF-RDSR-Siemens-Zee.dcm"  # 8 events
IDENTIFIED = PrivacySettings("identified")
OLD, NEW = 1_700_000_000, 1_700_086_400  # mtimes: the copy is a day newer


def ingest(root: Path, out: Path) -> dict[str, pl.DataFrame]:
    settings = IngestSettings(root, RoomDirectory(), IDENTIFIED, workers=1)
    run_ingest(settings, TableStore(out), logging.getLogger("faults"))
    return {t: TableStore(out).read(t) for t in TABLES}


def place(root: Path, name: str, data: bytes, mtime: int) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def status(tables: dict[str, pl.DataFrame]) -> dict[str, tuple[str, str | None]]:
    files = tables["dicom_files"]
    return {r["path"]: (r["status"], r["reason"]) for r in files.iter_rows(named=True)}


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    root = tmp_path_factory.mktemp("original") / "in"
    place(root, "a/zee.dcm", corpus_file(ZEE).read_bytes(), OLD)
    return ingest(root, root.parent / "out")


def emptied_copy(event_number: int) -> bytes:
    """The report with the Content Sequence of one event container (113706) emptied."""
    ds = pydicom.dcmread(corpus_file(ZEE))
    events = [
        item for item in ds.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue == "113706"
    ]
    events[event_number - 1].ContentSequence = Sequence([])
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"emptied-{os.getpid()}.dcm"
    ds.save_as(path)
    data = path.read_bytes()
    path.unlink()
    return data


def test_a_truncated_newer_copy_does_not_replace_the_original(
    original: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    data = corpus_file(ZEE).read_bytes()
    place(tmp_path / "in", "a/zee.dcm", data, OLD)
    place(tmp_path / "in", "b/zee-copy.dcm", data[: len(data) * 2 // 3], NEW)
    got = ingest(tmp_path / "in", tmp_path / "out")
    assert got["irradiation_events"].height == 8
    assert set(got["irradiation_events"]["source_path"]) == {"a/zee.dcm"}
    for table in ("irradiation_events", "accumulated_dose", "event_image_refs"):
        assert_frame_equal(got[table], original[table])
    assert status(got)["a/zee.dcm"] == ("ok", None)
    kind, reason = status(got)["b/zee-copy.dcm"]
    assert kind == "rejected" and reason is not None and reason.startswith("truncated file")


def test_a_newer_copy_with_an_emptied_event_loses_to_the_complete_original(
    original: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    place(tmp_path / "in", "a/zee.dcm", corpus_file(ZEE).read_bytes(), OLD)
    place(tmp_path / "in", "b/zee-copy.dcm", emptied_copy(3), NEW)
    got = ingest(tmp_path / "in", tmp_path / "out")
    for table in ("irradiation_events", "accumulated_dose", "event_image_refs"):
        assert_frame_equal(got[table], original[table])
    dap = got["irradiation_events"]["dap_gy_m2"].sum()
    assert dap == pytest.approx(original["irradiation_events"]["dap_gy_m2"].sum())
    kind, reason = status(got)["b/zee-copy.dcm"]
    assert kind == "duplicate"
    assert reason == (
        "same SOP Instance UID as 'a/zee.dcm', which is kept (read completely, while this copy "
        "lost content items)"
    )


def test_a_report_with_an_emptied_event_is_partial_and_no_event_is_invented(
    original: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    place(tmp_path / "in", "zee.dcm", emptied_copy(3), NEW)
    got = ingest(tmp_path / "in", tmp_path / "out")
    events = got["irradiation_events"]
    expected = original["irradiation_events"].sort("datetime_started")
    lost = expected.row(2, named=True)["irradiation_event_uid"]  # the third event, in time order
    assert events.height == 7
    assert set(events["irradiation_event_uid"]) == set(expected["irradiation_event_uid"]) - {lost}
    assert events.filter(pl.col("irradiation_event_uid").str.starts_with("missing")).height == 0
    assert status(got)["zee.dcm"] == (
        "partial",
        "partial report: 1 Irradiation Event X-Ray Data (113706) container(s) without content "
        "(113706[3]): no event taken; 7 irradiation events read, whatever the damaged part held "
        "is lost",
    )


def test_two_complete_copies_that_differ_newer_wins_and_the_conflict_is_listed(
    original: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    ds = pydicom.dcmread(corpus_file(ZEE))
    ds.StationName = "EDITED"
    path = tmp_path / "edited.dcm"
    ds.save_as(path)
    place(tmp_path / "in", "a/zee.dcm", corpus_file(ZEE).read_bytes(), OLD)
    place(tmp_path / "in", "b/zee-edited.dcm", path.read_bytes(), NEW)
    got = ingest(tmp_path / "in", tmp_path / "out")
    events = got["irradiation_events"]
    assert events.height == 8 and set(events["station_name"]) == {"EDITED"}
    assert set(events["source_path"]) == {"b/zee-edited.dcm"}
    kind, reason = status(got)["a/zee.dcm"]
    assert kind == "duplicate"
    assert reason == (
        "same SOP Instance UID as 'b/zee-edited.dcm', which is kept (newer file, or same time "
        "and first path); conflict: both copies read completely and differ in "
        "irradiation_events.station_name"  # room_id is assigned at publish, not staged
    )


def test_published_tables_follow_the_umask_and_the_state_is_private(tmp_path: Path) -> None:
    place(tmp_path / "in", "zee.dcm", corpus_file(ZEE).read_bytes(), OLD)
    old = os.umask(0o002)
    try:
        (tmp_path / "out" / "_state").mkdir(parents=True, mode=0o755)  # world-readable before
        ingest(tmp_path / "in", tmp_path / "out")
    finally:
        os.umask(old)
    store = TableStore(tmp_path / "out")
    for table in TABLES:
        assert store.path(table).stat().st_mode & 0o777 == 0o664, table  # group and BI can read
    state = tmp_path / "out" / "_state"
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / ".lock").stat().st_mode & 0o777 == 0o600


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_what_a_killed_write_left_is_removed_by_the_next_run(tmp_path: Path) -> None:
    place(tmp_path / "in", "zee.dcm", corpus_file(ZEE).read_bytes(), OLD)
    out = tmp_path / "out"
    first = ingest(tmp_path / "in", out)
    pid = _dead_pid()
    left = [
        out / "images" / f".part-0.parquet.{pid}.0.tmp",  # a killed run's temporary table
        out / "irradiation_events" / ".part-0.parquet.x1y2z3.tmp",  # older mkstemp name
    ]
    for path in left:
        path.write_bytes(b"PAR1 half a table")
    (out / "_state" / "seg-00000099").mkdir()  # a segment no manifest names
    (out / "_state" / "seg-00000099" / "files.parquet").write_bytes(b"half")
    again = ingest(tmp_path / "in", out)
    assert not any(p.exists() for p in left)
    assert sorted(p.name for p in (out / "_state").iterdir() if p.is_dir()) == ["seg-00000001"]
    assert [p for p in out.rglob("*.tmp")] == []
    for table in TABLES:
        assert_frame_equal(again[table], first[table])


def test_a_full_disk_leaves_nothing_behind_and_the_next_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "in"
    place(root, "zee.dcm", corpus_file(ZEE).read_bytes(), OLD)
    base = tmp_path / "base"
    first = ingest(root, base)
    shutil.copy(corpus_file("RF-RDSR-GE.dcm"), root / "ge.dcm")  # new: read, staged, published
    real_write, real_sink = pl.DataFrame.write_parquet, pl.LazyFrame.sink_parquet
    writes = {"n": 0, "full_at": 0}

    def until_full(real: Any) -> Any:
        def write(self: Any, file: Any, *args: Any, **kw: Any) -> Any:
            writes["n"] += 1
            if writes["n"] == writes["full_at"]:
                Path(file).write_bytes(b"PAR1" + b"\0" * 4096)  # what fitted on the disk
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, file, *args, **kw)

        return write

    # 15 writes: the new file's segment (5), the merge of the segments (files written, 4 tables
    # streamed from the old segments), the tables (5)
    for full_at in (1, 5, 6, 7, 10, 11, 15):
        out = tmp_path / f"out-{full_at}"
        shutil.copytree(base, out)
        before = {p: p.read_bytes() for p in out.rglob("*.parquet")}
        writes.update(n=0, full_at=full_at)
        monkeypatch.setattr(pl.DataFrame, "write_parquet", until_full(real_write))
        monkeypatch.setattr(pl.LazyFrame, "sink_parquet", until_full(real_sink))
        with pytest.raises(OSError, match="No space left"):
            ingest(root, out)
        monkeypatch.setattr(pl.DataFrame, "write_parquet", real_write)
        monkeypatch.setattr(pl.LazyFrame, "sink_parquet", real_sink)
        assert [p for p in out.rglob("*.tmp")] == [], full_at
        named = json.loads((out / "_state" / "manifest.json").read_text())["segments"]
        on_disk = sorted(int(p.name[4:]) for p in (out / "_state").iterdir() if p.is_dir())
        assert on_disk == named, full_at  # no half-written segment keeps the disk full
        for table in TABLES:  # each published table is the old one, or the new one whole
            path = TableStore(out).path(table)
            assert path.read_bytes() == before[path] or pl.read_parquet(path).height > 0
        final = ingest(root, out)
        assert final["irradiation_events"].height == first["irradiation_events"].height + 8
        assert len([p for p in (out / "_state").iterdir() if p.is_dir()]) == 1
