"""Walking the input tree: relative paths, sizes, times, links, loops and special files."""

from __future__ import annotations

import os
from pathlib import Path

from xrf_assets.core.ingest.discovery import FoundFile, Unreadable, discover
from xrf_assets.core.ingest.privacy import PrivacySettings

KEY = b"a-secret-key-of-some-length"


def _tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.dcm").write_bytes(b"12345")
    (root / "top.dcm").write_bytes(b"")
    os.utime(root / "top.dcm", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))


def test_lists_files_relative_with_size_and_mtime(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = discover(tmp_path)
    assert found.files == (
        FoundFile("a/b/x.dcm", 5, (tmp_path / "a/b/x.dcm").stat().st_mtime_ns),
        FoundFile("top.dcm", 0, 1_700_000_000_123_456_789),
    )
    assert found.unreadable == ()


def test_symlink_loop_is_listed_not_followed(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a")
    (tmp_path / "self").symlink_to(tmp_path)
    found = discover(tmp_path)
    assert [f.path for f in found.files] == ["a/b/x.dcm", "top.dcm"]
    assert [(u.path, u.status) for u in found.unreadable] == [
        ("a/b/loop", "ignored"),
        ("self", "ignored"),
    ]
    assert "already walked" in found.unreadable[0].reason
    assert "'a'" in found.unreadable[0].reason_naming(str)
    assert "'file-" in found.unreadable[0].reason_naming(
        PrivacySettings("pseudonymize", KEY).file_id
    )


def test_linked_folder_outside_the_tree_is_walked_once(tmp_path: Path) -> None:
    root, outside = tmp_path / "in", tmp_path / "outside"
    _tree(root)
    outside.mkdir()
    (outside / "y.dcm").write_bytes(b"yy")
    (root / "link1").symlink_to(outside)
    (root / "link2").symlink_to(outside)  # an alias of link1: its files would be duplicates
    (root / "filelink.dcm").symlink_to(outside / "y.dcm")
    found = discover(root)
    assert [f.path for f in found.files] == ["a/b/x.dcm", "filelink.dcm", "link1/y.dcm", "top.dcm"]
    assert [u.path for u in found.unreadable] == ["link2"]


def test_broken_link_and_fifo_are_reported(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "pipe")
    found = discover(tmp_path)
    assert found.unreadable == (
        Unreadable("dangling", "rejected", "broken symbolic link (its target does not exist)"),
        Unreadable(
            "pipe",
            "ignored",
            "a FIFO (named pipe): not read",
            mtime_ns=(tmp_path / "pipe").stat().st_mtime_ns,
        ),
    )
    assert found.paths == {"a/b/x.dcm", "top.dcm", "dangling", "pipe"}
