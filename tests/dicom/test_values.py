"""Header value parsing: DICOM DA/TM/DT/AS grammar, raw bytes, character sets, malformed values."""

from __future__ import annotations

import struct
from datetime import date, datetime, time

import pytest
from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from xrf_assets.core.dicom.values import (
    Header,
    age_between,
    parse_age_years,
    parse_da,
    parse_dt,
    parse_tm,
    parse_utc_offset,
    tag_name,
)

KVP = 0x00180060
INSTITUTION = 0x00080080
PATIENT_NAME = 0x00100010
PATIENT_WEIGHT = 0x00101030
TUBE_CURRENT_MA = 0x00189330  # FD
FRAME_TIME_VECTOR = 0x00181065


def raw_header(
    charset: str | list[str] | None,
    elements: dict[int, tuple[str | None, bytes]],
    little: bool = True,
) -> Header:
    """A dataset as pydicom leaves it after a read: raw bytes, VR None for implicit VR."""
    ds = Dataset()
    for tag, (vr, value) in elements.items():
        ds[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, vr is None, little)
    ds.set_original_encoding(False, little, convert_encodings(charset))
    return Header(ds, [])


def test_tag_name() -> None:
    assert tag_name(KVP) == "KVP (0018,0060)"
    assert tag_name(0x00291010) == "Unknown (0029,1010)"


@pytest.mark.parametrize(
    ("text", "expected"), [("20260915", date(2026, 9, 15)), ("2026.09.15", date(2026, 9, 15))]
)
def test_parse_da(text: str, expected: date) -> None:
    assert parse_da(text) == expected


@pytest.mark.parametrize("text", ["2026-09-15", "20261315", "20260230", "202609", ""])
def test_parse_da_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_da(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", time(10)),
        ("1015", time(10, 15)),
        ("101530", time(10, 15, 30)),
        ("101530.5", time(10, 15, 30, 500000)),
        ("101530.123456", time(10, 15, 30, 123456)),
        ("10:15:30", time(10, 15, 30)),
    ],
)
def test_parse_tm(text: str, expected: time) -> None:
    assert parse_tm(text) == expected


@pytest.mark.parametrize("text", ["25", "1060", "101530.1234567", "10.5", "noon"])
def test_parse_tm_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tm(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260915101530.25+0200", (datetime(2026, 9, 15, 10, 15, 30, 250000), 7200)),
        ("20260915101530", (datetime(2026, 9, 15, 10, 15, 30), None)),
        ("202609151015-0330", (datetime(2026, 9, 15, 10, 15), -12600)),
        ("2026", (datetime(2026, 1, 1), None)),
    ],
)
def test_parse_dt(text: str, expected: tuple[datetime, int | None]) -> None:
    assert parse_dt(text) == expected


@pytest.mark.parametrize(
    "text", ["20260915 101530", "20260915101530+2", "20260915251530", "20260915101530+1460"]
)
def test_parse_dt_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dt(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("+0000", 0), ("-0500", -18000), ("+0545", 20700), ("+1400", 50400)]
)
def test_parse_utc_offset(text: str, seconds: int) -> None:
    assert parse_utc_offset(text) == seconds


@pytest.mark.parametrize("text", ["+1500", "0100", "+01:00", "+0160"])
def test_parse_utc_offset_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_utc_offset(text)


def test_ages() -> None:
    assert parse_age_years("045Y") == 45.0
    assert parse_age_years("006M") == 0.5
    assert parse_age_years("014d") == pytest.approx(14 / 365.25)
    with pytest.raises(ValueError):
        parse_age_years("45")
    assert age_between(date(2000, 1, 1), date(2001, 1, 1)) == pytest.approx(366 / 365.25)
    with pytest.raises(ValueError, match="birth date after the study date"):
        age_between(date(2026, 9, 16), date(2026, 9, 15))


def test_text_is_decoded_in_the_specific_character_set() -> None:
    h = raw_header(
        "ISO_IR 192",
        {
            INSTITUTION: ("LO", "Hôpital Saint-Éloi ".encode()),
            PATIENT_NAME: ("PN", "Ærø^Åse".encode() + b" "),
        },
    )
    assert h.text(INSTITUTION) == "Hôpital Saint-Éloi"
    assert h.text(PATIENT_NAME) == "Ærø^Åse"
    # ISO 2022 is 7-bit: all bytes are ASCII, but the escape sequences switch to JIS X 0208
    jis = "Yamada^Tarou=山田^太郎".encode("iso2022_jp")
    assert jis.isascii()
    iso2022 = raw_header(["", "ISO 2022 IR 87"], {PATIENT_NAME: ("PN", jis)})
    assert iso2022.text(PATIENT_NAME) == "Yamada^Tarou=山田^太郎"
    latin = raw_header("ISO_IR 100", {INSTITUTION: ("LO", "Hôpital".encode("latin-1") + b" ")})
    assert latin.text(INSTITUTION) == "Hôpital"


def test_numbers_from_raw_text_implicit_and_binary_values() -> None:
    h = raw_header(
        None,
        {
            KVP: (None, b" 80.5 "),  # implicit VR: the dictionary says DS
            FRAME_TIME_VECTOR: ("DS", b"0\\33.3\\33.4 "),
            TUBE_CURRENT_MA: ("FD", struct.pack("<d", 412.5)),
        },
    )
    assert h.number(KVP) == 80.5
    assert h.numbers(FRAME_TIME_VECTOR) == [0.0, 33.3, 33.4]
    assert h.number(TUBE_CURRENT_MA) == 412.5
    assert h.problems == []
    big = raw_header(None, {TUBE_CURRENT_MA: ("FD", struct.pack(">d", 7.25))}, little=False)
    assert big.number(TUBE_CURRENT_MA) == 7.25


def test_malformed_numbers_are_null_with_problems_that_hide_patient_values() -> None:
    h = raw_header(
        None,
        {
            KVP: ("DS", b"80,5"),
            PATIENT_WEIGHT: ("DS", b"82kg"),
            FRAME_TIME_VECTOR: ("DS", b"0\\nan "),
            TUBE_CURRENT_MA: ("FD", b"\0" * 7),
        },
    )
    assert (
        h.number(KVP),
        h.number(PATIENT_WEIGHT),
        h.numbers(FRAME_TIME_VECTOR),
        h.number(FRAME_TIME_VECTOR),
        h.number(TUBE_CURRENT_MA),
    ) == (None,) * 5
    assert h.problems == [
        "KVP (0018,0060): not a number '80,5'",
        "PatientWeight (0010,1030): not a number",
        "FrameTimeVector (0018,1065): not a finite number '0\\\\nan '",
        "FrameTimeVector (0018,1065): not a finite number '0\\\\nan '",
        "XRayTubeCurrentInmA (0018,9330): 7 bytes is not a whole number of FD values",
    ]


def test_several_values_where_one_is_expected() -> None:
    h = raw_header(None, {KVP: ("DS", b"80\\81 ")})
    assert h.number(KVP) is None
    assert h.problems == ["KVP (0018,0060): 2 values where one is expected [80.0, 81.0]"]


def test_integers() -> None:
    h = raw_header(None, {0x00200013: ("IS", b"12"), 0x00200011: ("IS", b"2.5 ")})
    assert (h.integer(0x00200013), h.integer(0x00200011)) == (12, None)
    assert h.problems == ["SeriesNumber (0020,0011): not an integer 2.5"]


def test_empty_and_absent_values_are_null_without_problems() -> None:
    h = raw_header(None, {KVP: ("DS", b""), INSTITUTION: ("LO", b"  ")})
    assert (h.number(KVP), h.text(INSTITUTION), h.text(0x00081010), h.uids(0x00083010)) == (
        None,
        None,
        None,
        [],
    )
    assert h.problems == []


def test_functional_group_items_fill_in_missing_attributes() -> None:
    top = Dataset()
    top.KVP = "70"
    macro = Dataset()
    macro.KVP = "99"
    macro.DistanceSourceToDetector = "1100"
    h = Header(top, [])
    h.add_items([macro])
    assert (h.number(KVP), h.number(0x00181110), h.has(0x00181110)) == (70.0, 1100.0, True)


def test_stray_bytes_in_an_ascii_value_do_not_crash() -> None:
    h = raw_header(None, {0x00080060: ("CS", b"X\xc1"), KVP: ("DS", b"8\xb00")})
    assert h.text(0x00080060) == "X\ufffd"
    assert h.number(KVP) is None
    assert h.problems == ["KVP (0018,0060): not a number '8\ufffd0'"]


def test_bytes_invalid_in_the_character_set_are_replaced_and_told() -> None:
    h = raw_header("ISO_IR 192", {INSTITUTION: ("LO", "Hôpital".encode("latin-1") + b" ")})
    assert h.text(INSTITUTION) == "H\ufffdpital"
    assert h.problems == [
        "InstitutionName (0008,0080): bytes not valid in the Specific Character "
        "Set (0008,0005), replacement characters used"
    ]


def test_no_specific_character_set_means_the_default_repertoire() -> None:
    ds = Dataset()
    ds[INSTITUTION] = RawDataElement(BaseTag(INSTITUTION), "LO", 8, b"H\xf4pital ", 0, False, True)
    assert Header(ds, []).text(INSTITUTION) == "Hôpital"
