"""The one walker over DICOM bytes: the elements of a data set, the items of a sequence.

Modelled on pydicom's ``filereader``: one element reader (:func:`read_dataset`) serves the data
set of a file (the fast header path, :mod:`~xrf_assets.core.dicom.fast_header`), the items of a
sequence (:func:`read_items`; the SR item parser, :mod:`~xrf_assets.core.sr.items`) and the
sequences it steps over (undefined lengths: their items must be whole). It decodes nothing: it
gives positions, so values are sliced (or left on disk, deferred) by whoever reads them. The
bytes come from a :class:`Source`: a file read in chunks through ``pread``, or a value held in
memory, both addressed by file position. Little endian, Explicit or Implicit VR only: what
nearly every file of an archive is; pydicom reads the rest.

Structure is checked as it is walked:

- Broken framing (an element or item that overruns its parent: the file, the item, the
  sequence; an item tag where an element belongs; a missing delimiter) raises
  :class:`Malformed`: nothing after it can be located.
- A tag that does not ascend within one data set (out of order, or repeated) is an
  :class:`Anomaly`. The framing is intact, but which of the two elements carries a damaged tag
  cannot be told: a bit flip that turns Average Pulse Width (0018,1154) into (0018,1150)
  repeats Exposure Time after Exposure (0018,1152), and pydicom keeps the last value, silently.
  So neither is trusted: :func:`read_dataset` leaves out both elements (:func:`untrusted`:
  they read as absent, a null column, never a guess), and the readers warn with a
  :class:`StructureWarning` that names them, which the ingest records as an issue on the file.
  (Items inside the sequences of an image are parsed by pydicom on access: their order is not
  checked; a file the fast path declines is read by pydicom unchecked.)
"""

from __future__ import annotations

import os
import struct
from functools import cache
from typing import BinaryIO, NamedTuple

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
SPECIFIC_CHARACTER_SET = 0x00080005
SOP_CLASS_UID = 0x00080016
TRANSFER_SYNTAX_UID = 0x00020010
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # where dcmread stops
BEFORE_PIXELS = 0x7FE00007  # tags past it may be PIXEL_TAGS
META_END = 0x0002FFFF  # the last tag of the File Meta Information group
VRS: dict[bytes, str] = {str(v).encode(): str(v) for v in VR if len(str(v)) == 2}
LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
CHUNK = 64 * 1024  # the header of a typical image or dose report fits in one read
_HEAD = struct.Struct("<HH2sH")  # explicit VR element header (short form)
_TAG_LENGTH = struct.Struct("<HHL")  # implicit VR element header, and item / delimiter tags
_LONG = struct.Struct("<L")
# VR (None: implicit), length, value position, value end
Element = tuple[str | None, int, int, int]


def read_head(path: str | os.PathLike[str]) -> bytes | None:
    """The first bytes of a file, one read of ``CHUNK`` (64 KB: the whole header of nearly every
    image and report), or None where it cannot be read (the reader then gives the reason). Run
    in threads ahead of the parse, so that on slow storage the waits overlap the parsing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO put there never blocks
    except OSError:
        return None
    try:
        return os.pread(fd, CHUNK, 0)
    except OSError:
        return None
    finally:
        os.close(fd)


class Malformed(ValueError):
    """Bytes that are not whole elements or items: the framing is broken from here on."""


class StructureWarning(UserWarning):
    """A structural anomaly in a file (tags out of order or repeated); the text names the tags."""


class Anomaly(NamedTuple):
    """A tag that does not ascend: ``tag`` came after ``previous``; ``repeated`` if seen before."""

    tag: int
    previous: int
    repeated: bool

    def describe(self, where: str) -> str:
        what = "repeated" if self.repeated else "out of ascending order"
        return (
            f"malformed DICOM: tag {tag_name(self.tag)} {what} after {tag_name(self.previous)}"
            f" in {where}; both attributes left out (read as absent)"
        )


def tag_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def untrusted(anomalies: list[Anomaly]) -> set[int]:
    """The tags whose values are not used: both elements at every tag that does not ascend."""
    return {t for a in anomalies for t in (a.tag, a.previous)}


class Source:
    """Bytes at file positions: a file read in chunks through ``pread`` (the file position is
    left alone), or a value in memory (``fd`` None). ``pos`` is where the last walk ended."""

    __slots__ = ("base", "data", "fd", "pos", "size")

    def __init__(self, data: bytes, fd: int | None = None, size: int | None = None) -> None:
        self.data, self.fd, self.base, self.pos = data, fd, 0, 0
        self.size = len(data) if size is None else size

    @classmethod
    def of_file(cls, fp: BinaryIO, head: bytes | None = None) -> Source:
        """``head``: the file's first bytes, read ahead (:func:`read_head`); else read here."""
        fd = fp.fileno()
        return cls(os.pread(fd, CHUNK, 0) if head is None else head, fd, os.fstat(fd).st_size)

    def at(self, pos: int, n: int) -> int:
        """Offset in ``data`` of the ``n`` bytes at ``pos``, reading them if needed."""
        if pos + n > self.size:
            raise Malformed(f"{pos + n - self.size} bytes missing at the end")
        off = pos - self.base
        if off < 0 or off + n > len(self.data):
            if self.fd is None:
                raise Malformed("position before the value")
            self.base, self.data, off = pos, os.pread(self.fd, max(n, CHUNK), pos), 0
            if len(self.data) < n:
                raise Malformed("the file shrank while read")
        return off

    def bytes(self, pos: int, n: int) -> bytes:
        off = self.at(pos, n)
        return self.data[off : off + n]

    def header(self, pos: int, implicit: bool) -> tuple[int, str | None, int, int]:
        """(tag, VR, length, position of the value) of the element at ``pos``."""
        off = self.at(pos, 12 if pos + 12 <= self.size else 8)
        group, elem, code, length = _HEAD.unpack_from(self.data, off)
        if implicit or group == 0xFFFE:  # items and delimiters carry no VR
            return group << 16 | elem, None, _LONG.unpack_from(self.data, off + 4)[0], pos + 8
        vr = VRS.get(code)
        if vr is None:
            raise Malformed(f"invalid VR in element {tag_name(group << 16 | elem)}")
        if vr in LONG_VRS:
            (length,) = _LONG.unpack_from(self.data, off + 8)  # raises if cut short
            return group << 16 | elem, vr, length, pos + 12
        return group << 16 | elem, vr, length, pos + 8


def read_dataset(
    src: Source,
    pos: int,
    end: int | None,
    implicit: bool,
    anomalies: list[Anomaly],
    last_tag: int = UNDEFINED,
    stops: frozenset[int] | None = None,
) -> dict[int, Element]:
    """{tag: (VR, length, value position, value end)} of one data set from ``pos``, the
    elements at anomalies left out (:func:`untrusted`) and the anomalies added to ``anomalies``.

    The data set ends at ``end`` or, where ``end`` is None (an item of undefined length), with
    its Item Delimitation Item; a walk of a file stops before the first tag past ``last_tag``
    (that is one of ``stops``, if given): the end of the File Meta group, Pixel Data.
    ``src.pos`` is then where it stopped. A sequence of undefined length (0xFFFFFFFF) is stepped
    over, its items checked whole; its value ends before its Sequence Delimitation Item.

    The hot loop of the fast paths (a dose report holds tens of thousands of small items):
    headers are unpacked straight from the window while they lie in it (nearly always: a
    header fits in the first read), and nothing is decoded.
    """
    found: dict[int, Element] = {}
    stop, seen, last = src.size if end is None else end, len(anomalies), -1
    head, long, vrs = _HEAD.unpack_from, _LONG.unpack_from, VRS.get  # locals: the hot loop
    data, base = src.data, src.base  # a window read earlier still holds what it held
    room = len(data) - 12
    try:
        while pos < stop:
            off = pos - base
            if off < 0 or off > room:
                off = src.at(pos, min(12, src.size - pos))
                data, base = src.data, src.base
                room = len(data) - 12
            group, elem, code, length = head(data, off)  # raises if < 8 bytes left
            tag = group << 16 | elem
            if group == 0xFFFE:
                if tag != ITEM_END or end is not None or long(data, off + 4)[0]:
                    raise Malformed(f"{tag_name(tag)} where an element is expected")
                pos += 8
                break
            if tag > last_tag and (stops is None or tag in stops):
                break
            if implicit:
                vr = None
                length = long(data, off + 4)[0]
                value_at = pos + 8
            else:
                vr = vrs(code)
                if vr is None:
                    raise Malformed(f"invalid VR in element {tag_name(tag)}")
                if vr in LONG_VRS:
                    length = long(data, off + 8)[0]
                    value_at = pos + 12
                else:
                    value_at = pos + 8
            if tag <= last:
                anomalies.append(Anomaly(tag, last, tag in found))
            last = tag
            if length == UNDEFINED:
                if not is_sequence(tag, vr):
                    raise Malformed(f"element {tag_name(tag)} of undefined length")
                pos = _sequence_end(src, value_at, implicit)
                found[tag] = (vr, length, value_at, pos - 8)  # the value without its delimiter
            else:
                pos = value_at + length
                if pos > stop:
                    raise Malformed(f"element {tag_name(tag)} overruns its parent")
                found[tag] = (vr, length, value_at, pos)
        else:
            if end is None:
                raise Malformed("item without Item Delimitation Item")
    except struct.error:
        raise Malformed("cut short inside an element header") from None
    src.pos = pos
    if len(anomalies) > seen:
        for tag in untrusted(anomalies[seen:]):
            found.pop(tag, None)
    return found


def read_items(
    src: Source, pos: int, end: int | None, implicit: bool, anomalies: list[Anomaly]
) -> list[dict[int, Element]]:
    """The items of the sequence value at ``pos``, each read by :func:`read_dataset`. The value
    ends at ``end`` (it may end with a Sequence Delimitation Item) or, where None, with that
    delimiter; ``src.pos`` is then after it."""
    out: list[dict[int, Element]] = []
    stop = src.size if end is None else end
    data, base = src.data, src.base  # as in read_dataset
    try:
        while pos < stop:
            off = pos - base
            if off < 0 or off + 8 > len(data):
                off = src.at(pos, 8)
                data, base = src.data, src.base
            group, elem, length = _TAG_LENGTH.unpack_from(data, off)
            tag = group << 16 | elem
            pos += 8
            if tag == SEQUENCE_END:
                if length:
                    raise Malformed("Sequence Delimitation Item with a length")
                break
            if tag != ITEM:
                raise Malformed(f"tag {tag_name(tag)} where an item is expected")
            if length == UNDEFINED:
                out.append(read_dataset(src, pos, None, implicit, anomalies))
                pos = src.pos
            else:
                if pos + length > stop:
                    raise Malformed("item longer than its sequence")
                out.append(read_dataset(src, pos, pos + length, implicit, anomalies))
                pos += length
        else:
            if end is None:
                raise Malformed("sequence without Sequence Delimitation Item")
    except struct.error:
        raise Malformed("cut short inside an item header") from None
    src.pos = pos
    return out


def _sequence_end(src: Source, pos: int, implicit: bool) -> int:
    """Position after the Sequence Delimitation Item of the undefined-length sequence at
    ``pos``: its items must be whole, as pydicom's eager parse of it needs. (The order of their
    tags is checked where they are read.)"""
    read_items(src, pos, None, implicit, [])
    return src.pos


@cache
def _dictionary_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def is_sequence(tag: int, vr: str | None) -> bool:
    """A sequence: by its VR, or (implicit VR: None) by the data dictionary (public tags)."""
    return vr == "SQ" if vr is not None else _dictionary_sequence(tag)


def looks_explicit(header: bytes) -> bool:
    """Whether an element header reads as explicit VR: two capital letters where the VR goes,
    pydicom's test (it warns and switches to explicit VR where the syntax says implicit)."""
    return len(header) >= 6 and all(0x40 < c < 0x5B for c in header[4:6])


def sop_class_uid(ds: Dataset) -> str:
    """SOP Class UID (0008,0016), read from the raw bytes where it still is raw (pydicom's
    conversion would warn on junk); "" where absent. The one way the pipeline reads it."""
    elem = ds.get_item(SOP_CLASS_UID)
    value = elem.value if elem is not None else None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")
    return text.strip("\0 ")
