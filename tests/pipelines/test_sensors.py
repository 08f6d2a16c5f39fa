"""The new-files sensor: a run when files appear, change or disappear (also with old mtimes)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.test_utils import create_run_for_test

from pipelines.jobs import ingest_job
from pipelines.sensors import new_dicom_files, sensors
from xrf_assets.resources import XrfSettings

OLD = 978_307_200  # 2001-01-01, a file copied with its original time (cp -p, rsync -a)


@pytest.fixture(scope="module")
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "dicom"
    (root / "2026" / "10").mkdir(parents=True)
    (root / "2026" / "10" / "IM0001").write_bytes(b"x" * 200)
    return root


def _tick(root: Path, instance: DagsterInstance, cursor: str | None) -> SensorResult | SkipReason:
    settings = XrfSettings(input_dir=str(root), output_dir=str(root.parent / "out"))
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"settings": settings}
    )
    return new_dicom_files(context)


def _requests(result: SensorResult | SkipReason) -> int:
    return len(result.run_requests or []) if isinstance(result, SensorResult) else 0


def test_first_tick_requests_an_ingest_and_an_unchanged_tree_none(
    tree: Path, instance: DagsterInstance
) -> None:
    first = _tick(tree, instance, None)
    assert isinstance(first, SensorResult) and _requests(first) == 1
    assert first.run_requests[0].tags["xrf/files"] == "1"
    again = _tick(tree, instance, first.cursor)
    assert isinstance(again, SkipReason)
    assert "no file" in (again.skip_message or "")


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "2026" / "10" / "IM0002").write_bytes(b"new"),
        lambda root: os.utime(_copy_old(root), (OLD, OLD)),
        lambda root: (root / "2026" / "10" / "IM0001").write_bytes(b"y" * 300),
        lambda root: (root / "2026" / "10" / "IM0001").unlink(),
    ],
    ids=["new file", "copied with an old mtime", "rewritten", "removed"],
)
def test_a_change_under_the_root_requests_a_run(
    tree: Path, instance: DagsterInstance, change
) -> None:
    cursor = _tick(tree, instance, None).cursor
    change(tree)
    result = _tick(tree, instance, cursor)
    assert _requests(result) == 1
    assert result.cursor != cursor


def _copy_old(root: Path) -> Path:
    target = root / "2019" / "archive" / "IM9999"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old study")
    return target


def test_no_run_while_an_ingest_is_active_and_the_change_is_kept_for_later(tree: Path) -> None:
    with instance_for_test() as busy:
        cursor = _tick(tree, busy, None).cursor
        (tree / "IM0003").write_bytes(b"arriving")
        run = create_run_for_test(busy, job_name=ingest_job.name, status=DagsterRunStatus.STARTED)
        result = _tick(tree, busy, cursor)
        assert isinstance(result, SkipReason) and "ingest run" in (result.skip_message or "")
        busy.delete_run(run.run_id)  # the run is over; the cursor was not moved
        assert _requests(_tick(tree, busy, cursor)) == 1


def test_a_missing_input_folder_is_skipped_with_its_name(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    result = _tick(tmp_path / "absent", instance, None)
    assert isinstance(result, SkipReason) and "absent" in (result.skip_message or "")


def test_sensor_targets_the_ingest_job() -> None:
    assert sensors == [new_dicom_files]
    assert new_dicom_files.job_name == ingest_job.name
