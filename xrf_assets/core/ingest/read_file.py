"""One read per file, dispatched by SOP Class UID (0008,0016): what the file is and its rows.

Runs in worker processes, so everything a file can do wrong ends here as a status and a reason
(never an exception that would stop the run): unreadable -> rejected, an X-ray image or dose
report that cannot be used -> rejected, any other DICOM object -> ignored. Reasons and issues name
attributes and templates, never values: pydicom's warnings are kept with quoted values blanked,
because a value may be a patient's name. Reasons tell a file the system cannot read ("cannot read
file: Permission denied") from damaged bytes ("not a readable DICOM file: ...", "truncated
file: ..."); tags out of order or repeated are issues ("malformed DICOM: tag ... repeated after
...") and their attributes read as absent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from xrf_assets.core.dicom.direct import read_image
from xrf_assets.core.dicom.elements import (
    StructureWarning,
    looks_explicit,
    read_head,
    sop_class_uid,
)
from xrf_assets.core.dicom.read import read_header
from xrf_assets.core.dicom.sop_classes import IMAGE_SOP_CLASSES, RDSR_SOP_CLASSES
from xrf_assets.core.dicom.values import Header
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import extract_report, is_dose_report
from xrf_assets.core.extract.images import TOP_LEVEL_TAGS, extract_image, image_row
from xrf_assets.core.ingest.privacy import PrivacySettings

Rows = dict[str, list[dict[str, Any]]]
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_MAX_WARNINGS = 3
_PREAMBLE = 132  # 128 bytes and "DICM"
# uncompressed transfer syntax -> data set encoded with explicit VR
_VR_ENCODING: dict[str, bool] = {
    ImplicitVRLittleEndian: False,
    ExplicitVRLittleEndian: True,
    ExplicitVRBigEndian: True,
}


@dataclass(frozen=True)
class ReaderContext:
    """What every worker needs; sent once per worker process."""

    root: Path
    privacy: PrivacySettings
    # threads reading the first bytes of the next files while one is parsed (0: none): on
    # storage with a latency per read (NFS, SMB, object stores) the waits overlap the parsing;
    # used where the first read of a task takes ``slow_read_s`` or more (from the page cache or
    # a local disk a read takes ~20 us, and the threads would only cost CPU: 4-14 % measured)
    read_ahead: int = 4
    slow_read_s: float = 0.0005


@dataclass
class FileOutcome:
    """The dicom_files facts of one file and the rows it gives (privacy already applied)."""

    path: str
    kind: str = "unknown"
    status: str = "rejected"
    reason: str | None = None
    issues: list[str] = field(default_factory=list)
    header: dict[str, str | None] = field(default_factory=dict)
    rows: Rows = field(default_factory=dict)


# dicom_files column -> header keyword (sop_class_uid: read by sop_class_uid)
_HEADER = {
    "sop_instance_uid": "SOPInstanceUID",
    "modality": "Modality",
    "study_instance_uid": "StudyInstanceUID",
}


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip("\0 ") if value is not None else ""
    return text or None


def _header(ds: Dataset) -> dict[str, str | None]:
    header = {column: _text(ds, keyword) for column, keyword in _HEADER.items()}
    header["sop_class_uid"] = sop_class_uid(ds) or None
    meta = getattr(ds, "file_meta", None)
    header["transfer_syntax_uid"] = _text(meta, "TransferSyntaxUID") if meta is not None else None
    return header


def _image_rows(ds: Dataset, path: str, ctx: ReaderContext) -> tuple[Rows, list[str], None]:
    problems: list[str] = []
    row = extract_image(ds, path, problems)
    return {"images": [ctx.privacy.apply(row)]}, problems, None


def _report_rows(ds: Dataset, path: str, ctx: ReaderContext) -> tuple[Rows, list[str], str | None]:
    extract = extract_report(ds, path)
    rows: Rows = {
        "irradiation_events": [ctx.privacy.apply(r) for r in extract.events],
        "accumulated_dose": [{**r, "source_path": path} for r in extract.accumulated],
        "event_image_refs": [{**r, "source_path": path} for r in extract.refs],
    }
    return rows, list(extract.issues), extract.partial


# kind -> (does the dataset belong to it, extractor); first match wins
_KINDS: tuple[
    tuple[
        str,
        Callable[[Dataset], bool],
        Callable[[Dataset, str, ReaderContext], tuple[Rows, list[str], str | None]],
    ],
    ...,
] = (
    ("image", lambda ds: sop_class_uid(ds) in IMAGE_SOP_CLASSES, _image_rows),
    ("dose_report", is_dose_report, _report_rows),
)


def _classify(ds: Dataset, out: FileOutcome, ctx: ReaderContext) -> None:
    out.header = _header(ds)
    sop_class = out.header["sop_class_uid"]
    if sop_class is None:
        out.reason = "SOP Class UID (0008,0016) missing: the object cannot be identified"
        return
    for kind, belongs, extract in _KINDS:
        if belongs(ds):
            out.kind = kind
            if out.header["sop_instance_uid"] is None:
                out.reason = "SOP Instance UID (0008,0018) missing"
                return
            out.rows, issues, partial = extract(ds, out.path, ctx)
            out.issues.extend(issues)
            out.status, out.reason = ("partial", partial) if partial else ("ok", None)
            return
    out.kind, out.status = "other", "ignored"
    name = UID(sop_class).name
    out.reason = f"SOP Class {sop_class} ({name}) is not an X-ray image or dose report"


# SOP class -> kind, for a file whose header is unreadable but whose File Meta Information says
# what it was meant to be: the physicist learns that an image or a dose report was lost.
_KIND_BY_CLASS = {uid: "image" for uid in IMAGE_SOP_CLASSES} | {
    uid: "dose_report" for uid in RDSR_SOP_CLASSES
}


def _identify_from_meta(out: FileOutcome, path: Path) -> None:
    """Kind and UIDs from the File Meta Information (0002,xxxx) alone, where it is readable; and
    a wrong Transfer Syntax UID named as the cause, where it is one."""
    meta = read_file_meta_info(path)  # raises when the meta group is damaged too
    sop_class = _text(meta, "MediaStorageSOPClassUID")
    syntax = _text(meta, "TransferSyntaxUID")
    out.kind = _KIND_BY_CLASS.get(sop_class or "", "unknown")
    out.header = {
        "sop_instance_uid": _text(meta, "MediaStorageSOPInstanceUID"),
        "sop_class_uid": sop_class,
        "transfer_syntax_uid": syntax,
    }
    group_length = meta.get("FileMetaInformationGroupLength")
    if syntax is None or group_length is None or syntax not in _VR_ENCODING:
        return
    with open(path, "rb") as fh:
        fh.seek(_PREAMBLE + 12 + int(group_length))
        first = fh.read(6)
    explicit = looks_explicit(first)
    if explicit != _VR_ENCODING[syntax]:
        said, found = ("explicit", "implicit") if _VR_ENCODING[syntax] else ("implicit", "explicit")
        out.reason = (
            f"wrong Transfer Syntax UID (0002,0010): it says {said} VR, the data set is "
            f"encoded {found} VR ({out.reason})"
        )


def _unexpected(exc: Exception) -> str:
    """Type and place of an error nobody anticipated, without its message (it may hold values)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return (
        f"unexpected {type(exc).__name__} in {Path(frame.filename).name}:{frame.lineno} "
        f"({frame.name}); the file is kept out of the tables, please report it"
    )


def _unknown_vr(exc: BaseException) -> str | None:
    """pydicom's NotImplementedError for a VR it does not know ("Unknown Value Representation
    '0x43 0x00' in tag (0008,0060)": bytes and a tag, no value) is damage; any other is a bug."""
    text = str(exc)
    return f"not a readable DICOM file: {text}" if text.startswith("Unknown Value Repr") else None


# exception type -> reason for failures that are the file's fault (None: not the file's, a bug)
_FAILURES: dict[type[BaseException], Callable[[BaseException], str | None]] = {
    ExtractionError: str,
    RecursionError: lambda e: "sequences nested too deeply to read",
    MemoryError: lambda e: "header too large to read in memory",
    OSError: lambda e: (
        f"cannot read file: {getattr(e, 'strerror', None) or e}"
        if getattr(e, "errno", None) is not None  # the system's: permission, I/O
        else f"not a readable DICOM file: {type(e).__name__}: {e}"  # pydicom's, on damaged bytes
    ),
    NotImplementedError: _unknown_vr,
}


@contextlib.contextmanager
def _pydicom_logger_off() -> Iterator[None]:
    """pydicom logs every warning it raises, values included ("Invalid value for VR DA:
    '1960-01-02'"): a birth date in the log. The warnings are kept, blanked, as issues instead."""
    logger = logging.getLogger("pydicom")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


_READ_AHEAD: dict[int, ThreadPoolExecutor] = {}  # threads -> this process's pool of them


def read_many(ctx: ReaderContext, paths: Sequence[str]) -> list[FileOutcome]:
    """:func:`read_one` over ``paths``, in order, with each file's first bytes read ahead by
    ``ctx.read_ahead`` threads (the parse itself stays on this thread)."""
    if ctx.read_ahead <= 0 or len(paths) < 2:
        return [read_one(ctx, p) for p in paths]
    started = time.perf_counter()
    head = read_head(ctx.root / paths[0])
    slow = time.perf_counter() - started >= ctx.slow_read_s
    first = read_one(ctx, paths[0], head)
    if not slow:  # page cache or a local disk: no waits to overlap
        return [first, *(read_one(ctx, p) for p in paths[1:])]
    pool = _READ_AHEAD.get(ctx.read_ahead)
    if pool is None:
        pool = _READ_AHEAD[ctx.read_ahead] = ThreadPoolExecutor(ctx.read_ahead, "read-ahead")
    heads = pool.map(read_head, [ctx.root / p for p in paths[1:]])
    return [first, *(read_one(ctx, p, head) for p, head in zip(paths[1:], heads, strict=True))]


def read_one(ctx: ReaderContext, path: str, head: bytes | None = None) -> FileOutcome:
    """Read the header of ``root/path`` once and classify it; never raises for a bad file.
    ``head``: the file's first bytes, read ahead (:func:`read_many`)."""
    with _pydicom_logger_off():  # a charset decode that falls back logs the value
        out = _read_direct(ctx, path, head)
    return _read_general(ctx, path, head) if out is None else out


# dicom_files column -> tag, for the direct read
_HEADER_TAGS = {column: int(tag_for_keyword(keyword) or 0) for column, keyword in _HEADER.items()}


def _read_direct(ctx: ReaderContext, path: str, head: bytes | None) -> FileOutcome | None:
    """The outcome of a plain XA / XRF image read straight from its bytes
    (:mod:`~xrf_assets.core.dicom.direct`: most of an archive, at a fraction of the cost), or
    None where the general path must read the file; both give the same outcome."""
    image = read_image(os.path.join(ctx.root, path), TOP_LEVEL_TAGS, _HEADER_TAGS, head)
    if image is None:
        return None
    out = FileOutcome(path, "image", header=image.header)
    if image.header["sop_instance_uid"] is None:
        out.reason = "SOP Instance UID (0008,0018) missing"
        return out
    problems: list[str] = []
    try:
        h = Header.of_elements(image.elements, image.encodings, problems)
        row = image_row(h, image.header["sop_class_uid"], path)
    except Exception:  # the general path gives the reason
        return None
    out.rows, out.issues, out.status = {"images": [ctx.privacy.apply(row)]}, problems, "ok"
    return out


def _read_general(ctx: ReaderContext, path: str, head: bytes | None) -> FileOutcome:
    out = FileOutcome(path)
    with warnings.catch_warnings(record=True) as caught, _pydicom_logger_off():
        warnings.simplefilter("always")
        try:
            if (ctx.root / path).stat().st_size == 0:
                raise ExtractionError("empty file (0 bytes)")
            _classify(read_header(ctx.root / path, head), out, ctx)
        except Exception as exc:
            failure = next((f for t, f in _FAILURES.items() if isinstance(exc, t)), None)
            out.status, out.rows = "rejected", {}
            out.reason = (failure(exc) if failure else None) or _unexpected(exc)
            if not out.header:
                with contextlib.suppress(Exception):  # a second look, never a new failure
                    _identify_from_meta(out, ctx.root / path)
    damage = [w for w in caught if w.category is StructureWarning]  # names tags, never values
    out.issues.extend(dict.fromkeys(str(w.message) for w in damage))
    notes = dict.fromkeys(
        _QUOTED.sub("'…'", str(w.message)) for w in caught if w.category is not StructureWarning
    )
    out.issues.extend(f"pydicom: {n}" for n in list(notes)[:_MAX_WARNINGS])
    if len(notes) > _MAX_WARNINGS:
        out.issues.append(f"pydicom: {len(notes) - _MAX_WARNINGS} more warnings")
    return out
