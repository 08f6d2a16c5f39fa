"""A fast path for :func:`~xrf_assets.core.dicom.read.read_header` on plain Part 10 files.

pydicom's reader spends most of an image header's time in its generic element generator and in
building a Dataset for every item of an undefined-length sequence. Nearly every file of a real
archive is a well-formed Part 10 file in Implicit or Explicit VR Little Endian (or an
encapsulated syntax, whose dataset is Explicit VR Little Endian), so this module parses just
that: the preamble, "DICM", the File Meta Information group (PS3.10 7.1) and the top-level
elements up to Pixel Data (7FE0,0010), as pydicom ``RawDataElement``s. Sequences stay raw bytes
that pydicom decodes when they are first accessed; values longer than the defer size stay on disk
as after ``dcmread(defer_size=...)``.

Anything unusual (another transfer syntax, an invalid VR, an odd length, an element that runs
past the end of the file, bytes that are not a whole element, an image without Pixel Data...)
gives None, and the caller reads the file with pydicom, which gives the reason.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, cast

from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, AllTransferSyntaxes
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from xrf_assets.core.dicom.sop_classes import IMAGE_SOP_CLASSES

_CHUNK = 64 * 1024  # the header of a typical image or dose report fits in one read
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_CHARSET = 0x00080005
_SOP_CLASS = 0x00080016
_TRANSFER_SYNTAX = 0x00020010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # where dcmread stops
_VRS: dict[bytes, str] = {str(v).encode(): str(v) for v in VR if len(str(v)) == 2}
_LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
# Transfer Syntax UID (as stored, unpadded) -> implicit VR; all little endian, none deflated.
_SYNTAXES: dict[bytes, bool] = {
    UID(uid).encode(): UID(uid).is_implicit_VR
    for uid in AllTransferSyntaxes
    if UID(uid).is_little_endian and not UID(uid).is_deflated and "Deflate" not in UID(uid).name
}
_IMAGE_CLASSES = frozenset(uid.encode() for uid in IMAGE_SOP_CLASSES)
_HEAD = struct.Struct("<HH2sH")  # explicit VR element header (short form)
_IMPLICIT_HEAD = struct.Struct("<HHL")  # implicit VR element header, and item / delimiter tags
_LONG = struct.Struct("<L")


class _Unusual(Exception):
    """The file is not one the fast path reads; pydicom's reader takes it."""


class _Window:
    """Bytes of the file read in chunks through ``pread`` (the file position is left alone)."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fd = fp.fileno()
        self.size = os.fstat(self.fd).st_size
        self.base = 0
        self.data = os.pread(self.fd, _CHUNK, 0)

    def at(self, pos: int, n: int) -> int:
        """Offset in ``data`` of the ``n`` bytes at ``pos``, reading them if needed."""
        if pos + n > self.size:
            raise _Unusual
        off = pos - self.base
        if off < 0 or off + n > len(self.data):
            self.base, self.data, off = pos, os.pread(self.fd, max(n, _CHUNK), pos), 0
            if len(self.data) < n:
                raise _Unusual  # the file shrank under us
        return off

    def bytes(self, pos: int, n: int) -> bytes:
        off = self.at(pos, n)
        return self.data[off : off + n]

    def header(self, pos: int, implicit: bool) -> tuple[int, str | None, int, int]:
        """(tag, VR, length, position of the value) of the element at ``pos``."""
        off = self.at(pos, 8)
        if implicit:
            group, elem, length = _IMPLICIT_HEAD.unpack_from(self.data, off)
            return group << 16 | elem, None, length, pos + 8
        group, elem, code, length = _HEAD.unpack_from(self.data, off)
        if group == 0xFFFE:  # items and delimiters carry no VR
            group, elem, length = _IMPLICIT_HEAD.unpack_from(self.data, off)
            return group << 16 | elem, None, length, pos + 8
        vr = _VRS.get(code)
        if vr is None:
            raise _Unusual
        if vr in _LONG_VRS:
            (length,) = _LONG.unpack_from(self.data, self.at(pos + 8, 4))
            return group << 16 | elem, vr, length, pos + 12
        return group << 16 | elem, vr, length, pos + 8


def read_fast(fp: BinaryIO, defer_size: int) -> FileDataset | None:
    """The header of the file open as ``fp``, as ``dcmread(fp, stop_before_pixels=True,
    defer_size=defer_size)`` gives it, or None if the file is not a plain one."""
    try:
        return _read(_Window(fp), fp, defer_size)
    except Exception:  # _Unusual, or anything else odd: pydicom's path decides and says why
        return None


def _read(win: _Window, fp: BinaryIO, defer_size: int) -> FileDataset | None:
    if win.bytes(128, 4) != b"DICM":
        return None
    meta, start = _elements(win, 132, False, defer_size, meta=True)
    implicit = _SYNTAXES.get(_text(meta.get(BaseTag(_TRANSFER_SYNTAX))))
    if implicit is None or start >= win.size:
        return None
    if implicit and all(0x40 < c < 0x5B for c in win.bytes(start + 4, 2)):
        return None  # looks explicit: pydicom would warn and switch
    elements, stop = _elements(win, start, implicit, defer_size, meta=False)
    if stop == win.size and _text(elements.get(BaseTag(_SOP_CLASS))) in _IMAGE_CLASSES:
        return None  # an image without Pixel Data: pydicom's path names it
    file_meta = FileMetaDataset(meta)
    file_meta.set_original_encoding(False, True, default_encoding)
    ds = FileDataset(fp, elements, win.bytes(0, 128), file_meta, implicit, True)
    ds.set_original_encoding(implicit, True, ds._character_set)  # as read_partial does
    return ds


def _text(elem: DataElement | RawDataElement | None) -> bytes:
    """A UI value as stored, without its padding."""
    value = elem.value if elem is not None else None
    return value.rstrip(b"\0 ") if isinstance(value, bytes) else b""


def _elements(
    win: _Window, pos: int, implicit: bool, defer_size: int, meta: bool
) -> tuple[dict[BaseTag, DataElement | RawDataElement], int]:
    """The raw elements from ``pos`` on, and where they stop: the File Meta group (``meta``),
    or the dataset up to Pixel Data or the end of the file.

    The hot loop of the fast path: element headers and values are taken straight from the
    window while they lie in it (nearly always: a header fits in the first read).
    """
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    size, last = win.size, -1
    while pos < size:
        data, off = win.data, pos - win.base
        if off < 0 or off + 12 > len(data):
            off, data = win.at(pos, min(12, size - pos)), win.data
        group, elem, code, length = _HEAD.unpack_from(data, off)  # raises if < 8 bytes left
        if meta and group != 2:
            break  # the dataset starts, maybe in implicit VR
        tag = group << 16 | elem
        if tag in _PIXEL_TAGS:  # checked as read_header's _truncation does, then not read
            if not implicit and _VRS.get(code) not in _LONG_VRS:
                raise _Unusual
            length = _LONG.unpack_from(data, off + (4 if implicit else 8))[0]
            if length != _UNDEFINED and pos + (8 if implicit else 12) + length > size:
                raise _Unusual  # cut short: pydicom's path names it
            return elements, pos
        if tag <= last or group == 0xFFFE or (not meta and group in (0, 2)):
            raise _Unusual
        last = tag
        if implicit:
            vr = None
            length = _LONG.unpack_from(data, off + 4)[0]
            value_at = pos + 8
        else:
            vr = _VRS.get(code)
            if vr is None:
                raise _Unusual
            if vr in _LONG_VRS:
                length = _LONG.unpack_from(data, off + 8)[0]
                value_at = pos + 12
            else:
                value_at = pos + 8
        value: bytes | None
        if length == _UNDEFINED:
            if not _is_sequence(tag, vr):
                raise _Unusual
            pos = _sequence_end(win, value_at, implicit)
            value = win.bytes(value_at, pos - 8 - value_at)
        else:
            pos = value_at + length
            if length & 1 or pos > size:
                raise _Unusual
            if length > defer_size and tag != _CHARSET and not meta:
                value = None
            elif not length:
                value = cast(bytes | None, empty_value_for_VR(vr, raw=True))
            elif pos - win.base <= len(data) and data is win.data:
                value = data[value_at - win.base : pos - win.base]
            else:
                value = win.bytes(value_at, length)
        key = BaseTag(tag)
        elements[key] = RawDataElement(key, vr, length, value, value_at, implicit, True)
    return elements, pos


def _is_sequence(tag: int, vr: str | None) -> bool:
    """Only sequences may have an undefined length before Pixel Data (implicit VR: a public SQ)."""
    if vr is not None:
        return vr == "SQ"
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def _sequence_end(win: _Window, pos: int, implicit: bool) -> int:
    """Position after the Sequence Delimitation Item of the undefined-length sequence at ``pos``."""
    while True:
        tag, _, length, value_at = win.header(pos, True)
        if tag == _SEQUENCE_END:
            if length:
                raise _Unusual
            return value_at
        if tag != _ITEM:
            raise _Unusual
        pos = _item_end(win, value_at, implicit, None if length == _UNDEFINED else length)


def _item_end(win: _Window, pos: int, implicit: bool, length: int | None) -> int:
    """Position after an item: its elements must tile it exactly (defined ``length``) or end
    with an Item Delimitation Item (undefined length), as pydicom's eager parse would need."""
    end = None if length is None else pos + length
    while end is None or pos < end:
        tag, vr, size, value_at = win.header(pos, implicit)
        if tag == _ITEM_END and end is None:
            if size:
                raise _Unusual
            return value_at
        if tag >> 16 == 0xFFFE:
            raise _Unusual
        if size == _UNDEFINED:
            if not _is_sequence(tag, vr):
                raise _Unusual
            pos = _sequence_end(win, value_at, implicit)
        else:
            pos = value_at + size
            if size & 1 or pos > win.size:
                raise _Unusual
    if pos != end:
        raise _Unusual
    return pos
