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
from pathlib import Path


@dataclass(frozen=True)
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


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _walked_elsewhere(
    root: Path, folder: Path, keep: Callable[[str, bool], bool] | None
) -> str | None:
    """The real path of a linked folder inside ``root`` that ``keep`` leaves to another shard."""
    if keep is None:
        return None
    real = Path(os.path.realpath(folder))
    if not real.is_relative_to(real_root := Path(os.path.realpath(root))):
        return None
    rel = real.relative_to(real_root).as_posix()
    return None if keep(rel, True) else rel


def discover(
    root: str | os.PathLike[str], keep: Callable[[str, bool], bool] | None = None
) -> Discovery:
    """List every entry under ``root`` (read-only: only ``stat`` and ``scandir`` are used);
    with ``keep``, only the entries ``keep(path, is_folder)`` accepts, and what lies under them."""
    root = Path(root)
    files: list[FoundFile] = []
    bad: list[Unreadable] = []
    top = root.stat()
    walked: dict[tuple[int, int], str] = {(top.st_dev, top.st_ino): "."}
    folders = [root]  # real folders first, so which path of an aliased folder wins is stable
    linked: list[tuple[str, Path, tuple[int, int]]] = []
    while folders or linked:
        if folders:
            folder = folders.pop()
        else:
            linked.sort(reverse=True)
            rel, folder, key = linked.pop()
            walked_as = walked.get(key) or _walked_elsewhere(root, folder, keep)
            if walked_as is not None:
                bad.append(
                    Unreadable(
                        rel,
                        "ignored",
                        "symbolic link to folder '{target}', already walked: not followed "
                        "again (link loop or alias)",
                        target=walked_as,
                    )
                )
                continue
            walked[key] = rel
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            bad.append(
                Unreadable(
                    _rel(root, folder), "rejected", f"folder cannot be listed ({exc.strerror})"
                )
            )
            continue
        for entry in entries:
            path = Path(entry.path)
            rel = _rel(root, path)
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                reason = (
                    "broken symbolic link (its target does not exist)"
                    if entry.is_symlink()
                    else f"cannot be examined ({exc.strerror})"
                )
                if keep is None or keep(rel, False):
                    bad.append(Unreadable(rel, "rejected", reason))
                continue
            if keep is not None and not keep(rel, stat.S_ISDIR(st.st_mode)):
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if entry.is_symlink():
                    linked.append((rel, path, key))
                elif key not in walked:
                    walked[key] = rel
                    folders.append(path)
            elif stat.S_ISREG(st.st_mode):
                files.append(FoundFile(rel, st.st_size, st.st_mtime_ns))
            else:
                kind = _SPECIAL.get(stat.S_IFMT(st.st_mode), "not a regular file")
                bad.append(Unreadable(rel, "ignored", f"{kind}: not read", mtime_ns=st.st_mtime_ns))
    return Discovery(
        tuple(sorted(files, key=lambda f: f.path)),
        tuple(sorted(bad, key=lambda u: u.path)),
    )
