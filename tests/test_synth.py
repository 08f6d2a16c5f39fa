"""The synthetic corpus: its files are valid DICOM, its truth is exact, its knobs do what they say.

Checks read the written files back with pydicom (independently of the generator's plan) and
compare them with the truth frames every other test relies on.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pydicom
import pytest
from polars.testing import assert_frame_equal
from pydicom.errors import InvalidDicomError

from xrf_assets.core.store import validate
from xrf_assets.synth import GroundTruth, SynthConfig, default_rooms, generate
from xrf_assets.synth.scenarios import CorpusPlanner

DCIODVFY = shutil.which("dciodvfy")
CONTRACT_TABLES = ("images", "irradiation_events", "accumulated_dose", "event_image_refs")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("synth")
    return out, generate(out, SynthConfig.small(seed=7))


def _walk(items: Any) -> Any:
    for item in items:
        yield item
        if "ContentSequence" in item:
            yield from _walk(item.ContentSequence)


def _code(item: Any) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _children(item: Any, code: str) -> list[Any]:
    return [c for c in item.get("ContentSequence", []) if _code(c) == code]


def _num(item: Any, code: str) -> Decimal:
    (child,) = _children(item, code)
    return Decimal(child.MeasuredValueSequence[0].NumericValue.original_string)


def _read(out: Path, path: str) -> pydicom.Dataset:
    return pydicom.dcmread(out / "dicom" / path, stop_before_pixels=True)


def _room(truth: GroundTruth, name: str) -> dict[str, Any]:
    return truth.rooms.filter(pl.col("name") == name).row(0, named=True)


def test_same_seed_gives_same_bytes(tmp_path: Path) -> None:
    config = SynthConfig.small(seed=3, studies_per_room=2)
    a, b = generate(tmp_path / "a", config), generate(tmp_path / "b", config)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.dcm"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.dcm"))
    assert files_a == files_b and len(files_a) > 50
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    for name, frame in a.frames().items():
        assert_frame_equal(frame, b.frames()[name])
        assert_frame_equal(frame, pl.read_parquet(tmp_path / "b" / "truth" / f"{name}.parquet"))


def test_another_seed_gives_other_uids(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", SynthConfig.small(seed=1, studies_per_room=1))
    b = generate(tmp_path / "b", SynthConfig.small(seed=2, studies_per_room=1))
    assert not set(a.images["sop_instance_uid"]) & set(b.images["sop_instance_uid"])


def test_truth_tables_follow_their_contracts(corpus: tuple[Path, GroundTruth]) -> None:
    _, truth = corpus
    for table in CONTRACT_TABLES:
        validate(table, truth.frames()[table])
    assert (
        truth.images.height
        == truth.files.filter((pl.col("kind") == "image") & (pl.col("status") == "ok")).height
    )


def test_every_truth_path_exists_and_every_file_is_in_truth(
    corpus: tuple[Path, GroundTruth],
) -> None:
    out, truth = corpus
    on_disk = {
        p.relative_to(out / "dicom").as_posix() for p in (out / "dicom").rglob("*") if p.is_file()
    }
    assert on_disk == set(truth.files["path"])
    assert set(truth.images["source_path"]) <= on_disk
    assert set(truth.irradiation_events["source_path"]) <= on_disk


def test_report_totals_are_exact_sums_of_its_events(corpus: tuple[Path, GroundTruth]) -> None:
    """Per plane, TID 10002/10004 totals are the sums of the TID 10003 events in the file."""
    out, truth = corpus
    reports = truth.files.filter(pl.col("kind") == "dose_report")["path"]
    sums = {"113722": "122130", "113725": "113738"}
    for path in reports:
        ds = _read(out, path)
        events = _children(ds, "113706")
        assert events
        for acc in _children(ds, "113702"):
            plane = _children(acc, "113764")[0].ConceptCodeSequence[0].CodeValue
            mine = [
                e
                for e in events
                if _children(e, "113764")[0].ConceptCodeSequence[0].CodeValue == plane
            ]
            for total, each in sums.items():
                assert _num(acc, total) == sum((_num(e, each) for e in mine), Decimal(0)), path
            fluoro = [
                e
                for e in mine
                if _children(e, "113721")[0].ConceptCodeSequence[0].CodeValue == "44491008"
            ]
            assert _num(acc, "113730") == sum((_num(e, "113742") for e in fluoro), Decimal(0))


def test_truth_totals_match_truth_events(corpus: tuple[Path, GroundTruth]) -> None:
    _, truth = corpus
    sums = truth.irradiation_events.group_by("report_sop_instance_uid", "acquisition_plane").agg(
        pl.col("dap_gy_m2").sum().alias("dap"), pl.col("dose_rp_gy").sum().alias("dose")
    )
    joined = truth.accumulated_dose.join(
        sums, on=["report_sop_instance_uid", "acquisition_plane"], how="left"
    ).fill_null(0.0)
    assert joined.height == truth.accumulated_dose.height
    assert ((joined["dap_total_gy_m2"] - joined["dap"]).abs() < 1e-12).all()
    assert ((joined["dose_rp_total_gy"] - joined["dose"]).abs() < 1e-12).all()
    studies = truth.irradiation_events.group_by("study_instance_uid").agg(
        pl.col("dap_gy_m2").sum().alias("dap"), pl.len().alias("n")
    )
    both = truth.studies.join(studies, on="study_instance_uid")
    assert both.height == truth.studies.height
    assert (both["n"] == both["n_events"]).all()
    assert ((both["dap"] - both["dap_total_gy_m2"]).abs() < 1e-12).all()


def test_event_values_in_truth_are_those_in_the_file(corpus: tuple[Path, GroundTruth]) -> None:
    out, truth = corpus
    columns = {
        "122130": "dap_gy_m2",
        "113738": "dose_rp_gy",
        "113733": "kvp_kv",
        "113742": "irradiation_duration_s",
        "113734": "tube_current_ma",
    }
    by_uid = {r["irradiation_event_uid"]: r for r in truth.irradiation_events.iter_rows(named=True)}
    for path in truth.irradiation_events["source_path"].unique().sort()[:6]:
        for event in _children(_read(out, path), "113706"):
            row = by_uid.pop(_children(event, "113769")[0].UID)
            for code, column in columns.items():
                assert float(_num(event, code)) == row[column]
            started = _children(event, "111526")[0].DateTime
            assert datetime.strptime(started[:21], "%Y%m%d%H%M%S.%f") == row["datetime_started"]


def test_image_dap_is_its_event_dap(corpus: tuple[Path, GroundTruth]) -> None:
    """(0018,115E) in dGy.cm2 is the DAP of the event that made the image, times 1e5."""
    out, truth = corpus
    event_dap = dict(truth.irradiation_events.select("irradiation_event_uid", "dap_gy_m2").rows())
    own = truth.links.join(
        truth.images.select("sop_instance_uid", "source_path", "dap_gy_m2"), on="sop_instance_uid"
    )
    checked = 0
    for uid, _, path, dap in own.rows():
        ds = _read(out, path)
        header = Decimal(ds.ImageAndFluoroscopyAreaDoseProduct.original_string)
        if float(header.scaleb(-5)) == event_dap[uid]:
            checked += 1
            assert dap == pytest.approx(event_dap[uid], rel=1e-12)
    assert checked == truth.images.height  # each image matches (exactly) one of its events


def test_links_cover_every_image_and_point_at_real_events(corpus: tuple[Path, GroundTruth]) -> None:
    _, truth = corpus
    assert set(truth.links["sop_instance_uid"]) == set(truth.images["sop_instance_uid"])
    assert set(truth.links["irradiation_event_uid"]) <= set(
        truth.irradiation_events["irradiation_event_uid"]
    )
    assert truth.links.is_duplicated().sum() == 0


def test_image_time_lies_inside_its_event_window(corpus: tuple[Path, GroundTruth]) -> None:
    """Image time minus the room's clock offset falls in [start, start + duration]."""
    _, truth = corpus
    df = (
        truth.links.join(
            truth.images.select("sop_instance_uid", "acquisition_datetime", "room_id"),
            on="sop_instance_uid",
        )
        .join(
            truth.irradiation_events.select(
                "irradiation_event_uid", "datetime_started", "irradiation_duration_s"
            ),
            on="irradiation_event_uid",
        )
        .join(truth.rooms.select("room_id", "clock_offset_s"), on="room_id")
    )
    for row in df.iter_rows(named=True):
        image_time = row["acquisition_datetime"] - timedelta(seconds=row["clock_offset_s"])
        end = row["datetime_started"] + timedelta(seconds=row["irradiation_duration_s"])
        assert row["datetime_started"] <= image_time <= end


def test_room_linking_aids(corpus: tuple[Path, GroundTruth]) -> None:
    """Cath Lab 1 writes (0008,3010) and 113795; Angio 2 only 113795; Fluoro 3 neither."""
    out, truth = corpus
    for name, uid_in_images, refs_in_reports in (
        ("Cath Lab 1", True, True),
        ("Angio 2", False, True),
        ("Fluoro 3", False, False),
    ):
        room = _room(truth, name)
        assert (room["writes_event_uid"], room["writes_image_refs"]) == (
            uid_in_images,
            refs_in_reports,
        )
        images = truth.images.filter(pl.col("room_id") == room["room_id"])
        for path in images["source_path"][:5]:
            assert ("IrradiationEventUID" in _read(out, path)) is uid_in_images
        reports = truth.irradiation_events.filter(pl.col("room_id") == room["room_id"])
        refs = [
            item
            for path in reports["source_path"].unique()
            for item in _walk(_read(out, path).ContentSequence)
            if _code(item) == "113795"
        ]
        assert bool(refs) is refs_in_reports
        n_refs = truth.event_image_refs.join(
            reports.select("irradiation_event_uid"), on="irradiation_event_uid"
        ).height
        assert n_refs == len(refs)


def test_named_event_uids_are_the_producers_in_uid_rooms(corpus: tuple[Path, GroundTruth]) -> None:
    _, truth = corpus
    room = _room(truth, "Cath Lab 1")["room_id"]
    named = (
        truth.images.filter(pl.col("room_id") == room)
        .select("sop_instance_uid", pl.col("irradiation_event_uids").alias("uid"))
        .explode("uid")
        .rename({"uid": "irradiation_event_uid"})
    )
    producers = truth.links.join(
        named.select("sop_instance_uid"), on="sop_instance_uid", how="semi"
    )
    assert_frame_equal(named.sort(pl.all()), producers.select(named.columns).sort(pl.all()))
    assert truth.images.filter(pl.col("irradiation_event_uids").list.len() == 2).height > 0


def test_clock_offset_and_time_sources(corpus: tuple[Path, GroundTruth]) -> None:
    out, truth = corpus
    expected = {
        "Cath Lab 1": ("AcquisitionDateTime", True, False),
        "Angio 2": ("AcquisitionTime", False, True),
        "Fluoro 3": ("ContentTime", False, False),
    }
    for name, (keyword, dt_suffix, tz_attribute) in expected.items():
        room = _room(truth, name)
        images = truth.images.filter(pl.col("room_id") == room["room_id"])
        assert set(images["acquisition_datetime_source"]) == {room["datetime_source"]}
        ds = _read(out, images["source_path"][0])
        assert keyword in ds
        if keyword == "ContentTime":
            assert "AcquisitionTime" not in ds and "AcquisitionDateTime" not in ds
        assert (dt_suffix and "+" in ds.AcquisitionDateTime) is dt_suffix
        assert ("TimezoneOffsetFromUTC" in ds) is tz_attribute
        assert images["utc_offset_s"].is_null().all() is not (dt_suffix or tz_attribute)
    fluoro3 = _room(truth, "Fluoro 3")
    assert fluoro3["clock_offset_s"] == 45.0


def test_summer_time_ends_in_october(corpus: tuple[Path, GroundTruth]) -> None:
    _, truth = corpus
    offsets = (
        truth.irradiation_events.filter(pl.col("utc_offset_s").is_not_null())
        .select("study_date", "utc_offset_s")
        .unique()
    )
    for day, offset in offsets.rows():
        assert offset == (7200 if day < datetime(2026, 10, 25).date() else 3600)


def test_resent_reports_are_earlier_subsets(corpus: tuple[Path, GroundTruth]) -> None:
    out, truth = corpus
    superseded = truth.files.filter(pl.col("status") == "superseded")["path"]
    assert len(superseded) > 0
    final_uids = set(truth.irradiation_events["report_sop_instance_uid"])
    for path in superseded:
        old = _read(out, path)
        assert old.SOPInstanceUID not in final_uids
        events = {_children(e, "113769")[0].UID for e in _children(old, "113706")}
        newest = truth.irradiation_events.filter(
            pl.col("study_instance_uid") == old.StudyInstanceUID
        )
        assert events < set(newest["irradiation_event_uid"])
        new = _read(out, newest["source_path"][0])
        assert (old.ContentDate + old.ContentTime) < (new.ContentDate + new.ContentTime)


def test_back_to_back_and_overlapping_events(corpus: tuple[Path, GroundTruth]) -> None:
    _, truth = corpus
    ev = truth.irradiation_events.sort(
        "study_instance_uid", "acquisition_plane", "datetime_started"
    )
    gaps = ev.with_columns(
        end=pl.col("datetime_started")
        + pl.duration(
            milliseconds=(pl.col("irradiation_duration_s") * 1000).round().cast(pl.Int64)
        ),
    ).with_columns(
        gap=(pl.col("datetime_started") - pl.col("end").shift(1)).over(
            "study_instance_uid", "acquisition_plane"
        )
    )
    assert (gaps["gap"] == timedelta(seconds=1)).sum() > 0
    assert (gaps["gap"] < timedelta(0)).sum() > 0


def test_alert_scenarios(corpus: tuple[Path, GroundTruth]) -> None:
    """A study over every NCRP 168 level; a patient over 500 Gy.cm2 only across two months."""
    _, truth = corpus
    high = truth.studies.filter(pl.col("scenario") == "high_dose").row(0, named=True)
    assert high["dose_rp_total_gy"] >= 5.0
    assert high["dap_total_gy_m2"] >= 0.05
    assert high["fluoro_time_s"] >= 3600
    cross = truth.studies.filter(pl.col("scenario") == "cross_month")
    assert cross["patient_id"].n_unique() == 1 and cross["month"].n_unique() == 2
    assert (cross["dap_total_gy_m2"] < 0.05).all() and cross["dap_total_gy_m2"].sum() >= 0.05
    routine = truth.studies.filter(pl.col("scenario") == "routine")
    assert (routine["dose_rp_total_gy"] < 5.0).all()


def test_broken_and_foreign_files(corpus: tuple[Path, GroundTruth]) -> None:
    out, truth = corpus
    files = truth.files
    for path in files.filter(pl.col("kind") == "unknown")["path"]:
        with pytest.raises(InvalidDicomError):
            pydicom.dcmread(out / "dicom" / path)
    truncated = files.filter((pl.col("kind") == "image") & (pl.col("status") == "rejected"))
    assert truncated.height == 2
    for path in truncated["path"]:
        ds = _read(out, path)  # pydicom returns the elements before the cut without a word
        assert "PixelData" not in ds and "StudyInstanceUID" not in ds
        assert ds.SOPInstanceUID not in set(truth.images["sop_instance_uid"])
    (other,) = files.filter(pl.col("kind") == "other")["path"]
    assert _read(out, other).SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_dciodvfy_finds_no_errors(corpus: tuple[Path, GroundTruth]) -> None:
    """Every room's image kinds and reports, a re-sent report and the foreign file conform."""
    out, truth = corpus
    imgs = truth.images.with_columns(
        frames=pl.col("number_of_frames") > 1, named=pl.col("irradiation_event_uids").list.len()
    )
    sample = set(
        imgs.group_by("room_id", "frames", "named", "image_type").agg(
            pl.col("source_path").first()
        )["source_path"]
    )
    sample |= set(
        truth.irradiation_events.group_by("room_id").agg(pl.col("source_path").first())[
            "source_path"
        ]
    )
    sample |= set(truth.files.filter(pl.col("status").is_in(["superseded", "ignored"]))["path"])
    assert len(sample) >= 12
    for path in sorted(sample):
        result = subprocess.run(
            [DCIODVFY, str(out / "dicom" / path)], capture_output=True, text=True, check=False
        )
        errors = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("Error")
        ]
        assert errors == [], path


def test_demo_preset_plan() -> None:
    """Three rooms, September and October 2026, a few hundred studies (planned, not written)."""
    studies = CorpusPlanner(SynthConfig.demo(0)).plan()
    assert {s.room.name for s in studies} == {"Cath Lab 1", "Angio 2", "Fluoro 3"}
    assert {f"{s.start:%Y-%m}" for s in studies} == {"2026-09", "2026-10"}
    assert 200 <= len(studies) <= 400
    assert any(
        s.patient.patient_id == t.patient.patient_id and s.start.month != t.start.month
        for s in studies[:80]
        for t in studies[80:200]
    )


def test_real_size_pixels(tmp_path: Path) -> None:
    room = replace(default_rooms()[2], studies=1)
    config = SynthConfig(seed=5, rooms=(room,), pixel_rows=1024, pixel_columns=1024, max_frames=3)
    truth = generate(tmp_path, config)
    row = truth.images.sort("number_of_frames").row(-1, named=True)
    size = (tmp_path / "dicom" / row["source_path"]).stat().st_size
    assert size > 1024 * 1024 * row["number_of_frames"] and row["number_of_frames"] <= 3
