"""A fast path for :func:`~xrf_assets.core.dicom.read.read_header` on plain Part 10 files.

pydicom's reader spends most of an image header's time in its generic element generator and in
building a Dataset for every item of an undefined-length sequence. Nearly every file of a real
archive is a well-formed Part 10 file in Implicit or Explicit VR Little Endian (or an
encapsulated syntax, whose dataset is Explicit VR Little Endian), so this module parses just
that: the preamble, "DICM", the File Meta Information group (PS3.10 7.1) and the top-level
elements up to Pixel Data (7FE0,0010), as pydicom ``RawDataElement``s. Sequences stay raw bytes
that pydicom decodes when they are first accessed; values longer than the defer size stay on disk
as after ``dcmread(defer_size=...)``.

The bytes are walked by :mod:`~xrf_assets.core.dicom.elements`. Anything unusual (another
transfer syntax, an invalid VR, an odd length, an element that runs past the end of the file,
bytes that are not a whole element, an image without Pixel Data...) gives None, and the caller
reads the file with pydicom, which gives the reason. Tags that do not ascend are not unusual
but damaged: both elements at the break are left out of the dataset and a
:class:`~xrf_assets.core.dicom.elements.StructureWarning` names them (pydicom would keep the
last of a repeated tag without a word).
"""

from __future__ import annotations

import warnings
from typing import BinaryIO, cast

from pydicom.charset import default_encoding
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, AllTransferSyntaxes

from xrf_assets.core.dicom.elements import (
    BEFORE_PIXELS,
    LONG_VRS,
    META_END,
    PIXEL_TAGS,
    SPECIFIC_CHARACTER_SET,
    TRANSFER_SYNTAX_UID,
    UNDEFINED,
    Anomaly,
    Source,
    StructureWarning,
    looks_explicit,
    read_dataset,
    sop_class_uid,
)
from xrf_assets.core.dicom.sop_classes import IMAGE_SOP_CLASSES

CONTENT_SEQUENCE = 0x0040A730

# Transfer Syntax UID (as stored, unpadded) -> implicit VR; all little endian, none deflated.
SYNTAXES: dict[bytes, bool] = {
    UID(uid).encode(): UID(uid).is_implicit_VR
    for uid in AllTransferSyntaxes
    if UID(uid).is_little_endian and not UID(uid).is_deflated and "Deflate" not in UID(uid).name
}


class _Unusual(Exception):
    """The file is not one the fast path reads; pydicom's reader takes it."""


def read_fast(fp: BinaryIO, defer_size: int, head: bytes | None = None) -> FileDataset | None:
    """The header of the file open as ``fp``, as ``dcmread(fp, stop_before_pixels=True,
    defer_size=defer_size)`` gives it, or None if the file is not a plain one. ``head``: the
    file's first bytes if already read (:func:`~xrf_assets.core.dicom.elements.read_head`)."""
    try:
        return _read(Source.of_file(fp, head), fp, defer_size)
    except Exception:  # _Unusual, Malformed, or anything odd: pydicom's path decides and says why
        return None


def _read(src: Source, fp: BinaryIO, defer_size: int) -> FileDataset | None:
    if src.bytes(128, 4) != b"DICM":
        return None
    anomalies: list[Anomaly] = []
    meta, start = _elements(src, 132, False, defer_size, True, anomalies)
    implicit = SYNTAXES.get(_text(meta.get(BaseTag(TRANSFER_SYNTAX_UID))))
    if implicit is None or start >= src.size:
        return None
    if implicit and looks_explicit(src.bytes(start, 6)):
        return None  # pydicom would warn and switch
    kept: dict[int, bytes] = {}
    found, stop = _elements(src, start, implicit, defer_size, False, anomalies, kept)
    if found and next(iter(found)) >> 16 in (0, 2):
        raise _Unusual  # a command or meta group in the data set
    file_meta = FileMetaDataset(meta)
    file_meta.set_original_encoding(False, True, default_encoding)
    ds = FileDataset(fp, found, src.bytes(0, 128), file_meta, implicit, True)
    ds.set_original_encoding(implicit, True, ds._character_set)  # as read_partial does
    ds.window_values = kept  # deferred values the window held: read once, not twice
    if stop == src.size and sop_class_uid(ds) in IMAGE_SOP_CLASSES:
        return None  # an image without Pixel Data: pydicom's path names it
    for anomaly in anomalies:
        where = "the File Meta Information" if anomaly.tag >> 16 == 2 else "the data set"
        warnings.warn(anomaly.describe(where), StructureWarning, stacklevel=2)
    return ds


def _text(elem: DataElement | RawDataElement | None) -> bytes:
    """A UI value as stored, without its padding."""
    value = elem.value if elem is not None else None
    return value.rstrip(b"\0 ") if isinstance(value, bytes) else b""


def _elements(
    src: Source,
    pos: int,
    implicit: bool,
    defer_size: int,
    meta: bool,
    anomalies: list[Anomaly],
    kept: dict[int, bytes] | None = None,
) -> tuple[dict[BaseTag, DataElement | RawDataElement], int]:
    """The raw elements from ``pos`` on, and where they stop: the File Meta group (``meta``),
    or the data set up to Pixel Data or the end of the file (the elements at anomalies left
    out). Values are sliced straight from the window while they lie in it. A deferred Content
    Sequence (0040,A730) the window holds whole goes to ``kept``: the report reader reads it
    next, and would read it from the file a second time."""
    found: dict[BaseTag, DataElement | RawDataElement] = {}
    last_tag, stops = (META_END, None) if meta else (BEFORE_PIXELS, PIXEL_TAGS)
    walked = read_dataset(src, pos, src.size, implicit, anomalies, last_tag, stops)
    pos = src.pos
    if pos < src.size and not meta:  # stopped at Pixel Data
        check_pixel_data(src, pos, implicit)
    data, base = src.data, src.base
    room = len(data)
    for tag, (vr, length, value_at, end) in walked.items():
        value: bytes | None
        if length == UNDEFINED:
            value = src.bytes(value_at, end - value_at)
        elif length & 1:
            raise _Unusual
        elif length > defer_size and tag != SPECIFIC_CHARACTER_SET and not meta:
            value = None
            if (
                tag == CONTENT_SEQUENCE
                and kept is not None
                and 0 <= value_at - base <= room - length
            ):
                kept[tag] = data[value_at - base : value_at - base + length]
        elif not length:
            value = cast(bytes | None, empty_value_for_VR(vr, raw=True))
        elif (off := value_at - base) >= 0 and off + length <= len(data):
            value = data[off : off + length]
        else:
            value = src.bytes(value_at, length)
        key = BaseTag(tag)
        found[key] = RawDataElement(key, vr, length, value, value_at, implicit, True)
    return found, pos


def check_pixel_data(src: Source, pos: int, implicit: bool) -> None:
    """Pixel Data is not read, but checked as read_header's _truncation does: a cut one is
    pydicom's path to name."""
    _, vr, length, value_at = src.header(pos, implicit)
    if not implicit and vr not in LONG_VRS:
        raise _Unusual
    if length != UNDEFINED and value_at + length > src.size:
        raise _Unusual
