"""The whole graph through Dagster's own execution, on a generated corpus with known truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pydicom
import pytest
from builders.corpus import corpus_file
from dagster import instance_for_test

from pipelines.cli import main
from pipelines.headless import run_all
from schemas import contracts
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.store import TableStore
from xrf_assets.resources import XrfSettings
from xrf_assets.synth import SynthConfig, generate

KEY = "end-to-end-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate(out, SynthConfig.demo(seed=7).scaled(3))
    return out


@pytest.fixture(scope="module")
def tables(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> TableStore:
    output = tmp_path_factory.mktemp("tables")
    settings = XrfSettings(input_dir=str(corpus / "dicom"), output_dir=str(output), workers=1)
    with pytest.MonkeyPatch.context() as mp, instance_for_test() as instance:
        mp.setenv("XRF_PSEUDONYM_KEY", KEY)
        summary = run_all(settings, instance)
    assert summary.months == ["2026-09", "2026-10"]
    return TableStore(output)


def _truth(corpus: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(corpus / "truth" / f"{name}.parquet")


def test_every_table_folder_is_written(tables: TableStore) -> None:
    for name, c in contracts().items():
        files = list(tables.table_dir(name).glob("**/*.parquet"))
        assert files, f"no Parquet written for {name}"
        if c.partitioned_by_month:
            assert tables.months(name) == ["2026-09", "2026-10"], name


def test_each_file_gets_the_status_the_generator_intended(corpus: Path, tables: TableStore) -> None:
    file_id = PrivacySettings("pseudonymize", KEY.encode()).file_id  # paths are published keyed
    expected = _truth(corpus, "files").select(
        pl.col("path").map_elements(file_id, return_dtype=pl.String), "status"
    )
    got = tables.read("dicom_files").select("path", "status").sort("path")
    assert got.rows() == expected.sort("path").rows()


def test_images_and_events_are_all_read(corpus: Path, tables: TableStore) -> None:
    for table in ("images", "irradiation_events"):
        expected = set(_truth(corpus, table)[contracts()[table].primary_key[0]])
        got = set(tables.read(table)[contracts()[table].primary_key[0]])
        assert got == expected, table


def test_every_image_is_linked_to_the_event_that_made_it(corpus: Path, tables: TableStore) -> None:
    pairs = ["irradiation_event_uid", "sop_instance_uid"]
    expected = set(_truth(corpus, "links").select(pairs).iter_rows())
    got = set(tables.read("event_image_links").select(pairs).iter_rows())
    assert got == expected
    assert tables.read("unlinked_images").height == 0


def test_study_totals_match_the_truth(corpus: Path, tables: TableStore) -> None:
    expected = _truth(corpus, "studies").select(
        "study_instance_uid", "dap_total_gy_m2", "dose_rp_total_gy"
    )
    got = tables.read("study_dose").select(
        "study_instance_uid", "dap_total_gy_m2", "dose_rp_total_gy"
    )
    joined = expected.join(got, on="study_instance_uid", how="full", suffix="_got")
    assert joined.height == expected.height == got.height
    for col in ("dap_total_gy_m2", "dose_rp_total_gy"):
        diff = (joined[col] - joined[f"{col}_got"]).abs().max()
        assert diff is not None and diff < 1e-12, col


def test_patient_identity_is_pseudonymized_by_default(corpus: Path, tables: TableStore) -> None:
    real_ids = set(_truth(corpus, "images")["patient_id"])
    stored_ids = set(tables.read("images")["patient_id"]) | set(
        tables.read("irradiation_events")["patient_id"]
    )
    assert not real_ids & stored_ids
    assert all(len(i) == 64 for i in stored_ids)  # HMAC-SHA256, hex


def test_a_refiled_image_warns_and_every_month_is_published_with_exit_0(
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A PACS merge or split files one image under another study while its event UID still
    names the exposure that made it: the link stands, the check warns, no month is blocked."""
    tree = tmp_path / "dicom"
    shutil.copytree(corpus / "dicom", tree)
    images = _truth(corpus, "images").filter(pl.col("irradiation_event_uids").list.len() > 0)
    image = images.sort("sop_instance_uid").row(0, named=True)
    ds = pydicom.dcmread(tree / image["source_path"])
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.1.99"  # the study it was re-filed under
    ds.save_as(tree / image["source_path"])
    monkeypatch.setenv("XRF_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("XRF_WORKERS", "1")
    code = main(["run", "--input", str(tree), "--output", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr()
    store = TableStore(tmp_path / "out")
    assert store.months("study_dose") == store.months("dose_alerts") == ["2026-09", "2026-10"]
    links = store.read("event_image_links").filter(
        pl.col("sop_instance_uid") == image["sop_instance_uid"]
    )
    assert links["irradiation_event_uid"].to_list() == image["irradiation_event_uids"][:1]
    assert "NOT PUBLISHED" not in capsys.readouterr().out


def _dap_times(ds: pydicom.Dataset, factor: float) -> None:
    """Every Dose Area Product (122130) of the report multiplied: a unit read wrongly."""
    for item in ds.get("ContentSequence", []):
        name = item.get("ConceptNameCodeSequence")
        if name and name[0].CodeValue == "122130" and item.get("MeasuredValueSequence"):
            value = item.MeasuredValueSequence[0]
            value.NumericValue = str(float(value.NumericValue) * factor)[:16]
        _dap_times(item, factor)


@pytest.mark.parametrize("workers", ["1", "2"])  # one month at a time, and side by side
def test_a_month_with_a_systemic_fault_is_named_and_the_others_are_published(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    workers: str,
) -> None:
    tree = tmp_path / "dicom"
    tree.mkdir()
    for name in ("RF-RDSR-Siemens-Zee.dcm", "RF-RDSR-Philips_Allura.dcm"):  # 2016-05, 2016-03
        shutil.copy(corpus_file(name), tree / name)
    ds = pydicom.dcmread(corpus_file("RF-RDSR-GE.dcm"))  # 2019-03
    _dap_times(ds, 1e5)  # every event of the month beyond physical bounds
    ds.save_as(tree / "ge.dcm")
    monkeypatch.setenv("XRF_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("XRF_WORKERS", workers)
    code = main(["run", "--input", str(tree), "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "audit not published for: 2019-03" in err
    assert "NOT PUBLISHED: 2019-03" in out
    store = TableStore(tmp_path / "out")
    assert store.months("study_dose") == store.months("dose_alerts") == ["2016-03", "2016-05"]
    assert sorted(p.parent.name for p in (tmp_path / "out" / "reports").glob("*/audit.html")) == [
        "2016-03",
        "2016-05",
    ]
