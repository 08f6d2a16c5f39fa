"""Fast, lenient access to the attributes of SR content items, parsed or still raw.

pydicom reads a defined-length sequence as raw bytes and builds a ``Dataset`` per item, with a
value conversion per element, only when it is accessed. For a dose report that is most of the
cost: a large angiography report holds thousands of content items, each a few nested sequences
(Concept Name, Measured Value, Units). Here such a sequence is split into items directly from its
bytes (little endian, explicit or implicit VR, defined or undefined lengths), and only the
elements a reader asks for are decoded. Items pydicom has already parsed (undefined-length
sequences read with the file, datasets built in memory) are read through pydicom, so both kinds
can meet in one tree.
"""

from __future__ import annotations

import struct
from functools import cache

from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_TAG_LENGTH = struct.Struct("<HHI")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_UINT32 = struct.Struct("<I")
_FLOAT64 = struct.Struct("<d")


class RawItem:
    """One sequence item as {tag: (VR or None if implicit, value bytes)}, decoded on demand."""

    __slots__ = ("elements", "implicit")

    def __init__(self, elements: dict[int, tuple[bytes | None, bytes]], implicit: bool) -> None:
        self.elements = elements
        self.implicit = implicit


Item = Dataset | RawItem


class MalformedSequence(ValueError):
    """Sequence bytes that do not parse as items; the reader notes it and reads nothing there."""


def _elements(buf: bytes, pos: int, end: int | None, implicit: bool) -> tuple[RawItem, int]:
    """Elements of one item from ``pos`` to ``end`` (or to its Item Delimitation Item)."""
    elements: dict[int, tuple[bytes | None, bytes]] = {}
    limit = len(buf) if end is None else end
    while pos < limit:
        group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
        tag = group << 16 | element
        if tag == _ITEM_END:
            return RawItem(elements, implicit), pos + 8
        vr: bytes | None = None
        if implicit:
            pos += 8
        else:
            _, _, vr, short = _EXPLICIT_SHORT.unpack_from(buf, pos)
            if vr in _LONG_VRS:
                (length,) = _UINT32.unpack_from(buf, pos + 8)
                pos += 12
            else:
                length = short
                pos += 8
        if length == _UNDEFINED:
            start, pos = pos, _skip_sequence(buf, pos, implicit)
            elements[tag] = (vr, buf[start:pos])
        else:
            if pos + length > limit:
                raise MalformedSequence(f"element ({group:04X},{element:04X}) overruns its item")
            elements[tag] = (vr, buf[pos : pos + length])
            pos += length
    if end is None:
        raise MalformedSequence("item without Item Delimitation Item")
    return RawItem(elements, implicit), pos


def _skip_sequence(buf: bytes, pos: int, implicit: bool) -> int:
    """Position after the Sequence Delimitation Item of an undefined-length sequence."""
    while pos + 8 <= len(buf):
        group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise MalformedSequence(f"tag ({group:04X},{element:04X}) where an item is expected")
        pos = _elements(buf, pos, None, implicit)[1] if length == _UNDEFINED else pos + length
    raise MalformedSequence("sequence without Sequence Delimitation Item")


def parse_sequence(buf: bytes, implicit: bool) -> list[RawItem]:
    """The items of a little-endian sequence value (which may end with its delimiter)."""
    try:
        return _items(buf, implicit)
    except struct.error as exc:
        raise MalformedSequence(f"truncated: {exc}") from None


def _items(buf: bytes, implicit: bool) -> list[RawItem]:
    items: list[RawItem] = []
    pos = 0
    while pos + 8 <= len(buf):
        group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQUENCE_END:
            break
        if tag != _ITEM:
            raise MalformedSequence(f"tag ({group:04X},{element:04X}) where an item is expected")
        end = None if length == _UNDEFINED else pos + length
        if end is not None and end > len(buf):
            raise MalformedSequence("item longer than its sequence")
        item, pos = _elements(buf, pos, end, implicit)
        items.append(item)
    return items


@cache
def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def sequence(item: Item, tag: int) -> list[Item]:
    """The items of a sequence attribute; empty when absent. Raises MalformedSequence."""
    if isinstance(item, RawItem):
        found = item.elements.get(tag)
        if found is None or found[0] not in (b"SQ", None) or not _is_sequence(tag):
            return []
        return list(parse_sequence(found[1], item.implicit))
    if tag not in item:
        return []
    elem = item.get_item(tag)
    value = elem.value
    if type(elem) is RawDataElement and type(value) is bytes and elem.is_little_endian:
        if elem.VR not in (None, "SQ") or not _is_sequence(tag):
            return []
        return list(parse_sequence(value, elem.is_implicit_VR))
    value = item[tag].value
    return list(value) if isinstance(value, Sequence | list) else []


def text(item: Item, tag: int, encodings: list[str]) -> str | None:
    """A text value stripped of padding; None when absent or empty. Values stay backslash-joined."""
    raw: object
    if isinstance(item, RawItem):
        found = item.elements.get(tag)
        raw = found[1] if found is not None else None
    else:
        if tag not in item:
            return None
        elem = item.get_item(tag)
        raw = elem.value
        if type(elem) is not RawDataElement or (type(raw) is bytes and not raw.isascii()):
            raw = item[tag].value  # pydicom decodes character sets and multi-values
    if raw is None:
        return None
    if type(raw) is bytes:
        if raw.isascii():
            value = raw.decode("ascii")
        else:
            value = decode_bytes(raw, encodings or ["iso8859"], set())
    elif isinstance(raw, MultiValue | list | tuple):
        value = "\\".join(str(v) for v in raw)
    else:
        value = str(raw)
    return value.strip(" \0") or None


def float64(item: Item, tag: int) -> float | None:
    """An FD value (Floating Point Value (0040,A161)); None when absent or not one value."""
    if isinstance(item, RawItem):
        found = item.elements.get(tag)
        if found is None or len(found[1]) != 8:
            return None
        return float(_FLOAT64.unpack(found[1])[0])
    if tag not in item:
        return None
    value = item[tag].value
    return float(value) if isinstance(value, float | int) else None


def encodings_of(ds: Dataset) -> list[str]:
    """Python encodings of the report's Specific Character Set (0008,0005), for non-ASCII text."""
    charset = ds.original_character_set
    return [charset] if isinstance(charset, str) else list(charset or ())
