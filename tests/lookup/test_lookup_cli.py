"""``xrf-dose study`` and ``xrf-dose patient`` on the demo run: text, JSON, exit 1 for nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders.demo_run import DemoRun

from pipelines.cli import main


def test_study_prints_the_card_and_its_json(
    demo_run: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = demo_run.truth.studies.filter(scenario="high_dose").row(0, named=True)
    uid, output = truth["study_instance_uid"], str(demo_run.store.root)
    assert main(["study", uid, "--output", output]) == 0
    assert capsys.readouterr().out.startswith(f"Study {uid}\n  patient      ")
    assert main(["study", uid, "--output", output, "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["study"]["dap_total_gy_m2"] == pytest.approx(truth["dap_total_gy_m2"])
    assert len(card["events"]) == truth["n_events"]
    assert card["link_counts"] == {"image_event_uid": truth["n_images"]}
    assert card["study"]["study_date"] == truth["study_date"].isoformat()


def test_patient_prints_the_history_and_its_json(
    demo_run: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    (patient,) = demo_run.truth.studies.filter(scenario="cross_month")["patient_id"].unique()
    pseudonym, output = demo_run.pseudonym(patient), str(demo_run.store.root)
    assert main(["patient", pseudonym, "--output", output]) == 0
    assert capsys.readouterr().out.startswith(f"Patient {pseudonym}: 2 studies, 2026-09-30 to ")
    assert main(["patient", pseudonym, "--output", output, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [s["month"] for s in history["studies"]] == ["2026-09", "2026-10"]
    assert set(history["windows"]) == {"cumulative", "12mo", "90d"}


def test_nothing_found_is_one_line_and_exit_1(
    demo_run: DemoRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = str(demo_run.store.root)
    assert main(["study", "1.2.3.4", "--output", output]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"xrf-dose study: no study 1.2.3.4 in study_dose under {output}\n")
    assert main(["patient", "nobody", "--output", output]) == 1
    assert capsys.readouterr().err == (
        f"xrf-dose patient: no patient nobody in study_dose under {output} (give the patient_id "
        "the tables publish: in pseudonymize mode its keyed hash)\n"
    )
    assert main(["study", "1.2.3.4", "--output", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"xrf-dose study: no study_dose table under {tmp_path} (run xrf-dose run first)\n"
    )


def test_output_cut_short_by_its_reader_is_not_a_traceback(demo_run: DemoRun) -> None:
    """``xrf-dose study UID | head -1``: the reader has gone when the card is written (here
    before the first write, so the test does not depend on the pipe's buffer); exit 0, quiet."""
    uid = demo_run.truth.studies.filter(scenario="high_dose")["study_instance_uid"][0]
    output = str(demo_run.store.root)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "study", uid, "--output", output],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (cli.returncode, cli.stderr) == (0, b"")
