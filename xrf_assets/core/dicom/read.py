"""The one way the pipeline opens a DICOM file: header only, never pixel data.

Archives hold multi-frame runs of 100 MB and more, so the read stops before Pixel Data
(7FE0,0010) and defers large elements (private blobs, long Frame Time Vectors) until asked for.
Files without the 128-byte preamble are read anyway (old archives hold bare datasets), but what
comes out must look like a DICOM instance, or the file is refused with a reason.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from typing import BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from xrf_assets.core.dicom.elements import PIXEL_TAGS, UNDEFINED, StructureWarning, sop_class_uid
from xrf_assets.core.dicom.fast_header import read_fast
from xrf_assets.core.dicom.sop_classes import IMAGE_SOP_CLASSES
from xrf_assets.core.errors import ExtractionError

__all__ = ["DEFER_SIZE", "read_header", "sop_class_uid"]

# Elements longer than this stay on disk until read (a deferred read reopens the file by name).
DEFER_SIZE = 16 * 1024
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def read_header(path: str | os.PathLike[str], head: bytes | None = None) -> Dataset:
    """Read the header of ``path``; raise :class:`ExtractionError` for a file that is not usable.
    ``head``: the file's first bytes where read ahead (``elements.read_head``).

    Refused: unreadable files ("cannot read file": permissions, I/O errors), non-DICOM or
    malformed content ("not a readable DICOM file", "not a DICOM instance"), a File Meta
    Information group without Transfer Syntax UID (0002,0010), files cut short ("truncated
    file": inside the header, an XA/XRF image without Pixel Data, or Pixel Data shorter than its
    stated length: an interrupted copy). Tags out of order or repeated leave their attributes
    out, with a :class:`~xrf_assets.core.dicom.elements.StructureWarning`. Other warnings
    pydicom raises while reading pass through unchanged.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fp, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds, cut = _read_fast(fp, caught, head), None
            if ds is None:
                ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE, force=True)
                cut = _truncation(ds, fp)
    except Exception as exc:  # pydicom raises many types on hostile bytes; all mean "not DICOM"
        if isinstance(exc, OSError) and exc.errno is not None:  # the system's: permission, I/O
            raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from exc
        # pydicom's own OSError ("No tag to read at ...") means damaged bytes, as the rest do
        raise ExtractionError(f"not a readable DICOM file: {type(exc).__name__}: {exc}") from exc
    for w in caught:  # the damage is named even where the file is refused below
        if w.category is StructureWarning:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    _check_plausible(ds)
    if cut:
        raise ExtractionError(f"truncated file: {cut}")
    for w in caught:
        if "end of file" in str(w.message).lower():  # pydicom's EOFError inside a sequence
            raise ExtractionError("truncated file: it ends inside a sequence")
        if w.category is not StructureWarning:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return ds


def _read_fast(
    fp: BinaryIO, caught: list[warnings.WarningMessage], head: bytes | None
) -> Dataset | None:
    """The fast parse of a plain file (:mod:`~xrf_assets.core.dicom.fast_header`), or None.

    Whatever is not plain (including a fast parse that warned or gives an implausible dataset)
    is read again by pydicom, so that every refusal and warning is the one pydicom's path gives;
    but a dataset with structural anomalies is kept as the walker left it (the damaged
    attributes out, the warnings kept): pydicom would read the damaged values back in.
    """
    ds = read_fast(fp, DEFER_SIZE, head)
    if ds is not None and all(w.category is StructureWarning for w in caught):
        if caught:
            return ds  # read_header's own check refuses it if it is implausible now
        try:
            _check_plausible(ds)
            return ds
        except ExtractionError:
            pass
    caught.clear()
    return None


def _truncation(ds: Dataset, fp: BinaryIO) -> str | None:
    """Why the file looks cut short, if it does.

    pydicom reads a cut file without complaint (a short last value, a skipped deferred value, a
    partial element header dropped), so the element lengths are compared with the file size.
    """
    size = os.fstat(fp.fileno()).st_size
    start = fp.tell()  # after a stop before pixel data: the start of that element
    implicit, little = ds.original_encoding
    head = fp.read(12)
    if len(head) >= 8:
        order = "<" if little is not False else ">"
        group, elem = struct.unpack(f"{order}HH", head[:4])
        if (group << 16 | elem) in PIXEL_TAGS:
            if implicit:
                (length,), header = struct.unpack(f"{order}L", head[4:8]), 8
            elif len(head) == 12:
                (length,), header = struct.unpack(f"{order}L", head[8:12]), 12
            else:
                return "Pixel Data (7FE0,0010) element header cut short"
            if length != UNDEFINED and start + header + length > size:
                held = max(size - start - header, 0)
                return f"Pixel Data (7FE0,0010) states {length} bytes, the file holds {held}"
            return None  # encapsulated (undefined length) frames state no total up front
    if not len(ds):
        return None
    last = ds.get_item(list(ds.keys())[-1], keep_deferred=True)  # the last one read
    if isinstance(last, RawDataElement) and last.length != UNDEFINED:
        end = last.value_tell + last.length
        if end > size:
            return f"it ends inside element {last.tag}"
        if end < size:
            return f"{size - end} bytes after element {last.tag} are not a whole element"
    if sop_class_uid(ds) in IMAGE_SOP_CLASSES:
        return "an XA/XRF image that ends before its Pixel Data (7FE0,0010)"
    return None


def _check_plausible(ds: Dataset) -> None:
    """A forced read of any bytes yields some dataset; demand what every DICOM instance has."""
    meta = ds.file_meta
    if len(meta) and "TransferSyntaxUID" not in meta:
        raise ExtractionError(
            "File Meta Information has no Transfer Syntax UID (0002,0010): encoding unknown"
        )
    sop_class = sop_class_uid(ds) or meta.get("MediaStorageSOPClassUID")
    if not sop_class or not _UID.match(str(sop_class)):
        raise ExtractionError("not a DICOM instance: no valid SOP Class UID (0008,0016)")
