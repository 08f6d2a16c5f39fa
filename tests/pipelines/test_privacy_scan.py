"""No identity in anything a pseudonymized run leaves behind: every output file, the log and the
Dagster storage of a whole run over the real reports plus a folder named after a patient."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import shutil
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest
from builders.corpus import CORPUS, corpus_file

from pipelines.headless import TELEMETRY_OFF, run_all
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.store import TableStore
from xrf_assets.resources import XrfSettings

KEY = "privacy-scan-key-0123456789abcdef"
PATIENT_FOLDER = "Doe^Jane_19700101"
JANE = {"PatientName": "Doe^Jane", "PatientID": "DJ-4711-X", "PatientBirthDate": "19700101"}


def _input_tree(root: Path) -> Path:
    """The real corpus copied, plus a report filed under a folder named after its patient (with
    a birth date and no Patient's Age: the age must come from the birth date)."""
    tree = root / "in"
    shutil.copytree(CORPUS, tree, ignore=shutil.ignore_patterns("*.md"))
    ds = pydicom.dcmread(corpus_file("RF-RDSR-Philips_Allura.dcm"))
    for keyword, value in JANE.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1.7"
    (tree / PATIENT_FOLDER).mkdir()
    ds.save_as(tree / PATIENT_FOLDER / "dose report.dcm")
    return tree


def _identities(tree: Path) -> dict[str, set[str]]:
    """Names (and their parts), IDs, birth dates (both spellings) of every file, and the folder."""
    found: dict[str, set[str]] = {"name": set(), "id": set(), "birth": set(), "accession": set()}
    for path in tree.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        name = str(ds.get("PatientName", "") or "")
        found["name"] |= {name} | {p for p in name.split("^") if len(p) > 3}
        found["id"].add(str(ds.get("PatientID", "")))
        birth = str(ds.get("PatientBirthDate", ""))
        if birth:
            found["birth"] |= {birth, f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"}
        found["accession"].add(str(ds.get("AccessionNumber", "")))
    found["name"] |= {PATIENT_FOLDER, "Doe^Jane"}
    return {k: {v for v in values if v} for k, values in found.items()}


def _haystack(*folders: Path, private: bool = False) -> str:
    """Every file's bytes, every Parquet value decoded (compression hides bytes), as text: of
    the published files, or (``private``) of the private state ``_state`` alone."""
    parts = []
    for folder in folders:
        for p in folder.rglob("*"):
            if p.is_file() and ("_state" in p.relative_to(folder).parts) == private:
                parts.append(p.read_bytes().decode("utf-8", errors="replace"))
                if p.suffix == ".parquet":
                    parts.append(str(pq.read_table(p).to_pylist()))
    return "\n".join(parts)


def _leaks(haystack: str, values: set[str]) -> set[str]:
    """Values found as whole words, as written or JSON-escaped (Dagster's event log escapes
    non-ASCII); whole words, because a device serial "abc123deff" does not name patient
    "abc123def"."""
    return {
        v
        for v in values
        for form in {v, json.dumps(v)[1:-1]}
        if re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", haystack)
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str, Path]:
    root = tmp_path_factory.mktemp("scan")
    tree = _input_tree(root)
    home = root / "dagster_home"  # fresh: created by the tool
    output = root / "out"
    settings = XrfSettings(input_dir=str(tree), output_dir=str(output), workers=1)
    console = io.StringIO()  # Dagster's console log (the run's log lines)
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stderr(console),
        contextlib.redirect_stdout(console),
    ):
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("XRF_PSEUDONYM_KEY", KEY)
        mp.delenv("XRF_HASH_IDENTIFIERS", raising=False)
        summary = run_all(settings)
    assert summary.failed_months == []
    log = root / "run.log"
    log.write_text(console.getvalue(), encoding="utf-8")
    return tree, output, home, summary.render(), log


def test_no_name_id_or_birth_date_in_outputs_log_or_dagster_storage(
    run: tuple[Path, Path, Path, str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    tree, output, home, rendered, log = run
    who = _identities(tree)
    assert len(who["name"]) > 20 and len(who["id"]) == 15 and len(who["birth"]) == 24
    haystack = _haystack(output, home) + rendered + log.read_text(encoding="utf-8")
    assert "ingest done" in haystack and "file-" in log.read_text(encoding="utf-8")  # captured
    # Accession numbers are published unless XRF_HASH_IDENTIFIERS=1 (README); two reports send
    # the patient ID (and name) as the accession number: those two values are found as such.
    as_accession = {"Anon6", "physics"}
    assert who["accession"] & (who["id"] | who["name"]) == as_accession
    assert _leaks(haystack, who["name"] | who["birth"] | who["id"]) == as_accession
    # the private state keeps the real paths (the folder's name) and accession numbers, but no
    # patient value from a header
    private = _haystack(output, private=True)
    assert PATIENT_FOLDER in private
    from_headers = who["name"] | who["id"] | who["birth"] - {"19700101"}
    assert _leaks(private, from_headers - {PATIENT_FOLDER, "Doe^Jane"}) == as_accession
    # every path is a keyed file id; the real ones are only in the private state
    files = TableStore(output).read("dicom_files")
    assert files.height == 18 and all(p.startswith("file-") for p in files["path"])
    assert (output / "_state").stat().st_mode & 0o777 == 0o700


def test_no_age_gives_a_birth_date_back(run: tuple[Path, Path, Path, str, Path]) -> None:
    _, output, _, _, _ = run
    store = TableStore(output)
    for table in ("irradiation_events", "images"):
        ages = store.read(table)["patient_age_years"].drop_nulls().to_list()
        assert all(a == math.floor(a) for a in ages), table
    events = store.read("irradiation_events")
    file_id = PrivacySettings("pseudonymize", KEY.encode()).file_id
    age = dict(events.select("source_path", "patient_age_years").unique().iter_rows())
    # no Patient's Age in these: completed years from the birth date, not days / 365.25
    assert age[file_id("RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm")] == 53.0  # 1966-07-16, 2020-01-08
    assert age[file_id("RF-RDSR-Eurocolumbus.dcm")] == 0.0  # 9 days old
    born, studied = date(1986, 3, 28), date(2016, 3, 15)
    allura = age[file_id("RF-RDSR-Philips_Allura.dcm")]
    assert allura == 29.0 and studied - born != (studied - born).days * allura / 365.25


def test_a_fresh_dagster_home_has_telemetry_off(run: tuple[Path, Path, Path, str, Path]) -> None:
    _, _, home, _, _ = run
    assert (home / "dagster.yaml").read_text() == TELEMETRY_OFF


def test_hash_identifiers_leaves_no_accession_number_or_uid(tmp_path: Path) -> None:
    from xrf_assets.core.ingest.rooms import RoomDirectory
    from xrf_assets.core.ingest.run import IngestSettings, run_ingest

    tree = _input_tree(tmp_path)
    privacy = PrivacySettings("pseudonymize", KEY.encode(), hash_identifiers=True)
    run_ingest(
        IngestSettings(tree, RoomDirectory(), privacy, workers=1),
        TableStore(tmp_path / "out"),
        logging.getLogger("scan"),
    )
    who = _identities(tree)
    uids = set()
    for path in tree.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)}
    published = tmp_path / "out"
    haystack = "\n".join(
        str(pq.read_table(p).to_pylist())
        for p in published.rglob("*.parquet")
        if "_state" not in p.parts
    )
    assert _leaks(haystack, set().union(*who.values()) | uids) == set()
    events = TableStore(published).read("irradiation_events")
    assert events["study_instance_uid"].str.starts_with("2.25.").all()
    assert events.height > 500  # the events are all there, under keyed UIDs
