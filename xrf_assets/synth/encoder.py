"""A small Part 10 encoder (Explicit VR Little Endian) for the generator's own datasets.

pydicom's Dataset and writer validate and convert every element, which costs about 40 ms per
irradiation event of a dose report; a demo corpus has thousands. The generator builds datasets as
plain ``{keyword: value}`` mappings (:class:`Elements`) and this module encodes them directly, with
tags and VRs from pydicom's data dictionary. Files are read back with pydicom in the tests and
checked with dciodvfy.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
_LONG_LENGTH = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_NUMBERS = {"US": "H", "UL": "I", "SS": "h", "SL": "i", "FL": "f", "FD": "d"}
_VR_OVERRIDES = {"PixelData": "OB"}  # "OB or OW": 8-bit pixels are OB


class Elements(dict[str, Any]):
    """A dataset under construction: ``e.PatientName = "X^Y"`` stores ``{"PatientName": ...}``."""

    def __getattr__(self, keyword: str) -> Any:
        try:
            return self[keyword]
        except KeyError:
            raise AttributeError(keyword) from None

    def __setattr__(self, keyword: str, value: Any) -> None:
        self[keyword] = value


@cache
def _tag_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword} is not a DICOM keyword")
    return tag, _VR_OVERRIDES.get(keyword) or dictionary_VR(tag)


def _value_bytes(vr: str, value: Any) -> bytes:
    if vr == "SQ":
        return b"".join(_item(item) for item in value)
    if vr in _NUMBERS:
        values = value if isinstance(value, list | tuple) else [value]
        return struct.pack(f"<{len(values)}{_NUMBERS[vr]}", *values)
    if vr == "AT":
        return struct.pack("<HH", value >> 16, value & 0xFFFF)
    if isinstance(value, bytes):
        return value + b"\x00" * (len(value) % 2)
    text = "\\".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    raw = text.encode("ascii")
    if len(raw) % 2:
        raw += b"\x00" if vr == "UI" else b" "
    return raw


def _element(tag: int, vr: str, value: Any) -> bytes:
    data = _value_bytes(vr, value)
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG_LENGTH:
        return head + struct.pack("<HI", 0, len(data)) + data
    return head + struct.pack("<H", len(data)) + data


def encode(elements: Mapping[str, Any]) -> bytes:
    """The elements in ascending tag order, explicit VR little endian, defined lengths."""
    coded = sorted((*_tag_vr(k), v) for k, v in elements.items())
    return b"".join(_element(tag, vr, value) for tag, vr, value in coded)


def _item(item: Mapping[str, Any]) -> bytes:
    data = encode(item)
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(data)) + data


def part10(
    dataset: Mapping[str, Any], implementation_class_uid: str, implementation_version_name: str
) -> bytes:
    """Preamble, DICM prefix, file meta group (0002) and the dataset."""
    meta = encode(
        {
            "FileMetaInformationVersion": b"\x00\x01",
            "MediaStorageSOPClassUID": dataset["SOPClassUID"],
            "MediaStorageSOPInstanceUID": dataset["SOPInstanceUID"],
            "TransferSyntaxUID": EXPLICIT_VR_LITTLE_ENDIAN,
            "ImplementationClassUID": implementation_class_uid,
            "ImplementationVersionName": implementation_version_name,
        }
    )
    group_length = _element(0x00020000, "UL", len(meta))
    return b"\x00" * 128 + b"DICM" + group_length + meta + encode(dataset)
