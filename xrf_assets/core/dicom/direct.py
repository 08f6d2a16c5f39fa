"""A plain XA / XRF image header read straight from its bytes, without a pydicom Dataset.

The general path (:func:`~xrf_assets.core.dicom.read.read_header`: the fast header walk, else
pydicom) builds a Dataset of every top-level element and converts values through pydicom's
element access: most of an image's read cost. Images are most of an archive, and an images row
needs a few dozen top-level attributes, so here the elements are walked by the same walker
(:mod:`~xrf_assets.core.dicom.elements`) and only the wanted ones become raw elements, which
:class:`~xrf_assets.core.dicom.values.Header` decodes exactly as it decodes a Dataset's.

Strict: anything the general path might read differently declines the file (None), and the
general path reads it and says what is wrong, exactly as before. Declined: every condition on
which the fast header walk gives way to pydicom (no "DICM", another transfer syntax, broken
framing, odd lengths, a meta or command group in the data set, an image without Pixel Data or
with a cut one), any tag that does not ascend, a Specific Character Set (0008,0005) other than
none, ISO_IR 100 or ISO_IR 192, a SOP class that is not a plain XA / XRF image (Enhanced objects
need their functional group sequences), a wanted attribute of undefined length or long enough
to be deferred, and a header UID or code string pydicom would warn about or convert otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, empty_value_for_VR

from xrf_assets.core.dicom.elements import (
    BEFORE_PIXELS,
    CHUNK,
    META_END,
    PIXEL_TAGS,
    SOP_CLASS_UID,
    SPECIFIC_CHARACTER_SET,
    TRANSFER_SYNTAX_UID,
    UNDEFINED,
    Anomaly,
    Element,
    Source,
    looks_explicit,
    read_dataset,
)
from xrf_assets.core.dicom.fast_header import SYNTAXES, check_pixel_data
from xrf_assets.core.dicom.read import DEFER_SIZE
from xrf_assets.core.dicom.sop_classes import XA_IMAGE, XRF_IMAGE

MEDIA_STORAGE_SOP_CLASS_UID = 0x00020002
_PLAIN_CLASSES = frozenset({XA_IMAGE.encode(), XRF_IMAGE.encode()})
# Specific Character Set as stored -> what the Dataset's original_character_set gives
_CHARSETS: dict[bytes | None, list[str]] = {
    None: [default_encoding],
    **{name.encode(): convert_encodings(name) for name in ("ISO_IR 100", "ISO_IR 192")},
}
# VR -> (one value pydicom accepts without a warning, the padding it strips)
_PLAIN_TEXT = {
    "UI": (re.compile(rb"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)){0,31}"), 64, b"\0"),
    "CS": (re.compile(rb"[A-Z0-9_]+"), 16, b" "),
}


class Declined(Exception):
    """The general path reads this file: the direct read cannot be sure to give the same."""


@dataclass(frozen=True, slots=True)
class DirectImage:
    """What an images row and the file's dicom_files header are made from."""

    header: dict[str, str | None]  # the dicom_files header: ``texts``, SOP class, syntax
    elements: dict[int, RawDataElement]  # the wanted top-level elements present
    encodings: list[str]  # as Header reads them from a Dataset


def read_image(
    name: str, wanted: frozenset[int], texts: Mapping[str, int], head: bytes | None = None
) -> DirectImage | None:
    """The wanted elements of the plain XA / XRF image at ``name``, and its header (``texts``:
    column -> a wanted UI or CS attribute), or None where the general path must read it.
    ``head``: the file's first bytes, read ahead."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        src = Source(os.pread(fd, CHUNK, 0) if head is None else head, fd, size)
        return _read(src, wanted, texts)
    except Exception:  # Declined, Malformed, or anything odd: the general path says why
        return None
    finally:
        os.close(fd)


def _read(src: Source, wanted: frozenset[int], texts: Mapping[str, int]) -> DirectImage:
    if src.bytes(128, 4) != b"DICM":
        raise Declined
    anomalies: list[Anomaly] = []
    meta = read_dataset(src, 132, src.size, False, anomalies, META_END)
    start = src.pos
    if any(tag >> 16 != 2 for tag in meta) or _odd(meta.values()):
        raise Declined  # FileMetaDataset refuses other groups; odd lengths are pydicom's
    if _raw(src, meta.get(MEDIA_STORAGE_SOP_CLASS_UID)).rstrip(b"\0 ") not in _PLAIN_CLASSES:
        raise Declined  # a dose report or another object: not worth walking here
    syntax = _raw(src, meta.get(TRANSFER_SYNTAX_UID))
    implicit = SYNTAXES.get(syntax.rstrip(b"\0 "))
    if implicit is None or start >= src.size:
        raise Declined
    if implicit and looks_explicit(src.bytes(start, 6)):
        raise Declined  # pydicom would warn and switch
    walked = read_dataset(src, start, src.size, implicit, anomalies, BEFORE_PIXELS, PIXEL_TAGS)
    if anomalies or not walked or next(iter(walked)) >> 16 in (0, 2) or _odd(walked.values()):
        raise Declined
    if src.pos >= src.size:
        raise Declined  # an image without Pixel Data: the general path names it
    check_pixel_data(src, src.pos, implicit)
    sop_class = _raw(src, walked.get(SOP_CLASS_UID)).rstrip(b"\0 ")
    if sop_class not in _PLAIN_CLASSES:
        raise Declined
    charset = walked.get(SPECIFIC_CHARACTER_SET)
    encodings = _CHARSETS.get(None if charset is None else _raw(src, charset))
    if encodings is None:
        raise Declined
    elements: dict[int, RawDataElement] = {}
    data, base = src.data, src.base  # the first read holds nearly every value: sliced inline
    room = len(data)
    for tag in wanted.intersection(walked):
        vr, length, value_at, _ = walked[tag]
        if length > DEFER_SIZE:  # deferred (or of undefined length) on the general path
            raise Declined
        value: bytes | None
        if not length:
            value = cast(bytes | None, empty_value_for_VR(vr, raw=True))
        elif 0 <= (off := value_at - base) <= room - length:
            value = data[off : off + length]
        else:
            value = src.bytes(value_at, length)
        # an int tag: Header looks elements up by int and never reads .tag
        elements[tag] = RawDataElement(tag, vr, length, value, value_at, implicit, True)  # type: ignore[arg-type]
    header = {column: _header_text(elements.get(tag), tag) for column, tag in texts.items()}
    header["sop_class_uid"] = sop_class.decode()
    header["transfer_syntax_uid"] = _plain_text(syntax, "UI")
    return DirectImage(header, elements, list(encodings))


def _odd(elements: Iterable[Element]) -> bool:
    return any(e[1] & 1 and e[1] != UNDEFINED for e in elements)


def _raw(src: Source, element: Element | None) -> bytes:
    if element is None:
        return b""
    _, length, value_at, _ = element
    return src.bytes(value_at, length) if length != UNDEFINED else b""


def _plain_text(raw: bytes | None, vr: str) -> str | None:
    """A UI / CS value as pydicom converts it and the ingest strips it (None: empty), where that
    is certain: one value, valid for its VR, at most one padding byte; else :class:`Declined`."""
    if not raw:
        return None
    pattern, limit, pad = _PLAIN_TEXT[vr]
    text = raw[:-1] if raw[-1:] == pad else raw
    if len(text) > limit or not pattern.fullmatch(text):
        raise Declined
    return text.decode("ascii")


def _header_text(element: RawDataElement | None, tag: int) -> str | None:
    """:func:`_plain_text` of a wanted element, whose VR must be the dictionary's (or implicit)."""
    if element is None:
        return None
    vr = dictionary_VR(tag)
    if element.VR not in (None, vr):
        raise Declined
    return _plain_text(element.value, vr)
