"""Publishing from staging: which file keeps a SOP Instance UID, and the statuses of the others."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl

from xrf_assets.core.ingest.publish import code_digest, publish, source_closure
from xrf_assets.core.ingest.staging import Staging, empty_rows, files_schema, staged_frame

XA = "1.2.840.10008.5.1.4.1.1.12.1"


def row(path: str, uid: str, mtime_ns: int, present: bool = True, **kw: Any) -> dict[str, Any]:
    return {
        "path": path,
        "size_bytes": 1,
        "mtime_ns": mtime_ns,
        "sop_instance_uid": uid,
        "study_instance_uid": "1.9",
        "kind": "image",
        "status": "ok",
        "present": present,
        "data_seg": 1,
        **kw,
    }


def staging(*rows: dict[str, Any]) -> Staging:
    files = pl.DataFrame(list(rows), schema=files_schema(), strict=False)
    tables = empty_rows()
    tables["images"] = staged_frame(
        "images",
        [
            {
                "sop_instance_uid": r["sop_instance_uid"],
                "sop_class_uid": XA,
                "irradiation_event_uids": [],
                "source_path": r["path"],
            }
            for r in rows
            if r["status"] == "ok"
        ],
    )
    return Staging(files, tables)


def test_newest_present_file_keeps_the_uid() -> None:
    tables = publish(
        staging(
            row("b_old.dcm", "1.1", 100),
            row("a_new.dcm", "1.1", 200),
            row("c_gone_newest.dcm", "1.1", 300, present=False),
            row("d_same_time.dcm", "1.1", 200),
            row("e.dcm", "1.2", 50, study_instance_uid="1.8"),
            row("f.dcm", "1.2", 50),
        )
    )
    files = {
        r["path"]: (r["status"], r["reason"]) for r in tables["dicom_files"].iter_rows(named=True)
    }
    assert files["a_new.dcm"] == ("ok", None)  # newest present; same time as d: first path
    assert files["b_old.dcm"][0] == "duplicate"
    assert "same SOP Instance UID as 'a_new.dcm'" in files["b_old.dcm"][1]
    assert files["d_same_time.dcm"][0] == "duplicate"
    assert files["c_gone_newest.dcm"] == (
        "missing",
        "file no longer under the input root; its object is now read from 'a_new.dcm'",
    )
    assert files["e.dcm"] == ("ok", None)
    assert "differ in Study Instance UID" in files["f.dcm"][1]
    images = tables["images"]
    assert images.select("sop_instance_uid", "source_path").rows() == [
        ("1.1", "a_new.dcm"),
        ("1.2", "e.dcm"),
    ]
    assert tables["dicom_files"]["path"].to_list() == sorted(files)


def test_a_gone_file_keeps_its_rows_and_says_so() -> None:
    tables = publish(
        staging(
            row("gone.dcm", "1.1", 100, present=False),
            row(
                "bad.dcm",
                None,
                100,
                present=False,
                status="rejected",
                reason="empty file (0 bytes)",
            ),
        )
    )
    files = {
        r["path"]: (r["status"], r["reason"]) for r in tables["dicom_files"].iter_rows(named=True)
    }
    assert files == {
        "gone.dcm": (
            "missing",
            "file no longer under the input root; the rows read from it are kept",
        ),
        "bad.dcm": (
            "missing",
            "file no longer under the input root (it was rejected: empty file (0 bytes))",
        ),
    }
    assert tables["images"]["source_path"].to_list() == ["gone.dcm"]


_PROJECT = Path(__file__).resolve().parents[2]
_RUN = "xrf_assets.core.ingest.run"


def test_the_publish_record_covers_extraction_staging_and_publish_code() -> None:
    covered = source_closure(_RUN)
    for module in (
        "xrf_assets.core.extract.images",
        "xrf_assets.core.extract.irradiation_events",
        "xrf_assets.core.dicom.read",
        "xrf_assets.core.sr.tree",
        "xrf_assets.core.ingest.read_file",
        "xrf_assets.core.ingest.staging",
        "xrf_assets.core.ingest.publish",
        "xrf_assets.core.ingest.resent_reports",
        "xrf_assets.core.store",
        "schemas",
    ):
        assert covered[module].is_file(), module
    assert not [m for m in covered if m.startswith(("xrf_assets.core.audit", "xrf_assets.assets"))]


def test_a_changed_extraction_module_changes_the_code_digest(tmp_path: Path) -> None:
    for package in ("xrf_assets", "schemas"):
        shutil.copytree(_PROJECT / package, tmp_path / package)
    before = code_digest(_RUN, tmp_path)
    assert before == code_digest(_RUN, _PROJECT)
    audit = tmp_path / "xrf_assets/core/audit/drl.py"
    audit.write_text(audit.read_text() + "\n# not read by the ingest\n")
    assert code_digest(_RUN, tmp_path) == before
    extract = tmp_path / "xrf_assets/core/extract/images.py"
    extract.write_text(extract.read_text() + "\n# an extraction change\n")
    assert code_digest(_RUN, tmp_path) != before
