"""Put bytes on disk under a new name so that the name exists only once they are all there.

A file appears complete or not at all: on Linux it is written unnamed (``O_TMPFILE``), flushed
to disk (``fsync``) and then linked under its name; elsewhere it is written to a hidden temporary
name in the same folder, flushed, linked under its name and the temporary name removed. The
folder is flushed too, so the name survives a power cut. An existing file is never replaced
(``link`` fails on it). This is what lets the listener answer a C-STORE only once the object is
safely stored.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from xrf_assets.core.store import fsync_folder

_CHUNK = 1 << 20


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view[:_CHUNK])
        view = view[done:]


def _make_folders(folder: Path) -> None:
    """Create missing folders and flush each parent, so that new folders survive a crash too."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        with contextlib.suppress(FileExistsError):
            new.mkdir()
        fsync_folder(new.parent)


def _write_unnamed(path: Path, data: bytes) -> bool:
    """``O_TMPFILE`` then ``link``: False where the file system does not offer it."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return False
    try:
        fd = os.open(path.parent, flag | os.O_WRONLY, 0o444)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return False
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        write_all(fd, data)
        os.fsync(fd)
        # linkat(AT_SYMLINK_FOLLOW) (a folder fd makes os.link use it): names the open file;
        # fails with FileExistsError, never replaces.
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=folder)
    finally:
        os.close(folder)
        os.close(fd)
    return True


def _write_renamed(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # like rename, but fails on an existing file instead of replacing it
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_new_file(path: Path, data: bytes) -> None:
    """Store ``data`` as the new file ``path`` (read-only), durably; FileExistsError if it exists.

    On any error (disk full included) nothing is left under the folder but what was there.
    """
    _make_folders(path.parent)
    if not _write_unnamed(path, data):
        _write_renamed(path, data)
    fsync_folder(path.parent)
