"""Orthanc as a real PACS: it sends the real reports and generated images to ``xrf-dose listen``
(C-STORE from its REST API), and ``xrf-dose pull`` queries and retrieves them from it (C-FIND,
C-MOVE); the tables ingested from each received tree equal those from the originals."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import pytest
from builders.corpus import CORPUS
from builders.network import LOOPBACK, Orthanc, free_port, listener_process, running_orthanc
from polars.testing import assert_frame_equal

from pipelines.cli import main
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import TABLES, IngestSettings, run_ingest
from xrf_assets.core.store import TableStore
from xrf_assets.synth import SynthConfig, generate

PUSH_AE, PULL_DEST_AE, QUERY_AE = "XRFDOSE", "XRFPULLED", "XRFPULL"
PATH_COLUMNS = ["path", "source_path", "size_bytes", "mtime"]


@dataclass
class Pacs:
    orthanc: Orthanc
    originals: Path  # the files Orthanc holds, as uploaded (one per SOP instance)
    ids: list[str]  # their Orthanc instance ids
    push_port: int
    pull_port: int
    tables: dict[str, pl.DataFrame]  # ingested from the originals, without paths


def _short_procedures(config: SynthConfig) -> SynthConfig:
    rooms = tuple(
        replace(r, procedures=("Hysterosalpingography", "Pacemaker implant")) for r in config.rooms
    )
    return replace(config, rooms=rooms)


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    if not CORPUS.is_dir():
        pytest.skip(f"real dose reports not found at {CORPUS}")
    synth = tmp_path_factory.mktemp("synth")
    generate(synth, _short_procedures(SynthConfig.small(seed=11, studies_per_room=1)))
    push_port, pull_port = free_port(), free_port()
    modalities = {
        "xrfpush": [PUSH_AE, LOOPBACK, push_port],
        "xrfpulled": [PULL_DEST_AE, LOOPBACK, pull_port],
        "xrfquery": [QUERY_AE, LOOPBACK, pull_port],
    }
    with running_orthanc(tmp_path_factory.mktemp("orthanc"), modalities) as orthanc:
        originals = tmp_path_factory.mktemp("originals")
        sources = [("openrem", p) for p in sorted(CORPUS.glob("*.dcm"))]
        sources += [("synth", p) for p in sorted((synth / "dicom").rglob("*")) if p.is_file()]
        ids = []
        for tag, path in sources:
            answer = orthanc.upload(path.read_bytes())
            if answer is None or answer["Status"] != "Success":
                continue  # not DICOM or cut short (refused), or the same instance again
            ids.append(answer["ID"])
            rel = f"{tag}/{path.relative_to(CORPUS if tag == 'openrem' else synth / 'dicom')}"
            (originals / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, originals / rel)
        tables = _without_paths(_ingest(originals, tmp_path_factory.mktemp("out-originals")))
        yield Pacs(orthanc, originals, ids, push_port, pull_port, tables)


def _ingest(input_dir: Path, output: Path) -> dict[str, pl.DataFrame]:
    settings = IngestSettings(input_dir, RoomDirectory(), PrivacySettings("identified"), workers=1)
    run_ingest(settings, TableStore(output), logging.getLogger("test"))
    store = TableStore(output)
    return {t: store.read(t) for t in TABLES}


def _without_paths(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Tables with the path columns dropped and paths in the reasons replaced by the SOP UID
    of the file they name, rows sorted: what must not depend on where a file is stored."""
    files = tables["dicom_files"]
    names = dict(
        zip(
            files["path"].to_list(), files["sop_instance_uid"].fill_null("?").to_list(), strict=True
        )
    )
    pattern = re.compile("|".join(re.escape(p) for p in sorted(names, key=len, reverse=True)))

    def unpath(text: str | None) -> str | None:
        return None if text is None else pattern.sub(lambda m: f"<{names[m.group(0)]}>", text)

    out = {}
    for t, df in tables.items():
        df = df.drop([c for c in PATH_COLUMNS if c in df.columns])
        for col in ("reason", "issues"):
            if col in df.columns:
                df = df.with_columns(pl.col(col).map_elements(unpath, return_dtype=pl.String))
        out[t] = df.sort(df.columns, nulls_last=True)
    return out


def _assert_same_tables(received: Path, want: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    got = _without_paths(_ingest(received, tmp_path / "out-received"))
    assert got["dicom_files"].height == want["dicom_files"].height > 30
    assert got["irradiation_events"].height > 100
    for t in TABLES:
        assert_frame_equal(got[t], want[t], check_row_order=True)


def _received(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _push(pacs: Pacs, tmp_path: Path) -> None:
    """Orthanc sends every instance it holds to the listener (REST /modalities/<name>/store)."""
    received = tmp_path / "received"
    with listener_process(received, pacs.push_port, PUSH_AE, allow="ORTHANC,TESTSCU") as lp:
        answer = pacs.orthanc.rest(
            "POST", "/modalities/xrfpush/store", {"Resources": pacs.ids, "Synchronous": True}
        )
        assert answer["InstancesCount"] == len(pacs.ids)
        assert answer["FailedInstancesCount"] == 0
        assert lp.stop() == 0
    files = _received(received)
    assert len(files) == len(pacs.ids)
    assert {f.relative_to(received).parts[0] for f in files} == {"ORTHANC"}
    assert all(f.suffix == ".dcm" and len(f.relative_to(received).parts) == 3 for f in files)
    log = lp.text()
    assert "stored X-Ray Radiation Dose SR" in log and "from ORTHANC" in log
    assert "Secondary Capture Image" in log  # accepted and kept; ingest lists and ignores it
    _assert_same_tables(received, pacs.tables, tmp_path / "push")


def _pull(pacs: Pacs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``xrf-dose pull``: reports only, then images too, then nothing new."""
    received, state = tmp_path / "pulled", tmp_path / "state"
    pacs_arg = f"{LOOPBACK}:{pacs.orthanc.dicom_port}:{pacs.orthanc.ae_title}"
    args = ["pull", "--pacs", pacs_arg, "--since", "1990-01-01", "--move-to", PULL_DEST_AE]
    args += ["--ae-title", QUERY_AE, "--state", str(state)]
    with listener_process(received, pacs.pull_port, PULL_DEST_AE, allow="ORTHANC,TESTSCU"):
        assert main(args) == 0  # dose reports only
        first = capsys.readouterr().out
        reports = _received(received)
        assert main([*args, "--images"]) == 0
        second = capsys.readouterr().out
        assert main([*args, "--images"]) == 0
        third = capsys.readouterr().out
    n_reports = len(reports)
    sop_classes = {f.read_bytes()[:400].split(b"1.2.840.10008.5.1.4.1.1.")[1][:5] for f in reports}
    assert sop_classes == {b"88.67", b"88.22"}  # X-Ray Radiation Dose SR, Enhanced SR (Siemens)
    assert n_reports >= 17 and f"fetched now: {n_reports}, failed: 0" in first
    assert f"already fetched before: {n_reports}" in second
    assert "fetched now: 0, failed: 0" in third
    # Everything but what is neither a report nor an XA/RF image (the Secondary Capture).
    want = dict(pacs.tables)
    want["dicom_files"] = want["dicom_files"].filter(pl.col("modality").is_in(["SR", "XA", "RF"]))
    pulled = want["dicom_files"].height
    assert pulled == len(pacs.ids) - 1
    assert f"already fetched before: {pulled}" in third
    assert len(_received(received)) == pulled
    _assert_same_tables(received, want, tmp_path / "pull")


def test_orthanc_pushes_to_the_listener_and_pull_retrieves_from_it(
    pacs: Pacs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One test, so that Orthanc starts once per run whatever worker runs it."""
    _push(pacs, tmp_path)
    _pull(pacs, tmp_path, capsys)
