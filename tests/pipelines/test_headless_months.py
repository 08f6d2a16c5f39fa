"""``xrf-dose run`` audits every month in which study_dose places a study (issue 12).

A real report whose Study Date (0008,0020) is removed is placed by its first event (2019-03-16):
the headless run must audit that month although no raw Study Date names it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from builders.corpus import corpus_file
from dagster import instance_for_test

from pipelines.headless import RunSummary, run_all
from xrf_assets.assets.partitions import FIRST_MONTH_ENV
from xrf_assets.resources import XrfSettings

KEY = "headless-months-test-key-0123456789"


def _run_on(ds: pydicom.Dataset, tmp_path: Path) -> tuple[XrfSettings, RunSummary]:
    """``xrf-dose run``'s whole graph over a tree holding the one report ``ds``."""
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "report.dcm")
    settings = XrfSettings(
        input_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "out"), workers=1
    )
    with pytest.MonkeyPatch.context() as mp, instance_for_test() as instance:
        mp.setenv("XRF_PSEUDONYM_KEY", KEY)
        return settings, run_all(settings, instance)


def test_a_study_without_study_date_is_audited(tmp_path: Path) -> None:
    ds = pydicom.dcmread(corpus_file("RF-RDSR-GE.dcm"))
    del ds.StudyDate
    settings, summary = _run_on(ds, tmp_path)
    assert summary.months == ["2019-03"]
    store = settings.store()
    assert store.read("irradiation_events").get_column("study_date").is_null().all()
    study = store.read("study_dose", month="2019-03").row(0, named=True)
    assert (str(study["study_date"]), study["fluoro_time_s"]) == ("2019-03-16", 72.46)


def test_partitions_start_at_the_first_month_setting_read_at_load() -> None:
    probe = "from xrf_assets.assets.partitions import monthly_partitions as m; print(m.start)"
    env = {k: v for k, v in os.environ.items() if k != FIRST_MONTH_ENV}
    default = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert default.stdout.startswith("2016-01-01")
    env[FIRST_MONTH_ENV] = "2026-09"
    set_ = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert set_.stdout.startswith("2026-09-01")
    env[FIRST_MONTH_ENV] = "2026-9"
    bad = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert "XRF_FIRST_MONTH must be a month YYYY-MM, not '2026-9'" in bad.stderr


def test_a_month_before_the_first_partition_is_named_not_audited(tmp_path: Path) -> None:
    ds = pydicom.dcmread(corpus_file("RF-RDSR-GE.dcm"))
    ds.StudyDate = "20150316"  # before the default first month, 2016-01
    _, summary = _run_on(ds, tmp_path)
    assert (summary.months, summary.unpartitioned_months) == ([], ["2015-03"])
    assert (
        "NOT AUDITED: 2015-03 (no partition: they lie before XRF_FIRST_MONTH=2016-01 "
        "or after the running month)" in summary.render()
    )
