"""Walk the input tree: every file with its size and modification time, nothing written there.

Archives from PACS exports contain symbolic links, sometimes looping back to an ancestor folder,
and special files (FIFOs would block a reader forever). Folder links are followed once: a folder
already walked (by its device and inode) is not entered again, and the link is listed with the
reason, as are broken links, special files and folders that cannot be listed. Paths are relative
to the root with forward slashes, sorted, so that two walks of the same tree give the same list.

A shard of a sharded ingest walks only its part of the tree (``keep``, shards.py). A folder link
into another shard's part is listed as already walked, naming the real folder, as the whole walk
would (there, real folders are walked before any link).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A regular file (or a link to one) to be read."""

    path: str
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class Unreadable:
    """An entry that cannot be read as a file; ``status`` is ignored or rejected (dicom_files)."""

    path: str
    status: str
    reason: str  # ``{target}`` stands for ``target``, a path named by its published name
    size_bytes: int | None = None
    mtime_ns: int | None = None
    target: str | None = None

    def reason_naming(self, name: Callable[[str], str]) -> str:
        """The reason with the path it mentions given by ``name`` (a keyed file id when paths
        are pseudonymized: a folder name may be a patient's)."""
        return self.reason.format(target=name(self.target)) if self.target else self.reason


@dataclass(frozen=True)
class Discovery:
    files: tuple[FoundFile, ...]
    unreadable: tuple[Unreadable, ...]

    @property
    def paths(self) -> set[str]:
        return {f.path for f in self.files} | {u.path for u in self.unreadable}


_SPECIAL = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _walked_elsewhere(
    top_dir: str, folder: str, keep: Callable[[str, bool], bool] | None
) -> str | None:
    """The real path of a linked folder inside the root that ``keep`` leaves to another shard."""
    if keep is None:
        return None
    real, real_root = os.path.realpath(folder), os.path.realpath(top_dir)
    if os.path.commonpath([real, real_root]) != real_root:
        return None
    rel = os.path.relpath(real, real_root).replace(os.sep, "/")
    return None if keep(rel, True) else rel


def discover(
    root: str | os.PathLike[str], keep: Callable[[str, bool], bool] | None = None
) -> Discovery:
    """List every entry under ``root`` (read-only: only ``stat`` and ``scandir`` are used);
    with ``keep``, only the entries ``keep(path, is_folder)`` accepts, and what lies under them.

    Paths stay strings (``os.scandir`` gives them) and are made relative by slicing: a
    ``pathlib.Path`` per entry was most of the walk's time at 100k files."""
    top_dir = os.path.abspath(os.fspath(root))
    cut = len(os.path.join(top_dir, ""))

    def rel(path: str) -> str:
        return path[cut:].replace(os.sep, "/") if len(path) >= cut else "."

    files: list[FoundFile] = []
    bad: list[Unreadable] = []
    top = os.stat(top_dir)
    walked: dict[tuple[int, int], str] = {(top.st_dev, top.st_ino): "."}
    folders = [top_dir]  # real folders first, so which path of an aliased folder wins is stable
    linked: list[tuple[str, str, tuple[int, int]]] = []
    while folders or linked:
        if folders:
            folder = folders.pop()
        else:
            linked.sort(reverse=True)
            rel_path, folder, key = linked.pop()
            walked_as = walked.get(key) or _walked_elsewhere(top_dir, folder, keep)
            if walked_as is not None:
                bad.append(
                    Unreadable(
                        rel_path,
                        "ignored",
                        "symbolic link to folder '{target}', already walked: not followed "
                        "again (link loop or alias)",
                        target=walked_as,
                    )
                )
                continue
            walked[key] = rel_path
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            bad.append(
                Unreadable(rel(folder), "rejected", f"folder cannot be listed ({exc.strerror})")
            )
            continue
        for entry in entries:
            path = entry.path
            entry_rel = rel(path)
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                reason = (
                    "broken symbolic link (its target does not exist)"
                    if entry.is_symlink()
                    else f"cannot be examined ({exc.strerror})"
                )
                if keep is None or keep(entry_rel, False):
                    bad.append(Unreadable(entry_rel, "rejected", reason))
                continue
            if keep is not None and not keep(entry_rel, stat.S_ISDIR(st.st_mode)):
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if entry.is_symlink():
                    linked.append((entry_rel, path, key))
                elif key not in walked:
                    walked[key] = entry_rel
                    folders.append(path)
            elif stat.S_ISREG(st.st_mode):
                files.append(FoundFile(entry_rel, st.st_size, st.st_mtime_ns))
            else:
                kind = _SPECIAL.get(stat.S_IFMT(st.st_mode), "not a regular file")
                bad.append(
                    Unreadable(entry_rel, "ignored", f"{kind}: not read", mtime_ns=st.st_mtime_ns)
                )
    files.sort(key=lambda f: f.path)
    bad.sort(key=lambda u: u.path)
    return Discovery(tuple(files), tuple(bad))
