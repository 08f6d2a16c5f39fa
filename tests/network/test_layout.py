"""Paths of received objects: no sent value can leave the input tree or collide."""

from __future__ import annotations

from pathlib import Path

from xrf_assets.core.network.layout import object_path, safe_ae, safe_uid


def test_ae_titles_become_safe_folder_names() -> None:
    assert safe_ae("XRFDOSE") == "XRFDOSE"
    assert safe_ae(" CATH LAB 2 ") == "CATH_LAB_2"
    assert safe_ae("../../etc") == ".._.._etc"
    assert safe_ae("..") == "__"
    assert safe_ae(".") == "_"
    assert safe_ae("") == "_"
    assert safe_ae("A/B\\C:é") == "A_B_C__"


def test_uids_are_kept_and_anything_else_is_digested() -> None:
    uid = "1.2.840.113619.2.55.3.604688119.971.1"
    assert safe_uid(uid) == uid
    assert safe_uid(uid + "\x00") == uid  # padded with NUL, as some devices send
    assert safe_uid(None) is None and safe_uid("") is None
    bad = safe_uid("../../1.2")
    assert bad is not None and bad.startswith("x-") and "/" not in bad
    assert safe_uid("../../1.2") == bad and safe_uid("../../1.3") != bad
    assert safe_uid("1." + "2" * 80) != "1." + "2" * 80  # longer than 64: not a UID


def test_object_path_stays_under_the_root(tmp_path: Path) -> None:
    path = object_path(tmp_path, "../x", "../../up", "/abs/path")
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert len(path.relative_to(tmp_path).parts) == 3
    assert object_path(tmp_path, "PACS", None, "1.2.3") == tmp_path / "PACS/no-study-uid/1.2.3.dcm"
