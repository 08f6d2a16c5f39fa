"""The ingest stage end to end: statuses against the generator's truth and the real corpus,
incremental runs, missing and moved files, idempotence, privacy, an untouched input tree."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from builders.corpus import CORPUS
from polars.testing import assert_frame_equal

from xrf_assets.assets.metadata import ingest_figures
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.publish import SORT_KEYS, publish
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import (
    TABLES,
    FileLines,
    IngestError,
    IngestSettings,
    IngestSummary,
    run_ingest,
)
from xrf_assets.core.ingest.staging import StagingArea, StateError
from xrf_assets.core.store import TableStore
from xrf_assets.synth import generate
from xrf_assets.synth.config import SynthConfig

IDENTIFIED = PrivacySettings("identified")
KEYED = PrivacySettings("pseudonymize", b"test key, sixteen bytes or more")
# Real reports small enough for fast tests, with their known event counts (SOURCES.md).
CORPUS_EVENTS = {
    "DX-RDSR-Canon_CXDI.dcm": 1,
    "DX-RDSR-Carestream_DRXEvolution.dcm": 5,
    "Dual-RDSR-DX.dcm": 1,
    "Dual-RDSR-RF.dcm": 4,
    "RF-RDSR-Philips_Allura.dcm": 3,
    "RF-RDSR-Siemens-Zee.dcm": 8,
    "RF-RDSR-Siemens-Zee_adjusted.dcm": 8,
}


def short_procedures(config: SynthConfig) -> SynthConfig:
    """Rooms doing only short procedures: few events per report, so the tests stay fast."""
    rooms = tuple(
        replace(r, procedures=("Hysterosalpingography", "Pacemaker implant")) for r in config.rooms
    )
    return replace(config, rooms=rooms)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated corpus (about 60 files, every kind of problem the generator makes)."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, short_procedures(SynthConfig.small(seed=7, studies_per_room=1)))
    return out


@pytest.fixture(scope="module")
def full_run(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full run over the corpus with the process pool: the reference for other runs."""
    out = tmp_path_factory.mktemp("full") / "out"
    ingest(synth / "dicom", out, workers=2, batch_size=40)
    return out


def ingest(
    input_dir: Path,
    output: Path,
    privacy: PrivacySettings = IDENTIFIED,
    log: logging.Logger | None = None,
    **kw: object,
) -> IngestSummary:
    settings = IngestSettings(input_dir, RoomDirectory(), privacy, **{"workers": 1, **kw})
    return run_ingest(settings, TableStore(output), log or logging.getLogger("test"))


def tables(output: Path) -> dict[str, pl.DataFrame]:
    store = TableStore(output)
    return {t: store.read(t).sort(SORT_KEYS[t], nulls_last=True) for t in TABLES}


def assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = tables(a), tables(b)
    for t in TABLES:
        assert_frame_equal(ta[t], tb[t], check_row_order=True)


def copy_tree(src: Path, dst: Path, paths: list[str] | None = None) -> None:
    """Copy files keeping their modification times (``copy2``), as an archive transfer would."""
    for rel in paths or [p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()]:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)


def test_statuses_and_rows_match_the_generator_truth(synth: Path, full_run: Path) -> None:
    got = tables(full_run)
    truth_files = pl.read_parquet(synth / "truth" / "files.parquet")
    assert_frame_equal(
        got["dicom_files"].select("path", "kind", "status"),
        truth_files.select("path", "kind", "status").sort("path"),
    )
    truth_images = pl.read_parquet(synth / "truth" / "images.parquet")
    assert sorted(got["images"]["sop_instance_uid"]) == sorted(truth_images["sop_instance_uid"])
    truth_events = pl.read_parquet(synth / "truth" / "irradiation_events.parquet")
    assert_frame_equal(
        got["irradiation_events"].select("irradiation_event_uid", "dap_gy_m2"),
        truth_events.select("irradiation_event_uid", "dap_gy_m2").sort("irradiation_event_uid"),
        rel_tol=1e-9,
    )
    rejected = got["dicom_files"].filter(pl.col("status") != "ok")
    assert rejected.filter(pl.col("reason").is_null()).height == 0


def test_tables_published_a_few_rows_at_a_time_are_the_same(full_run: Path) -> None:
    """At a million files each table is built in batches: in batches of 3 rows, every table of
    the corpus (duplicates, re-sent reports, every status) has the same rows in the same order."""
    store = TableStore(full_run)
    with StagingArea(full_run, IDENTIFIED.fingerprint).open() as area:
        batched = publish(area.scan(), RoomDirectory(), IDENTIFIED, batch_rows=3)
    for t in TABLES:
        assert store.read(t).height > 3
        assert_frame_equal(batched[t], store.read(t), check_row_order=True)


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Checksum and modification time of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_rerun_reads_nothing_and_changed_file_is_read_again(synth: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    copy_tree(synth / "dicom", src)
    before = snapshot(src)
    summary = ingest(src, tmp_path / "out")
    assert snapshot(src) == before  # the input tree is never written
    truth_files = pl.read_parquet(synth / "truth" / "files.parquet")
    assert summary.files_read == summary.files_seen == truth_files.height
    assert summary.by_status == dict(truth_files.group_by("status").len().iter_rows())
    assert summary.written["images"].rows == summary.by_kind["image"] - 2  # 2 truncated images
    first = tables(tmp_path / "out")
    again = ingest(src, tmp_path / "out")
    assert (again.files_read, again.files_unchanged) == (0, again.files_seen)
    for t in TABLES:
        assert_frame_equal(tables(tmp_path / "out")[t], first[t])
    image = next(src.rglob("IMG*.dcm"))
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 1_000_000_000))
    touched = ingest(src, tmp_path / "out")
    assert touched.files_read == 1
    assert_frame_equal(tables(tmp_path / "out")["images"], first["images"])


def test_rerun_with_nothing_new_keeps_the_tables_until_something_changes(
    synth: Path, tmp_path: Path
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    copy_tree(synth / "dicom", src)
    first = ingest(src, out)
    published = tables(out)
    paths = {t: TableStore(out).path(t) for t in TABLES}
    written = {t: p.stat().st_mtime_ns for t, p in paths.items()}
    again = ingest(src, out)
    assert again.files_read == 0
    assert {t: p.stat().st_mtime_ns for t, p in paths.items()} == written  # not written again
    assert (again.by_status, again.by_kind) == (first.by_status, first.by_kind)
    assert {t: w.rows for t, w in again.written.items()} == {
        t: w.rows for t, w in first.written.items()
    }
    paths["images"].unlink()  # a table removed (or replaced) by hand is published again
    ingest(src, out)
    assert TableStore(out).read("images").height == first.written["images"].rows
    image = next(src.rglob("IMG*.dcm"))
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 1_000_000_000))
    touched = ingest(src, out)  # read again and staged: published again
    assert touched.files_read == 1
    assert paths["dicom_files"].stat().st_mtime_ns != written["dicom_files"]
    now = tables(out)
    for t in TABLES:  # the same file read again: the same rows, but its new time
        assert_frame_equal(
            now[t].drop("mtime", strict=False), published[t].drop("mtime", strict=False)
        )


def test_editing_the_rooms_file_renames_rooms_without_reading_files(
    synth: Path, tmp_path: Path
) -> None:
    """Also the re-run that reads nothing but must publish: the rooms rules changed."""
    out = tmp_path / "out"
    ingest(synth / "dicom", out)
    ingest(synth / "dicom", out)  # nothing new, same rooms: the tables are kept
    rooms_file = tmp_path / "rooms.yaml"
    rooms_file.write_text(
        "rooms:\n  - name: Cath Lab 1\n    match:\n      - {station_name: CATHLAB1}\n"
    )
    settings = IngestSettings(synth / "dicom", RoomDirectory.from_yaml(rooms_file), IDENTIFIED)
    again = run_ingest(settings, TableStore(out), logging.getLogger("test"))
    assert again.files_read == 0
    for table in ("images", "irradiation_events"):
        df = TableStore(out).read(table)
        renamed = df.filter(pl.col("station_name") == "CATHLAB1")["room_id"].unique().to_list()
        assert renamed == ["Cath Lab 1"], table
        others = df.filter(pl.col("station_name") != "CATHLAB1")["room_id"]
        assert others.str.ends_with("|ANGIO2").sum() + others.str.ends_with("|FLUORO3").sum() == (
            others.len()
        )


def test_missing_and_moved_files(synth: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    copy_tree(synth / "dicom", src)
    ingest(src, tmp_path / "out")
    before = tables(tmp_path / "out")
    ok = before["dicom_files"].filter(pl.col("status") == "ok")
    gone, moved = ok.filter(pl.col("kind") == "image")["path"][:2]
    (src / gone).unlink()
    (src / "moved").mkdir()
    (src / moved).rename(src / "moved" / "x.dcm")
    summary = ingest(src, tmp_path / "out")
    assert summary.files_read == 1  # only the new path
    files = tables(tmp_path / "out")["dicom_files"]
    row = files.filter(pl.col("path") == gone).row(0, named=True)
    assert row["status"] == "missing" and "rows read from it are kept" in row["reason"]
    row = files.filter(pl.col("path") == moved).row(0, named=True)
    assert row["status"] == "missing" and "'moved/x.dcm'" in row["reason"]
    assert files.filter(pl.col("path") == "moved/x.dcm")["status"].to_list() == ["ok"]
    images = tables(tmp_path / "out")["images"]
    assert images.height == before["images"].height  # history is kept, nothing counted twice
    moved_uid = ok.filter(pl.col("path") == moved)["sop_instance_uid"][0]
    assert images.filter(pl.col("sop_instance_uid") == moved_uid)["source_path"][0] == "moved/x.dcm"


def test_incremental_runs_in_any_order_equal_one_full_run(
    synth: Path, full_run: Path, tmp_path: Path
) -> None:
    paths = sorted(
        p.relative_to(synth / "dicom").as_posix()
        for p in (synth / "dicom").rglob("*")
        if p.is_file()
    )
    orders = {"backward": paths[::-1], "interleaved": paths[1::2] + paths[::2]}
    for name, order in orders.items():
        src = tmp_path / name / "in"
        src.mkdir(parents=True)
        third = len(order) // 3
        for step in (order[:third], order[third : 2 * third], order[2 * third :]):
            copy_tree(synth / "dicom", src, step)
            ingest(src, tmp_path / name / "out", batch_size=7)
        assert_same_tables(full_run, tmp_path / name / "out")


def test_output_inside_the_input_is_refused(synth: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    with pytest.raises(IngestError, match="inside the input"):
        ingest(src, src / "out")
    assert list(src.iterdir()) == []
    with pytest.raises(IngestError, match="does not exist"):
        ingest(tmp_path / "nowhere", tmp_path / "out")


def _all_text(output: Path) -> str:
    """Every output file's bytes, and every Parquet value decoded (compression can hide bytes)."""
    parts = []
    for p in output.rglob("*"):
        if p.is_file():
            parts.append(p.read_bytes().decode("latin-1"))
            if p.suffix == ".parquet":
                parts.append(str(pq.read_table(p).to_pylist()))
    return "\n".join(parts)


def test_pseudonymize_leaves_no_identity_anywhere(synth: Path, tmp_path: Path) -> None:
    text = io.StringIO()
    log = logging.getLogger("test.privacy")
    log.addHandler(handler := logging.StreamHandler(text))
    log.setLevel(logging.DEBUG)
    try:
        summary = ingest(synth / "dicom", tmp_path / "out", KEYED, log, workers=2)
    finally:
        log.removeHandler(handler)
    truth = pl.read_parquet(synth / "truth" / "images.parquet")
    names = set(truth["patient_name"].drop_nulls())
    ids = set(truth["patient_id"].drop_nulls())
    births = set(truth["patient_birth_date"].drop_nulls())
    assert names and ids and births
    haystack = _all_text(tmp_path / "out") + text.getvalue() + str(ingest_figures(summary))
    for value in names | {part for n in names for part in n.split("^") if len(part) > 3}:
        assert value not in haystack
    for value in ids | births | {b.replace("-", "") for b in births}:
        assert value not in haystack
    images = tables(tmp_path / "out")["images"].sort("sop_instance_uid")
    expected = truth.sort("sop_instance_uid").with_columns(
        pl.col(c).map_elements(lambda v, c=c: KEYED.pseudonym(c, v), return_dtype=pl.String)
        for c in ("patient_id", "patient_name", "patient_birth_date")
    )
    assert_frame_equal(
        images.select("patient_id", "patient_name", "patient_birth_date", "patient_age_years"),
        expected.select("patient_id", "patient_name", "patient_birth_date", "patient_age_years"),
    )
    assert "pseudonymize" in ingest_figures(summary)["privacy"]


def test_other_privacy_settings_need_a_full_rebuild(
    synth: Path, full_run: Path, tmp_path: Path
) -> None:
    ingest(synth / "dicom", tmp_path / "out", KEYED)
    with pytest.raises(StateError, match="other privacy settings"):
        ingest(synth / "dicom", tmp_path / "out", IDENTIFIED)
    summary = ingest(synth / "dicom", tmp_path / "out", IDENTIFIED, full_rebuild=True)
    assert summary.files_read == summary.files_seen
    assert summary.privacy.startswith("identified")
    assert_same_tables(full_run, tmp_path / "out")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"real corpus not found at {CORPUS}")
def test_real_reports_known_events_and_reused_uid(tmp_path: Path) -> None:
    src = tmp_path / "in"
    copy_tree(CORPUS, src, [*CORPUS_EVENTS, "RF-ESR-Siemens-Varic.dcm"])
    # The _adjusted copy reuses the SOP Instance UID of the original: the newer file is kept.
    os.utime(src / "RF-RDSR-Siemens-Zee_adjusted.dcm", ns=(0, 1_000_000_000_000_000_000))
    os.utime(src / "RF-RDSR-Siemens-Zee.dcm", ns=(0, 1_100_000_000_000_000_000))
    ingest(src, tmp_path / "out")
    got = tables(tmp_path / "out")
    per_file = dict(got["irradiation_events"].group_by("source_path").len().iter_rows())
    assert per_file == {k: v for k, v in CORPUS_EVENTS.items() if "adjusted" not in k}
    files = {r["path"]: r for r in got["dicom_files"].iter_rows(named=True)}
    assert files["RF-RDSR-Siemens-Zee_adjusted.dcm"]["status"] == "duplicate"
    assert "'RF-RDSR-Siemens-Zee.dcm'" in files["RF-RDSR-Siemens-Zee_adjusted.dcm"]["reason"]
    assert "Study Instance UID" in files["RF-RDSR-Siemens-Zee_adjusted.dcm"]["reason"]
    varic = files["RF-ESR-Siemens-Varic.dcm"]
    assert (varic["kind"], varic["status"]) == ("dose_report", "rejected")
    assert "no irradiation events" in varic["reason"]
    assert got["accumulated_dose"].height == len(CORPUS_EVENTS) - 1


def test_report_superseded_by_a_later_run_is_marked_and_logged(
    synth: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truth = pl.read_parquet(synth / "truth" / "files.parquet")
    old = truth.filter(pl.col("status") == "superseded")["path"][0]
    folder = old.rsplit("/", 1)[0]
    later = [
        p
        for p in truth.filter(pl.col("kind") == "dose_report")["path"]
        if p.startswith(folder) and p > old
    ]
    assert later
    src = tmp_path / "in"
    copy_tree(synth / "dicom", src, [p for p in truth["path"] if p not in later])
    ingest(src, tmp_path / "out")
    status = tables(tmp_path / "out")["dicom_files"].filter(pl.col("path") == old)["status"]
    assert status.to_list() == ["ok"]
    copy_tree(synth / "dicom", src, later)
    with caplog.at_level(logging.INFO, logger="test"):
        summary = ingest(src, tmp_path / "out")
    assert summary.files_read == len(later)
    row = tables(tmp_path / "out")["dicom_files"].filter(pl.col("path") == old).row(0, named=True)
    assert row["status"] == "superseded"
    lines = [line for m in caplog.messages for line in m.splitlines()]
    assert any(line.startswith(f"superseded {old}: ") for line in lines)


def test_file_lines_are_one_message_per_level_with_a_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Dagster log message is a database commit: per-file lines go out grouped, warnings
    first, at most ``most`` lines a message."""
    log = logging.getLogger("file_lines")
    with caplog.at_level(logging.INFO, logger="file_lines"), FileLines(log, most=3) as lines:
        for k in range(4):
            lines.add(logging.INFO, f"issue in f{k}: odd")
        lines.add(logging.WARNING, "rejected g: truncated")
    got = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        (logging.INFO, "issue in f0: odd\nissue in f1: odd\nissue in f2: odd"),
        (logging.WARNING, "rejected g: truncated"),
        (logging.INFO, "issue in f3: odd"),
    ]
