"""One headless run over the demo corpus (``xrf-dose synth --seed 42``, what ``make demo`` reads)
with the demo's rooms file, pseudonymized with a test key: built once per test session, also when
pytest-xdist spreads the tests over workers (the first to ask builds it under a file lock)."""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import instance_for_test

from pipelines.headless import run_all
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.store import TableStore
from xrf_assets.locations import PROJECT_ROOT
from xrf_assets.resources import XrfSettings
from xrf_assets.synth import GroundTruth, SynthConfig, generate

KEY = "lookup-test-key-0123456789abcdef"
PRIVACY = PrivacySettings("pseudonymize", KEY.encode())
ROOMS_FILE = PROJECT_ROOT / "examples" / "rooms.yaml"  # as make demo sets XRF_ROOMS_FILE


@dataclass(frozen=True)
class DemoRun:
    truth: GroundTruth
    store: TableStore

    def pseudonym(self, patient_id: str) -> str:
        """The patient_id the tables publish for the generator's ``patient_id``."""
        return PRIVACY.pseudonym("patient_id", patient_id)


def _build(root: Path) -> None:
    generate(root / "corpus", SynthConfig.preset("demo", seed=42))
    settings = XrfSettings(
        input_dir=str(root / "corpus" / "dicom"),
        output_dir=str(root / "output"),
        rooms_file=str(ROOMS_FILE),
        workers=1,
    )
    with pytest.MonkeyPatch.context() as mp, instance_for_test() as instance:
        mp.setenv("XRF_PSEUDONYM_KEY", KEY)
        summary = run_all(settings, instance)
    assert summary.months == ["2026-09", "2026-10"] and not summary.failed_months
    (root / "done").touch()


def demo_run_in(shared: Path) -> DemoRun:
    """The run under ``shared`` (a folder every worker of the session sees), built if missing."""
    root = shared / "lookup_demo_run"
    root.mkdir(exist_ok=True)
    with open(shared / "lookup_demo_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            _build(root)
    return DemoRun(GroundTruth.read(root / "corpus"), TableStore(root / "output"))
