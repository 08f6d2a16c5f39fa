"""The content tree of a plain dose report decoded in one pass over its bytes (PS3.3 C.17.3).

The general readers (:mod:`~xrf_assets.core.sr.items` over the element walker) locate every
element of an item and decode what a template reader asks for, item by item: most of a report's
cost. Here each content item is read once, straight from the bytes of the Content Sequence
(0040,A730), for the few elements a dose report needs: Value Type (0040,A040), Concept Name Code
Sequence (0040,A043), the nested Content Sequence, Measured Value Sequence (0040,A300) with its
Numeric Value, Floating Point Value and Measurement Units Code Sequence, Concept Code Sequence
(0040,A168), Text Value, UID, DateTime and Referenced SOP Sequence (0008,1199). A leaf item (no
nested content) is remembered by its bytes: a report repeats the same kVp, angle and field items
from event to event, and the same bytes decode to the same :class:`Node`.

Strict: the same framing and tag-order checks as the walker, over every item and every nested
sequence this reads, but any problem (broken framing, a tag that does not ascend, an undefined
length it does not expect, a code in non-ASCII bytes, big endian...) declines the whole tree
(:class:`Declined`); the general readers then read the report and say what is wrong, exactly
as before. So a report is decoded here only where both ways give the same values.
"""

from __future__ import annotations

import struct
from functools import cache

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sr._snomed_dict import mapping as _SNOMED

from xrf_assets.core.dicom.elements import (
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQUENCE_END,
    UNDEFINED,
    VRS,
    is_sequence,
)

CONTENT_SEQUENCE = 0x0040A730
CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
CONCEPT_CODE_SEQUENCE = 0x0040A168
MEASURED_VALUE_SEQUENCE = 0x0040A300
MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA
REFERENCED_SOP_SEQUENCE = 0x00081199
NUMERIC_VALUE = 0x0040A30A
FLOATING_POINT_VALUE = 0x0040A161
TEXT_VALUE = 0x0040A160
UID = 0x0040A124
DATE_TIME = 0x0040A120
VALUE_TYPE = 0x0040A040
CODE_VALUE = 0x00080100
CODING_SCHEME_DESIGNATOR = 0x00080102
CODE_MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
REFERENCED_SOP_CLASS_UID = 0x00081150
REFERENCED_SOP_INSTANCE_UID = 0x00081155
# the sequences read here
_SEQUENCES = frozenset(
    {
        CONTENT_SEQUENCE,
        CONCEPT_NAME_CODE_SEQUENCE,
        CONCEPT_CODE_SEQUENCE,
        MEASURED_VALUE_SEQUENCE,
        MEASUREMENT_UNITS_CODE_SEQUENCE,
        REFERENCED_SOP_SEQUENCE,
    }
)
_TEXTS = frozenset({TEXT_VALUE, UID, DATE_TIME, VALUE_TYPE})
# Code Value, Long Code Value, Coding Scheme Designator, Code Meaning (as sent: any character set)
Code4 = tuple[str | None, str | None, str | None, bytes | None]
CodeKey = tuple[str, str]
# {tag: (value position, value end or None: undefined length)} of an item
Elements = dict[int, tuple[int, int | None]]
_SRT_TO_SCT: dict[str, str] = _SNOMED["SRT"]
_HEAD = struct.Struct("<HH2sH")
_LONG = struct.Struct("<L")
_TAG_LENGTH = struct.Struct("<LL")  # item or delimiter tag (one little-endian word), length
_FLOAT64 = struct.Struct("<d")
_NODES_MAX = 50_000  # remembered leaf items (a few tens of MB at most); cleared when full
# (implicit, bytes of a leaf item) -> its node; (implicit, bytes of a code sequence) -> value
_NODES: dict[tuple[bool, bytes], Node] = {}
_CODES: dict[tuple[bool, bytes], Code4 | None] = {}


@cache
def code_key(value: str, scheme: str) -> CodeKey:
    """(value, scheme) with SRT mapped to SCT, so that equal codes have equal keys."""
    value = value.strip()
    scheme = scheme.strip()
    if scheme == "SRT" and value in _SRT_TO_SCT:
        return _SRT_TO_SCT[value], "SCT"
    return value, scheme


class Declined(Exception):
    """The bytes are not ones this decoder reads; the general readers take the report."""


class Node:
    """One content item: its concept name and the values a dose report reads, as sent (text
    values as bytes, decoded in the report's character set where read). ``name``: the
    :func:`code_key` of the concept (Code Value or Long Code Value, Coding Scheme Designator);
    None without a Concept Name. ``children``: None without a Content Sequence. ``measured``:
    (Numeric Value, Floating Point Value, unit code value) of the first Measured Value item.
    ``code``: the first Concept Code item. ``ref``: (class, instance UID) of the first
    Referenced SOP item. ``cache``: what a reader derived from the node (it may be shared by
    equal items)."""

    __slots__ = ("cache", "children", "code", "measured", "name", "ref", "texts")

    def __init__(self) -> None:
        self.name: CodeKey | None = None
        self.children: list[Node] | None = None
        self.measured: tuple[str, float | None, str] | None = None
        self.code: Code4 | None = None
        self.ref: tuple[str | None, str | None] | None = None
        self.texts: dict[int, bytes] = {}
        self.cache: dict[str, object] = {}


def content_of(ds: Dataset) -> list[Node] | None:
    """The items of the report's Content Sequence (0040,A730), or None where this decoder
    declines (absent, parsed by pydicom already, big endian, anything unusual)."""
    from xrf_assets.core.sr.items import deferred_bytes  # items imports this module

    elem = ds.get_item(CONTENT_SEQUENCE, keep_deferred=True) if CONTENT_SEQUENCE in ds else None
    if type(elem) is not RawDataElement or not elem.is_little_endian:
        return None
    if elem.VR not in ("SQ", None):
        return None
    value = elem.value
    if value is None and elem.length:
        value = deferred_bytes(ds, elem)
    if type(value) is not bytes:
        return None
    try:
        nodes, _ = _items(value, 0, len(value), bool(elem.is_implicit_VR))
    except (Declined, struct.error, IndexError, ValueError):
        return None
    return nodes


def _items(data: bytes, pos: int, end: int | None, implicit: bool) -> tuple[list[Node], int]:
    """The content items of the sequence value from ``pos`` (to ``end``, or None: to its
    Sequence Delimitation Item), and the position after it."""
    nodes: list[Node] = []
    stop = len(data) if end is None else end
    unpack = _TAG_LENGTH.unpack_from
    while pos < stop:
        tag, length = unpack(data, pos)
        pos += 8
        if tag == _SEQUENCE_END_LE:
            if length or end is not None:
                raise Declined
            return nodes, pos
        if tag != _ITEM_LE:
            raise Declined
        if length == UNDEFINED:
            node, pos = _item(data, pos, None, implicit)
        else:
            item_end = pos + length
            if item_end > stop:
                raise Declined
            key = (implicit, data[pos:item_end])
            node = _NODES.get(key)  # type: ignore[assignment]
            if node is None:
                node, _ = _item(data, pos, item_end, implicit)
                if node.children is None:
                    if len(_NODES) >= _NODES_MAX:
                        _NODES.clear()
                    _NODES[key] = node
            pos = item_end
        nodes.append(node)
    if end is None:
        raise Declined  # no Sequence Delimitation Item
    return nodes, pos


# item and delimiter tags as one little-endian 32-bit word (group low, element high)
_ITEM_LE = (ITEM & 0xFFFF) << 16 | ITEM >> 16
_ITEM_END_LE = (ITEM_END & 0xFFFF) << 16 | ITEM_END >> 16
_SEQUENCE_END_LE = (SEQUENCE_END & 0xFFFF) << 16 | SEQUENCE_END >> 16


def _elements(data: bytes, pos: int, end: int | None, implicit: bool) -> tuple[Elements, int]:
    """{tag: (value position, value end or None: undefined length)} of one item's data set
    (``end`` None: an item of undefined length), in the order sent, and the position after it.
    Declines where the element walker would raise or note an anomaly."""
    found: Elements = {}
    stop = len(data) if end is None else end
    head, long, vrs = _HEAD.unpack_from, _LONG.unpack_from, VRS.get
    last = -1
    while pos < stop:
        group, elem, code, length = head(data, pos)
        tag = group << 16 | elem
        if group == 0xFFFE:
            if tag != ITEM_END or end is not None or long(data, pos + 4)[0]:
                raise Declined
            return found, pos + 8
        if implicit:
            vr = None
            length = long(data, pos + 4)[0]
            value_at = pos + 8
        else:
            vr = vrs(code)
            if vr is None:
                raise Declined
            if vr in LONG_VRS:
                length = long(data, pos + 8)[0]
                value_at = pos + 12
            else:
                value_at = pos + 8
            if tag in _SEQUENCES and vr != "SQ":
                raise Declined
        if tag <= last:
            raise Declined
        last = tag
        if length == UNDEFINED:
            if not is_sequence(tag, None if implicit else vr):
                raise Declined  # as the element walker refuses it
            found[tag] = (value_at, None)
            pos = _sequence_end(data, value_at, implicit)
        else:
            pos = value_at + length
            if pos > stop:
                raise Declined
            found[tag] = (value_at, pos)
    if end is None:
        raise Declined  # no Item Delimitation Item
    return found, pos


def _sequence_end(data: bytes, pos: int, implicit: bool) -> int:
    """Position after the Sequence Delimitation Item of the undefined-length sequence at
    ``pos``, its items checked whole."""
    unpack = _TAG_LENGTH.unpack_from
    while True:
        tag, length = unpack(data, pos)
        pos += 8
        if tag == _SEQUENCE_END_LE:
            if length:
                raise Declined
            return pos
        if tag != _ITEM_LE:
            raise Declined
        if length == UNDEFINED:
            pos = _elements(data, pos, None, implicit)[1]
        elif pos + length > len(data):
            raise Declined
        else:
            _elements(data, pos, pos + length, implicit)
            pos += length


def _item(data: bytes, pos: int, end: int | None, implicit: bool) -> tuple[Node, int]:
    node = Node()
    found, after = _elements(data, pos, end, implicit)
    for tag, (start, stop) in found.items():
        if tag in _TEXTS:
            node.texts[tag] = data[start:stop]
        elif tag == CONCEPT_NAME_CODE_SEQUENCE:
            node.name = _name(data, start, stop, implicit)
        elif tag == CONTENT_SEQUENCE:
            node.children = _items(data, start, stop, implicit)[0]
        elif tag == MEASURED_VALUE_SEQUENCE:
            node.measured = _measured(data, start, stop, implicit)
        elif tag == CONCEPT_CODE_SEQUENCE:
            node.code = _code(data, start, stop, implicit)
        elif tag == REFERENCED_SOP_SEQUENCE:
            first = _first_item(data, start, stop, implicit)
            if first is not None:
                node.ref = (
                    _ascii(data, first, REFERENCED_SOP_CLASS_UID),
                    _ascii(data, first, REFERENCED_SOP_INSTANCE_UID),
                )
    return node, after


def _first_item(data: bytes, pos: int, end: int | None, implicit: bool) -> Elements | None:
    """{tag: (value position, value end)} of the first item of a sequence of code-like items
    (every item checked), or None if it has none."""
    first: Elements | None = None
    stop = len(data) if end is None else end
    unpack = _TAG_LENGTH.unpack_from
    while pos < stop:
        tag, length = unpack(data, pos)
        pos += 8
        if tag == _SEQUENCE_END_LE:
            if length or end is not None:
                raise Declined
            return first
        if tag != _ITEM_LE:
            raise Declined
        if length == UNDEFINED:
            found, pos = _elements(data, pos, None, implicit)
        else:
            if pos + length > stop:
                raise Declined
            found, pos = _elements(data, pos, pos + length, implicit)
        if first is None:
            first = found
    if end is None:
        raise Declined
    return first


def _raw(data: bytes, item: Elements, tag: int) -> bytes | None:
    """The bytes of a text value of ``item``; None where absent (a sequence declines)."""
    found = item.get(tag)
    if found is None:
        return None
    if found[1] is None:
        raise Declined
    return data[found[0] : found[1]]


def _ascii(data: bytes, item: Elements, tag: int) -> str | None:
    """A text value of ``item``, stripped, None where absent or empty, as ``items.text``
    reads it; a sequence or non-ASCII bytes where text belongs decline."""
    found = item.get(tag)
    if found is None:
        return None
    start, end = found
    if end is None:
        raise Declined
    raw = data[start:end]
    if not raw.isascii():
        raise Declined
    return raw.decode("ascii").strip(" \0") or None


def _code(data: bytes, start: int, end: int | None, implicit: bool) -> Code4 | None:
    """(Code Value, Long Code Value, Coding Scheme Designator, Code Meaning) of the first item
    of a code sequence, None if it has none; remembered by the sequence's bytes."""
    key = (implicit, data[start:end]) if end is not None else None
    if key is not None:
        hit = _CODES.get(key, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
    first = _first_item(data, start, end, implicit)
    value = None
    if first is not None:
        value = (
            _ascii(data, first, CODE_VALUE),
            _ascii(data, first, LONG_CODE_VALUE),
            _ascii(data, first, CODING_SCHEME_DESIGNATOR),
            _raw(data, first, CODE_MEANING),
        )
    if key is not None:
        if len(_CODES) >= _NODES_MAX:
            _CODES.clear()
        _CODES[key] = value
    return value


_MISS = object()


def _name(data: bytes, start: int, end: int | None, implicit: bool) -> CodeKey | None:
    """The key of a Concept Name sequence's first code, None if it has none."""
    code = _code(data, start, end, implicit)
    return code_key(code[0] or code[1] or "", code[2] or "") if code is not None else None


def _measured(
    data: bytes, start: int, end: int | None, implicit: bool
) -> tuple[str, float | None, str] | None:
    """(Numeric Value as sent, Floating Point Value, unit Code Value) of the first Measured
    Value item; None without an item or a Numeric Value."""
    first = _first_item(data, start, end, implicit)
    if first is None:
        return None
    raw = _ascii(data, first, NUMERIC_VALUE)
    if raw is None:
        return None
    precise = None
    found = first.get(FLOATING_POINT_VALUE)
    if found is not None and found[1] is not None and found[1] - found[0] == 8:
        precise = float(_FLOAT64.unpack_from(data, found[0])[0])
    unit = None
    units = first.get(MEASUREMENT_UNITS_CODE_SEQUENCE)
    if units is not None:
        code = _code(data, units[0], units[1], implicit)
        unit = code[0] if code is not None else None
    return raw, precise, unit or ""
