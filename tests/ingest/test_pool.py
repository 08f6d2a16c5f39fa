"""Reading in worker processes: same outcomes as inline, and a worker's death costs one file.

No real file makes pydicom kill its process, so death is injected through the privacy settings
(applied once per image row in the worker): the pool's recovery is the code under test, not the
reader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from xrf_assets.core.dicom.sop_classes import XA_IMAGE
from xrf_assets.core.ingest.pool import WORKER_DIED, ReaderPoolError, read_batches
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.read_file import ReaderContext
from xrf_assets.core.ingest.staging import ROW_TABLES, row_schema

PRIVACY = PrivacySettings("identified")


class DeadlyPrivacy(PrivacySettings):
    """Kills the worker process on the image of the station named KILLER (fault injection)."""

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("station_name") == "KILLER":
            os._exit(3)
        return super().apply(row)


def _refuse() -> PrivacySettings:
    raise RuntimeError("cannot be loaded here")


class UnloadablePrivacy(PrivacySettings):
    """Pickles, but cannot be unpickled: every worker dies while starting."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_refuse, ())


def write_images(root: Path, stations: list[str]) -> list[str]:
    names = []
    for i, station in enumerate(stations):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = XA_IMAGE
        ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{i}"
        ds.SOPClassUID, ds.SOPInstanceUID, ds.StationName = XA_IMAGE, f"1.2.3.{i}", station
        ds.Rows = ds.Columns = 2
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 8, 8, 7, 1
        ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
        ds.PixelData = bytes(4)
        names.append(f"img{i:02d}.dcm")
        ds.save_as(root / names[-1], enforce_file_format=True)
    return names


def test_pool_gives_the_inline_outcomes_in_order_and_in_batches(tmp_path: Path) -> None:
    paths = write_images(tmp_path, [f"ST{i}" for i in range(7)])
    ctx = ReaderContext(tmp_path, PRIVACY)
    inline = list(read_batches(ctx, paths, workers=1, batch_size=3))
    pooled = list(read_batches(ctx, paths, workers=2, batch_size=3))  # chunks of one file
    assert [len(b.outcomes) for b in pooled] == [3, 3, 1]
    assert [b.outcomes for b in pooled] == [b.outcomes for b in inline]
    for p, i in zip(pooled, inline, strict=True):
        assert p.frames.keys() == i.frames.keys() == set(ROW_TABLES)
        for table, frame in p.frames.items():
            assert_frame_equal(frame, i.frames[table])
            assert frame.schema == row_schema(table)
    assert all(o.rows == {} for b in pooled for o in b.outcomes)  # the rows are in the frames
    stations = pl.concat(b.frames["images"] for b in pooled).get_column("station_name")
    assert stations.to_list() == [f"ST{i}" for i in range(7)]


def test_a_worker_killed_by_a_file_costs_only_that_file(tmp_path: Path) -> None:
    paths = write_images(tmp_path, ["A", "B", "KILLER", "C", "D", "E"])
    ctx = ReaderContext(tmp_path, DeadlyPrivacy("identified"))
    batches = list(read_batches(ctx, paths, workers=2, batch_size=4))
    outcomes = {o.path: (o.status, o.reason) for b in batches for o in b.outcomes}
    assert outcomes.pop("img02.dcm") == ("rejected", WORKER_DIED)
    assert set(outcomes.values()) == {("ok", None)}
    assert [len(b.outcomes) for b in batches] == [4, 2]
    assert [b.frames["images"].height for b in batches] == [3, 2]  # all but the killer's


def test_workers_that_cannot_start_stop_the_run(tmp_path: Path) -> None:
    paths = write_images(tmp_path, ["A", "B"])
    ctx = ReaderContext(tmp_path, UnloadablePrivacy("identified"))
    with pytest.raises(ReaderPoolError, match="before reading any file"):
        list(read_batches(ctx, paths, workers=2, batch_size=2))


def test_the_fork_server_ends_without_its_teardown_when_its_caller_exits(tmp_path: Path) -> None:
    """The server shares the caller's stdout: a pipe reading the run's output gets its end when
    the caller exits, not after the server has torn its imports down (exit handlers included)."""
    marker = tmp_path / "teardown_ran"
    (tmp_path / "exit_marker.py").write_text(
        f"import atexit, pathlib\natexit.register(pathlib.Path({str(marker)!r}).touch)\n"
    )
    script = (
        "from xrf_assets.core.ingest.pool import start_reader_server\n"
        "if __name__ == '__main__':\n"
        "    start_reader_server(also=['exit_marker'])\n"
        "    from multiprocessing import forkserver\n"
        "    print(forkserver._forkserver._forkserver_pid, flush=True)\n"
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    assert done.stdout.strip().isdigit()  # the server ran, and its stdout has closed
    assert not marker.exists()  # with no teardown run before


def test_the_fork_servers_children_inherit_a_frozen_heap() -> None:
    """Readers and audit workers never walk what the server imported in their collections. In
    a fresh process: the fork server of this one may have been started with other preloads."""
    script = (
        "import gc\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from xrf_assets.core.ingest.pool import SERVER\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(1, mp_context=SERVER) as pool:\n"
        "        print(pool.submit(gc.get_freeze_count).result(), gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    in_child, in_caller = map(int, done.stdout.split())
    assert in_child > 10_000  # the reader's imports: pydicom, polars
    assert in_caller == 0  # the caller's heap is its own affair
