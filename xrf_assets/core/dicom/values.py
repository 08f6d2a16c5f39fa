"""Tolerant, fast typed access to DICOM header values.

Values are parsed from the raw bytes pydicom leaves unconverted after a read: this is several times
faster than pydicom's value conversion (which also validates and warns) and lets a malformed value
(non-numeric DS, impossible date) become ``None`` plus a problem line instead of an exception.
Problem lines name the attribute and tag; values are shown only outside the Patient group
(0010,xxxx), so that logs never carry patient data.
"""

from __future__ import annotations

import math
import operator
import re
import struct
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

from pydicom.charset import decode_bytes, default_encoding
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_deferred_data_element
from pydicom.multival import MultiValue

Element = DataElement | RawDataElement
T = TypeVar("T")

# Binary VRs -> struct code; text VRs are parsed from their ASCII form.
_BINARY = {"FD": "d", "FL": "f", "US": "H", "UL": "I", "SS": "h", "SL": "i", "SV": "q", "UV": "Q"}
# VRs whose bytes may be in the Specific Character Set (0008,0005); the rest are ASCII.
_CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})
_TEXT_NUMBER_VRS = frozenset({"DS", "IS"})
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_PN_DELIMITERS = {0x5E, 0x3D}  # ^ and =, where ISO 2022 escape state resets

_DA = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")  # YYYYMMDD, or ACR-NEMA YYYY.MM.DD
_TM = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")  # HH[MM[SS[.F]]]
_DT = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-]\d{4})?$"
)
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")
_AGE = re.compile(r"^(\d{1,3})([DWMY])$")
_AGE_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def tag_name(tag: int) -> str:
    """``Keyword (gggg,eeee)`` for problem lines."""
    return f"{keyword_for_tag(tag) or 'Unknown'} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def parse_da(text: str) -> date:
    """DA ``YYYYMMDD`` (also the ACR-NEMA ``YYYY.MM.DD``); raises ValueError."""
    m = _DA.match(text)
    if not m:
        raise ValueError("not a DA date YYYYMMDD")
    return date(int(m[1]), int(m[2]), int(m[3]))


def _fraction_us(digits: str | None) -> int:
    return int(digits.ljust(6, "0")) if digits else 0


def parse_tm(text: str) -> time:
    """TM ``HH[MM[SS[.FFFFFF]]]`` (also ACR-NEMA ``HH:MM:SS``); raises ValueError."""
    m = _TM.match(text)
    if not m:
        raise ValueError("not a TM time HHMMSS.FFFFFF")
    return time(int(m[1]), int(m[2] or 0), int(m[3] or 0), _fraction_us(m[4]))


def parse_utc_offset(text: str) -> int:
    """``+HHMM`` / ``-HHMM`` (DT suffix, Timezone Offset From UTC (0008,0201)) -> seconds."""
    m = _OFFSET.match(text)
    if not m or int(m[3]) >= 60:
        raise ValueError("not a UTC offset +HHMM or -HHMM")
    seconds = int(m[2]) * 3600 + int(m[3]) * 60
    if seconds > 14 * 3600:
        raise ValueError("UTC offset beyond 14 hours")
    return -seconds if m[1] == "-" else seconds


def parse_dt(text: str) -> tuple[datetime, int | None]:
    """DT ``YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]`` -> naive local datetime and its UTC offset (s).

    Components left out take their lowest value, as the standard reads a partial DT.
    """
    m = _DT.match(text)
    if not m:
        raise ValueError("not a DT date-time YYYYMMDDHHMMSS.FFFFFF&ZZXX")
    value = datetime(
        int(m[1]),
        int(m[2] or 1),
        int(m[3] or 1),
        int(m[4] or 0),
        int(m[5] or 0),
        int(m[6] or 0),
        _fraction_us(m[7]),
    )
    return value, parse_utc_offset(m[8]) if m[8] else None


def parse_age_years(text: str) -> float:
    """AS ``nnnD|W|M|Y`` -> years (days / 365.25, weeks x 7 / 365.25, months / 12)."""
    m = _AGE.match(text.upper())
    if not m:
        raise ValueError("not an AS age nnnD, nnnW, nnnM or nnnY")
    return int(m[1]) * _AGE_YEARS[m[2]]


def age_between(birth: date, on: date) -> float:
    """Age in years on a date, by the same day count as (0010,1010) in days: days / 365.25."""
    if on < birth:
        raise ValueError("birth date after the study date")
    return (on - birth).days / 365.25


class Header:
    """Typed values of one dataset (plus, for Enhanced objects, its functional group items).

    Every getter returns ``None`` for an absent or empty attribute and for a malformed one; the
    latter also appends a line to ``problems``. Lookups go through a plain ``int``-keyed copy of
    the element dict: pydicom's own ``get_item`` costs a tag conversion per call.
    """

    def __init__(self, ds: Dataset, problems: list[str]) -> None:
        self.ds = ds
        self.problems = problems
        # plain int keys: BaseTag keys make every lookup call BaseTag.__eq__ in Python
        self._elems: dict[int, Element] = dict(
            zip(map(operator.index, ds.keys()), ds.values(), strict=True)
        )
        charset = ds.original_character_set or default_encoding
        self._encodings = [charset] if isinstance(charset, str) else list(charset)

    @classmethod
    def of_elements(
        cls, elements: Mapping[int, Element], encodings: list[str], problems: list[str]
    ) -> Header:
        """Over raw elements read straight from the bytes (:mod:`~xrf_assets.core.dicom.direct`),
        which holds no deferred value: no Dataset to read one back from."""
        h = cls.__new__(cls)
        h.ds, h.problems, h._elems, h._encodings = None, problems, dict(elements), encodings  # type: ignore[assignment]
        return h

    def has(self, tag: int) -> bool:
        return tag in self._elems

    def add_items(self, items: Iterable[Dataset]) -> None:
        """Also look attributes up in these items (functional group macros), first one wins."""
        for item in items:
            for tag, elem in item.items():
                self._elems.setdefault(operator.index(tag), elem)

    def problem(self, tag: int, why: str, value: object = None) -> None:
        """One line for the log: the attribute, why, and the value (cut at 60 characters)
        except in the Patient group (0010,xxxx)."""
        shown = ""
        if value is not None and tag >> 16 != 0x0010:
            text = repr(value)
            shown = f" {text[:57]}..." if len(text) > 60 else f" {text}"
        self.problems.append(f"{tag_name(tag)}: {why}{shown}")

    def _value(self, tag: int) -> Any:
        """Raw text as one str (values still backslash-separated), or a list of values."""
        elem = self._elems.get(tag)
        if elem is None:
            return None
        value = elem.value
        if type(elem) is RawDataElement:
            if value is None and elem.length:  # deferred: read the raw bytes from the file now
                try:
                    elem = read_deferred_data_element(
                        self.ds.fileobj_type, self.ds.filename, self.ds.timestamp, elem
                    )
                except Exception as exc:  # no file name (an item), file moved, bad bytes...
                    self.problem(tag, f"cannot read deferred value ({type(exc).__name__})")
                    return None
                value = elem.value
            if type(value) is bytes:
                vr = elem.VR  # the common cases first, without a call
                if vr in _ASCII_VRS:
                    return value.decode("ascii", "replace")
                if vr in _CHARSET_VRS and value.isascii() and b"\x1b" not in value:
                    return value.decode("ascii")  # no ISO 2022 escape: plain ASCII
                return self._decode(tag, elem, value)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list | tuple | MultiValue):
            return list(value)
        if isinstance(value, bytes):
            return value.decode("ascii", "replace")
        return [value]

    def _decode(self, tag: int, elem: RawDataElement, raw: bytes) -> str | list[float] | None:
        vr = elem.VR
        if vr is None or vr == "UN":
            vr = _dictionary_vr(tag)
        if vr in _BINARY:
            code = _BINARY[vr]
            size = struct.calcsize(code)
            if len(raw) % size:
                self.problem(tag, f"{len(raw)} bytes is not a whole number of {vr} values")
                return None
            order = ">" if elem.is_little_endian is False else "<"
            return list(struct.unpack(f"{order}{len(raw) // size}{code}", raw))
        if vr in _CHARSET_VRS and (not raw.isascii() or b"\x1b" in raw):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                text = decode_bytes(raw, self._encodings, _PN_DELIMITERS if vr == "PN" else set())
            if caught:  # pydicom fell back to replacement characters
                self.problem(
                    tag,
                    "bytes not valid in the Specific Character Set (0008,0005), "
                    "replacement characters used",
                )
            return text
        return raw.decode("ascii", "replace")

    def strings(self, tag: int) -> list[str] | None:
        """The values of a text attribute, stripped; ``None`` when absent or all empty."""
        value = self._value(tag)
        if value is None:
            return None
        if isinstance(value, str):
            parts = [p.strip(" \0") for p in value.split("\\")]
        else:
            parts = [str(v).strip(" \0") for v in value]
        return parts if any(parts) else None

    def text(self, tag: int) -> str | None:
        """A text attribute; multiple values joined by backslash, as DICOM writes them."""
        value = self._value(tag)
        if isinstance(value, str) and "\\" not in value:
            return value.strip(" \0") or None
        parts = self.strings(tag) if value is not None else None
        return "\\".join(parts) if parts else None

    def text_columns(self, columns: dict[str, int]) -> dict[str, str | None]:
        """:meth:`text` for many columns at once, the common single ASCII value inline (speed)."""
        out: dict[str, str | None] = {}
        get = self._elems.get
        for name, tag in columns.items():
            elem = get(tag)
            if elem is None:
                out[name] = None
                continue
            value = elem.value
            if (
                type(value) is bytes
                and value.isascii()
                and b"\\" not in value
                and b"\x1b" not in value
                and elem.VR not in _BINARY
            ):
                out[name] = value.decode("ascii").strip(" \0") or None
            else:
                out[name] = self.text(tag)
        return out

    def number_columns(self, columns: dict[str, int]) -> dict[str, float | None]:
        """:meth:`number` for many columns at once, a plain DS / IS value inline (speed)."""
        out: dict[str, float | None] = {}
        get = self._elems.get
        for name, tag in columns.items():
            elem = get(tag)
            if elem is None:
                out[name] = None
                continue
            value = elem.value
            if type(value) is bytes and elem.VR in _TEXT_NUMBER_VRS:
                text = value.strip(b" \0")
                if not text:
                    out[name] = None
                    continue
                if b"\\" not in text:
                    try:
                        number = float(text)
                    except ValueError:
                        number = math.nan
                    if math.isfinite(number):
                        out[name] = number
                        continue
            out[name] = self.number(tag)  # the general path, which also tells the problem
        return out

    def uids(self, tag: int) -> list[str]:
        """Non-empty values of a UI attribute (VM 1-n); an empty list when absent."""
        return [p for p in self.strings(tag) or () if p]

    def numbers(self, tag: int) -> list[float] | None:
        """All values of a numeric attribute (DS, IS or binary); ``None`` if any is malformed."""
        value = self._value(tag)
        if value is None:
            return None
        if isinstance(value, str):
            parts = [p.strip(" \0") for p in value.split("\\")]
            if not any(parts):
                return None
        else:
            parts = value
        try:
            values = list(map(float, parts))  # a Frame Time Vector has a value per frame
        except (ValueError, TypeError):
            self.problem(tag, "not a number", value)
            return None
        if not all(map(math.isfinite, values)):
            self.problem(tag, "not a finite number", value)
            return None
        return values

    def number(self, tag: int) -> float | None:
        """A single-valued numeric attribute; several values are a problem, not a choice."""
        value = self._value(tag)
        if isinstance(value, str) and "\\" not in value:  # the common case, kept short
            text = value.strip(" \0")
            if not text:
                return None
            try:
                number = float(text)
            except ValueError:
                self.problem(tag, "not a number", value)
                return None
            if not math.isfinite(number):
                self.problem(tag, "not a finite number", value)
                return None
            return number
        values = self.numbers(tag) if value is not None else None
        if values is None:
            return None
        if len(values) != 1:
            self.problem(tag, f"{len(values)} values where one is expected", values)
            return None
        return values[0]

    def integer(self, tag: int) -> int | None:
        """A single-valued IS (or binary integer) attribute; a fraction is a problem."""
        value = self.number(tag)
        if value is None:
            return None
        if not value.is_integer():
            self.problem(tag, "not an integer", value)
            return None
        return int(value)

    def parsed(self, tag: int, parse: Callable[[str], T]) -> T | None:
        """One text value through ``parse`` (parse_da, parse_dt...); a ValueError is a problem."""
        parts = self.strings(tag)
        if not parts:
            return None
        if len(parts) != 1:
            self.problem(tag, f"{len(parts)} values where one is expected", parts)
            return None
        try:
            return parse(parts[0])
        except ValueError as exc:
            self.problem(tag, str(exc), parts[0])
            return None

    def date_time(self, date_tag: int, time_tag: int) -> datetime | None:
        """A DA + TM pair as one naive datetime; ``None`` unless both are present and valid."""
        day = self.parsed(date_tag, parse_da)
        clock = self.parsed(time_tag, parse_tm)
        if day is None or clock is None:
            return None
        return datetime.combine(day, clock)


def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:  # a private or unknown tag
        return None


PATIENT_BIRTH_DATE, PATIENT_SEX, PATIENT_AGE = 0x00100030, 0x00100040, 0x00101010
PATIENT_TAGS = (PATIENT_BIRTH_DATE, PATIENT_SEX, PATIENT_AGE)  # what patient_columns reads
_SEXES = frozenset({"M", "F", "O"})


def patient_columns(h: Header, study_date: date | None) -> dict[str, Any]:
    """Birth date as YYYY-MM-DD, sex M/F/O, age from Patient's Age (0010,1010) else birth date.

    One rule for images and dose reports, so a patient's age is the same in both tables.
    """
    birth = h.parsed(PATIENT_BIRTH_DATE, parse_da)
    sex = h.text(PATIENT_SEX)
    if sex is not None and sex.upper() not in _SEXES:
        h.problem(PATIENT_SEX, "not M, F or O")
        sex = None
    age = h.parsed(PATIENT_AGE, parse_age_years)
    if age is None and birth is not None and study_date is not None:
        try:
            age = age_between(birth, study_date)
        except ValueError as exc:
            h.problem(PATIENT_BIRTH_DATE, str(exc))
    return {
        "patient_birth_date": birth.isoformat() if birth is not None else None,
        "patient_sex": sex.upper() if sex is not None else None,
        "patient_age_years": age,
    }
