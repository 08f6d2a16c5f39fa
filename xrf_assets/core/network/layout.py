"""Where a received object lives in the input tree: ``<calling AE>/<study UID>/<SOP UID>.dcm``.

AE titles are free text of up to 16 characters (PS3.5 AE VR: any character but backslash and
control characters), so they are made safe for a path; UIDs are digits and dots (PS3.5 9.1), and
anything else that arrives in their place is replaced by a digest so that no sent value can
climb out of the tree or collide with another.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_AE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
UNKNOWN_STUDY = "no-study-uid"
VARIANT = "v-"  # <SOP UID>.v-<digest>.dcm: same UID, other content (kept, never overwritten)


def safe_ae(ae_title: str) -> str:
    """A folder name for a calling AE title: unsafe characters become ``_``, never ``.``/``..``."""
    name = _AE_UNSAFE.sub("_", ae_title.strip())
    if not name or set(name) == {"."}:
        return "_" * max(1, len(name))
    return name


def safe_uid(uid: str | None) -> str | None:
    """The UID itself when it is one (at most 64 characters), else ``x-<digest>``."""
    if not uid:
        return None
    uid = uid.strip().rstrip("\x00")
    if _UID.match(uid) and len(uid) <= 64:
        return uid
    return "x-" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:32]


def object_path(root: Path, ae_title: str, study_uid: str | None, sop_uid: str) -> Path:
    """The file a received object is stored as."""
    study = safe_uid(study_uid) or UNKNOWN_STUDY
    return root / safe_ae(ae_title) / study / f"{safe_uid(sop_uid) or 'no-sop-uid'}.dcm"


def stored_copies(root: Path, study_uid: str | None, sop_uid: str) -> list[Path]:
    """Files already holding this SOP instance, from any calling AE (and variants of it)."""
    study = safe_uid(study_uid) or UNKNOWN_STUDY
    sop = safe_uid(sop_uid) or "no-sop-uid"
    if not root.is_dir():
        return []
    found: list[Path] = []
    for ae_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        folder = ae_dir / study
        if folder.is_dir():
            found += sorted(folder.glob(f"{sop}.dcm")) + sorted(
                folder.glob(f"{sop}.{VARIANT}*.dcm")
            )
    return found
