"""Fast, lenient access to the attributes of SR content items, parsed or still raw.

pydicom reads a defined-length sequence as raw bytes and builds a ``Dataset`` per item, with a
value conversion per element, only when it is accessed. For a dose report that is most of the
cost: a large angiography report holds thousands of content items, each a few nested sequences
(Concept Name, Measured Value, Units). Here such a sequence is split into items directly from its
bytes by the element walker (:mod:`~xrf_assets.core.dicom.elements`: little endian, explicit or
implicit VR, defined or undefined lengths), and only the elements a reader asks for are decoded.
Tags that do not ascend within an item leave both attributes out of it, with a
:class:`~xrf_assets.core.dicom.elements.StructureWarning`; broken framing is a
:class:`MalformedSequence`. Items pydicom has already parsed (undefined-length
sequences read with the file, datasets built in memory) are read through pydicom, so both kinds
can meet in one tree.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Callable
from typing import TypeVar, cast

from pydicom.charset import decode_bytes
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from xrf_assets.core.dicom.elements import (
    UNDEFINED,
    Anomaly,
    Element,
    Malformed,
    Source,
    StructureWarning,
    is_sequence,
    read_items,
)

_FLOAT64 = struct.Struct("<d")
T = TypeVar("T")
_MISS = object()
# (decoder, sequence bytes, implicit, *encodings) -> what the decoder made of its first item
_MEMO: dict[tuple[object, ...], object] = {}
_MEMO_MAX = 20_000  # entries (a few MB); cleared when full
_warned = [0]  # StructureWarnings raised so far: a result that warned is not remembered


class RawItem:
    """One sequence item as {tag: (VR or None if implicit, length, value start, value end)}:
    positions in the bytes of the sequence it came from (``src``), decoded on demand."""

    __slots__ = ("elements", "implicit", "src")

    def __init__(self, elements: dict[int, Element], implicit: bool, src: Source) -> None:
        self.elements = elements
        self.implicit = implicit
        self.src = src


Item = Dataset | RawItem


class MalformedSequence(ValueError):
    """Sequence bytes that do not parse as items; the reader notes it and reads nothing there."""


def parse_sequence(buf: bytes, implicit: bool) -> list[RawItem]:
    """The items of a little-endian sequence value (which may end with its delimiter)."""
    return _items(Source(buf), 0, len(buf), implicit)


def _items(src: Source, start: int, end: int, implicit: bool) -> list[RawItem]:
    """The items of the sequence value from ``start`` to ``end`` in ``src`` (nested sequences
    are read in place: no copy of their bytes)."""
    anomalies: list[Anomaly] = []
    try:
        found = read_items(src, start, end, implicit, anomalies)
    except Malformed as exc:
        raise MalformedSequence(str(exc)) from None
    for anomaly in anomalies:
        warnings.warn(anomaly.describe("an SR content item"), StructureWarning, stacklevel=3)
        _warned[0] += 1
    return [RawItem(elements, implicit, src) for elements in found]


def memo_first(
    item: Item, tag: int, encodings: list[str], decode: Callable[[Item | None, list[str]], T]
) -> T:
    """``decode(first item of sequence tag or None, encodings)``, remembered by the bytes of the
    sequence: a report repeats the same Concept Name, Units and Concept Code sequences in every
    event, and the same bytes decode to the same value. Only what was read without a warning or
    an error is remembered (an error raises as :func:`sequence` raises it), so every warning is
    raised again where its bytes occur. ``decode`` must read its item and nothing else."""
    if type(item) is not RawItem:
        seq = sequence(item, tag)
        return decode(seq[0] if seq else None, encodings)
    found = item.elements.get(tag)
    if found is None or found[0] not in ("SQ", None) or not is_sequence(tag, None):
        return decode(None, encodings)
    src, start, end = item.src, found[2], found[3]
    off = start - src.base
    if off >= 0 and end - src.base <= len(src.data):
        raw = src.data[off : off + end - start]
    else:
        raw = src.bytes(start, end - start)
    key = (decode, raw, item.implicit, *encodings)
    hit = _MEMO.get(key, _MISS)
    if hit is not _MISS:
        return hit  # type: ignore[return-value]
    warned = _warned[0]
    found_items = _items(src, start, end, item.implicit)
    whole = src.pos == end  # no item ran past the sequence: its bytes alone made the value
    value = decode(found_items[0] if found_items else None, encodings)
    if whole and _warned[0] == warned:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[key] = value
    return value


def sequence(item: Item, tag: int) -> list[Item]:
    """The items of a sequence attribute; empty when absent. Raises MalformedSequence."""
    if isinstance(item, RawItem):
        found = item.elements.get(tag)
        if found is None or found[0] not in ("SQ", None) or not is_sequence(tag, None):
            return []
        return list(_items(item.src, found[2], found[3], item.implicit))
    if tag not in item:
        return []
    elem = item.get_item(tag, keep_deferred=True)
    value = elem.value
    if type(elem) is RawDataElement and value is None and elem.length:
        value = deferred_bytes(item, elem)
        if value is None:
            elem = item.get_item(tag)  # pydicom's deferred read, where we cannot read it
            value = elem.value
    if type(elem) is RawDataElement and type(value) is bytes and elem.is_little_endian:
        if elem.VR not in (None, "SQ") or not is_sequence(tag, None):
            return []
        return list(parse_sequence(value, elem.is_implicit_VR))
    value = item[tag].value
    return list(value) if isinstance(value, Sequence | list) else []


def deferred_bytes(ds: Dataset, elem: RawDataElement) -> bytes | None:
    """The bytes of a sequence left on disk by the header read (longer than its defer size: the
    Content Sequence of a report): the ones the fast header read kept from its window, else one
    read. pydicom's deferred read would convert the whole sequence into Datasets, item by item;
    None where the file is not at hand (pydicom reads)."""
    kept = getattr(ds, "window_values", None)
    if kept and (value := kept.get(int(elem.tag))) is not None:
        return cast(bytes, value)
    name = getattr(ds, "filename", None)
    if not isinstance(name, str) or elem.length == UNDEFINED or elem.value_tell is None:
        return None
    with open(name, "rb") as fp:
        value = os.pread(fp.fileno(), elem.length, elem.value_tell)
    if len(value) != elem.length:
        raise ValueError(f"file changed while read: element {elem.tag} cut short")
    return value


def text(item: Item, tag: int, encodings: list[str]) -> str | None:
    """A text value stripped of padding; None when absent or empty. Values stay backslash-joined."""
    raw: object
    if isinstance(item, RawItem):
        found = item.elements.get(tag)  # inline: the hottest call of a report read
        raw = item.src.data[found[2] : found[3]] if found is not None else None
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
        return decoded(raw, encodings)
    if isinstance(raw, MultiValue | list | tuple):
        value = "\\".join(str(v) for v in raw)
    else:
        value = str(raw)
    return value.strip(" \0") or None


def decoded(raw: bytes, encodings: list[str]) -> str | None:
    """Text bytes in the report's character set, stripped of padding; None when empty."""
    value = (
        raw.decode("ascii") if raw.isascii() else decode_bytes(raw, encodings or ["iso8859"], set())
    )
    return value.strip(" \0") or None


def float64(item: Item, tag: int) -> float | None:
    """An FD value (Floating Point Value (0040,A161)); None when absent or not one value."""
    if isinstance(item, RawItem):
        found = item.elements.get(tag)
        if found is None or found[1] != 8:
            return None
        return float(_FLOAT64.unpack_from(item.src.data, found[2])[0])
    if tag not in item:
        return None
    value = item[tag].value
    return float(value) if isinstance(value, float | int) else None


def encodings_of(ds: Dataset) -> list[str]:
    """Python encodings of the report's Specific Character Set (0008,0005), for non-ASCII text."""
    charset = ds.original_character_set
    return [charset] if isinstance(charset, str) else list(charset or ())
