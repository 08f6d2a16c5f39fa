"""``xrf-dose run`` audits every month in which study_dose places a study (issue 12).

A real report whose Study Date (0008,0020) is removed is placed by its first event (2019-03-16):
the headless run must audit that month although no raw Study Date names it.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from builders.corpus import corpus_file
from dagster import instance_for_test

from pipelines.headless import run_all
from xrf_assets.resources import XrfSettings

KEY = "headless-months-test-key-0123456789"


def test_a_study_without_study_date_is_audited(tmp_path: Path) -> None:
    ds = pydicom.dcmread(corpus_file("RF-RDSR-GE.dcm"))
    del ds.StudyDate
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "report.dcm")
    settings = XrfSettings(
        input_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "out"), workers=1
    )
    with pytest.MonkeyPatch.context() as mp, instance_for_test() as instance:
        mp.setenv("XRF_PSEUDONYM_KEY", KEY)
        summary = run_all(settings, instance)
    assert summary.months == ["2019-03"]
    store = settings.store()
    assert store.read("irradiation_events").get_column("study_date").is_null().all()
    study = store.read("study_dose", month="2019-03").row(0, named=True)
    assert (str(study["study_date"]), study["fluoro_time_s"]) == ("2019-03-16", 72.46)
