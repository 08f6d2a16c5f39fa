"""The ingest job split into shards, each shard a separate step in its own process (Dagster's
multiprocess executor), gives the tables of a single-step run; re-runs read nothing, and a file
added to one shard is read by that shard alone."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from builders.jobs import multiprocess_ingest_job
from dagster import (
    AssetKey,
    DagsterEventType,
    ExecuteInProcessResult,
    execute_job,
    instance_for_test,
    reconstructable,
)
from polars.testing import assert_frame_equal

from pipelines.definitions import defs
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.publish import SORT_KEYS
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import TABLES, IngestSettings, run_ingest
from xrf_assets.core.ingest.shards import ShardLayout
from xrf_assets.core.store import TableStore
from xrf_assets.synth import GroundTruth

LAYOUT = ShardLayout(4, 2)  # ROOM/MONTH/: all four shards get files of the small corpus
# a superseded re-send and a copied image, moved into folders of other shards: their verdicts
# (superseded, duplicate) must be decided across shards
MOVED_REPORT = "CATHLAB1/202609/ACC003000002/SR01.dcm"
COPIED_IMAGE = "CATHLAB1/202609/ACC003000002/IMG0001.dcm"


def other_shard_folder(path: str, name: str) -> str:
    """A new ``<name>-N/<month>`` folder whose shard differs from that of ``path``."""
    month = path.split("/")[1]
    for n in range(100):
        folder = f"{name}-{n}/{month}"
        if LAYOUT.shard_of(folder) != LAYOUT.shard_of(path):
            return folder
    raise AssertionError("no folder in another shard")


@pytest.fixture(scope="module")
def tree(small_corpus: tuple[Path, GroundTruth], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small corpus, one superseded report moved and one image copied to other shards."""
    root = tmp_path_factory.mktemp("sharded") / "dicom"
    shutil.copytree(small_corpus[0] / "dicom", root)
    report = root / other_shard_folder(MOVED_REPORT, "REFILED") / "SR01.dcm"
    report.parent.mkdir(parents=True)
    shutil.move(root / MOVED_REPORT, report)
    image = root / other_shard_folder(COPIED_IMAGE, "COPIES") / "IMG0001.dcm"
    image.parent.mkdir(parents=True)
    shutil.copy2(root / COPIED_IMAGE, image)
    return root


def config(tree: Path, output: Path, shards: int) -> dict[str, Any]:
    settings = {
        "input_dir": str(tree),
        "output_dir": str(output),
        "privacy": "identified",
        "workers": 1,
        "ingest_shards": shards,
        "ingest_shard_depth": LAYOUT.depth,
    }
    return {"resources": {"settings": {"config": settings}}}


def tables(output: Path) -> dict[str, pl.DataFrame]:
    store = TableStore(output)
    return {t: store.read(t).sort(SORT_KEYS[t], nulls_last=True) for t in TABLES}


def files_read(result: ExecuteInProcessResult) -> int:
    """files_read of the dicom_files materialization of an ingest run."""
    (files,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey("dicom_files")
    ]
    return int(files.metadata["files_read"].value)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def single_step(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "out"
    settings = IngestSettings(tree, RoomDirectory(), PrivacySettings("identified"), workers=1)
    run_ingest(settings, TableStore(out), logging.getLogger("single"))
    return out


def test_sharded_steps_in_separate_processes_give_the_single_step_tables(
    tree: Path, single_step: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_config = config(tree, out, LAYOUT.count)
    # forkserver: each step process forks from one that has imported the code location
    run_config["execution"] = {
        "config": {
            "max_concurrent": 2,
            "start_method": {"forkserver": {"preload_modules": ["pipelines.definitions"]}},
        }
    }
    home = tmp_path / "dagster_home"  # a temporary DAGSTER_HOME: run storage, step outputs
    home.mkdir()
    telemetry_off = {"telemetry": {"enabled": False}}
    with instance_for_test(temp_dir=str(home), overrides=telemetry_off) as instance:
        result = execute_job(
            reconstructable(multiprocess_ingest_job), instance, run_config=run_config
        )
        assert result.success
        pids = {
            e.step_key: e.pid
            for e in result.all_events
            if e.event_type == DagsterEventType.STEP_SUCCESS and e.step_key
        }
        shard_steps = {k for k in pids if k.startswith("dicom_ingest.ingest_shard[")}
        assert shard_steps == {f"dicom_ingest.ingest_shard[shard_{k}]" for k in range(4)}
        assert len({pids[k] for k in shard_steps}) > 1  # the steps ran in their own processes
        assert result.dagster_run.job_name == "ingest"

    sharded, single = tables(out), tables(single_step)
    for t in TABLES:
        assert_frame_equal(sharded[t], single[t], check_row_order=True)
    status = dict(sharded["dicom_files"].select("path", "status").iter_rows())
    moved = f"{other_shard_folder(MOVED_REPORT, 'REFILED')}/SR01.dcm"
    copied = f"{other_shard_folder(COPIED_IMAGE, 'COPIES')}/IMG0001.dcm"
    assert status[moved] == "superseded"  # by the later re-send, staged by another shard
    assert {status[copied], status[COPIED_IMAGE]} == {"ok", "duplicate"}
    assert sharded["images"].height == 206  # the copy is counted once

    # each shard staged only its own files, and together every file
    staged = []
    for k in range(LAYOUT.count):
        for segment in (out / LAYOUT.folder(k)).glob("seg-*"):
            paths = pl.read_parquet(segment / "files.parquet").get_column("path").to_list()
            assert {LAYOUT.shard_of(p) for p in paths} == {k}
            staged += paths
    assert sorted(staged) == sorted(sharded["dicom_files"].get_column("path"))


def test_sharded_rerun_reads_nothing_and_a_new_file_is_read_by_its_shard_alone(
    tree: Path, single_step: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    shutil.copytree(tree, source)
    out = tmp_path / "out"
    job = defs.resolve_job_def("ingest")
    first = job.execute_in_process(run_config=config(source, out, LAYOUT.count))
    assert files_read(first) == 232 + 1  # the corpus and the copied image
    manifests = {k: out / LAYOUT.folder(k) / "manifest.json" for k in range(LAYOUT.count)}
    before = {k: m.stat().st_mtime_ns for k, m in manifests.items()}

    assert files_read(job.execute_in_process(run_config=config(source, out, LAYOUT.count))) == 0
    assert {k: m.stat().st_mtime_ns for k, m in manifests.items()} == before  # nothing staged

    new = "FLUORO3/202609/ACC003000013/IMG0003.dcm"
    shutil.copy2(source / "FLUORO3/202609/ACC003000013/IMG0001.dcm", source / new)
    again = job.execute_in_process(run_config=config(source, out, LAYOUT.count))
    assert files_read(again) == 1
    after = {k: m.stat().st_mtime_ns for k, m in manifests.items()}
    changed = {k for k in manifests if after[k] != before[k]}
    assert changed == {LAYOUT.shard_of(new)}  # only the new file's shard staged anything
    published = dict(tables(out)["dicom_files"].select("path", "status").iter_rows())
    assert published[new] == "duplicate"  # same SOP Instance UID as IMG0001 in the same study
