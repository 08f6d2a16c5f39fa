"""Raw sequence parsing: the same report read identically in every encoding pydicom can write."""

from __future__ import annotations

import copy
import struct
from io import BytesIO

import pydicom
import pytest
from builders.corpus import CORPUS
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from xrf_assets.core.dicom.elements import StructureWarning
from xrf_assets.core.dicom.read import read_header
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import ReportExtract, extract_report
from xrf_assets.core.sr import items as sr_items
from xrf_assets.core.sr.tree import CONTENT_SEQUENCE, ContentNode

ZEE = CORPUS / "RF-RDSR-Siemens-Zee.dcm"


@pytest.fixture(scope="module")
def zee() -> Dataset:
    if not ZEE.exists():
        pytest.skip(f"real dose report not found at {ZEE.resolve()}")
    return pydicom.dcmread(ZEE, stop_before_pixels=True)


def _undefined_lengths(items: object) -> None:
    """Mark every nested sequence and item of undefined length (below the top level)."""
    for item in items or ():  # type: ignore[attr-defined]
        item.is_undefined_length_sequence_item = True
        for elem in item:
            if elem.VR == "SQ":
                elem.is_undefined_length = True
                _undefined_lengths(elem.value)


def _rewritten(ds: Dataset, syntax: UID, undefined: bool) -> Dataset:
    ds = copy.deepcopy(ds)
    if undefined:
        _undefined_lengths(ds.ContentSequence)
    ds.file_meta.TransferSyntaxUID = syntax
    buf = BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf, stop_before_pixels=True)


def _code(item: Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue)


def _comparable(extract: ReportExtract) -> tuple[object, ...]:
    return extract.events, extract.accumulated, extract.refs, extract.issues


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined-lengths"])
@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_same_rows_in_every_encoding(zee: Dataset, syntax: UID, undefined: bool) -> None:
    rewritten = _rewritten(zee, syntax, undefined)
    raw = rewritten.get_item(Tag(CONTENT_SEQUENCE))
    assert type(raw) is RawDataElement  # the top sequence is left to the raw parser
    expected = extract_report(copy.deepcopy(zee), "zee.dcm")
    assert _comparable(extract_report(rewritten, "zee.dcm")) == _comparable(expected)
    assert len(expected.events) == 8


def test_parse_sequence_of_undefined_length_items(zee: Dataset) -> None:
    rewritten = _rewritten(zee, ImplicitVRLittleEndian, undefined=True)
    items = sr_items.parse_sequence(rewritten.get_item(Tag(CONTENT_SEQUENCE)).value, True)
    assert len(items) == len(zee.ContentSequence) == 19


def test_malformed_sequence_bytes_noted_not_crashed(zee: Dataset) -> None:
    with pytest.raises(sr_items.MalformedSequence):
        sr_items.parse_sequence(b"\x08\x00\x00\x01" + b"\x00" * 12, False)
    with pytest.raises(sr_items.MalformedSequence):
        sr_items.parse_sequence(b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + b"\x08\x00", False)
    ds = copy.deepcopy(zee)
    tag = Tag(CONTENT_SEQUENCE)
    ds[tag] = RawDataElement(
        tag, "SQ", 16, b"\xfe\xff\x00\xe0\x40\x00\x00\x00" + b"\0" * 8, 0, False, True
    )
    issues: list[str] = []
    assert ContentNode(ds, issues).all() == []
    assert issues and "(0040,A730) cannot be read" in issues[0]
    with pytest.raises(ExtractionError, match="113706"):
        extract_report(ds, "zee.dcm")


def test_non_ascii_text_decoded_with_the_report_character_set(zee: Dataset) -> None:
    ds = copy.deepcopy(zee)
    ds.SpecificCharacterSet = "ISO_IR 192"
    event = next(i for i in ds.ContentSequence if _code(i) == "113706")
    protocol = next(i for i in event.ContentSequence if _code(i) == "125203")
    protocol.TextValue = "Knie links, Kontrast \u00e4\u00df"
    rewritten = _rewritten(ds, ExplicitVRLittleEndian, undefined=False)
    first = extract_report(rewritten, "zee.dcm").events[0]
    assert first["acquisition_protocol"] == "Knie links, Kontrast \u00e4\u00df"


def _item(content: bytes) -> bytes:
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(content)) + content


def test_element_overrunning_its_item_is_named(zee: Dataset) -> None:
    """An element whose length runs past its item's end: nothing after it can be located."""
    overrun = _item(b"\x08\x00\x00\x01SH" + struct.pack("<H", 100) + b"T-1234")
    with pytest.raises(sr_items.MalformedSequence, match=r"^element \(0008,0100\) overruns its"):
        sr_items.parse_sequence(overrun, False)
    ds = copy.deepcopy(zee)
    tag = Tag(CONTENT_SEQUENCE)
    ds[tag] = RawDataElement(tag, "SQ", len(overrun), overrun, 0, False, True)
    issues: list[str] = []
    assert ContentNode(ds, issues).all() == []
    assert issues == [
        "root: (0040,A730) cannot be read (element (0008,0100) overruns its parent); read as "
        "empty: damaged content item, its content is lost"
    ]


def test_repeated_tag_in_an_item_leaves_both_out_with_a_warning() -> None:
    """Code Value (0008,0100) again after Coding Scheme Designator (0008,0102): neither is used."""
    value = b"\x08\x00\x00\x01SH\x06\x00T-1234" + b"\x08\x00\x02\x01SH\x04\x00SCT "
    repeat = b"\x08\x00\x00\x01SH\x06\x00T-9999" + b"\x08\x00\x04\x01LO\x04\x00Knee"
    with pytest.warns(StructureWarning) as caught:
        [item] = sr_items.parse_sequence(_item(value + repeat), False)
    assert [str(w.message) for w in caught] == [
        "malformed DICOM: tag (0008,0100) repeated after (0008,0102) in an SR content item; "
        "both attributes left out (read as absent)"
    ]
    assert [sr_items.text(item, t, []) for t in (0x00080100, 0x00080102, 0x00080104)] == [
        None,
        None,
        "Knee",
    ]


def _code_seq_item(code_seq: bytes) -> sr_items.RawItem:
    """A content item holding only a Concept Name Code Sequence (0040,A043) of ``code_seq``."""
    element = b"\x40\x00\x43\xa0SQ\x00\x00" + struct.pack("<L", len(code_seq)) + code_seq
    [item] = sr_items.parse_sequence(_item(element), False)
    return item


def _code_value(item: sr_items.Item | None, encodings: list[str]) -> str | None:
    return sr_items.text(item, 0x00080100, encodings) if item is not None else None


def test_memo_first_remembers_clean_bytes_and_warns_again_where_they_are_damaged() -> None:
    """The same Concept Name bytes in two items decode once to the same value; bytes that warn
    are not remembered, so their second occurrence warns again and reads the same."""
    clean = _item(b"\x08\x00\x00\x01SH\x06\x00113733" + b"\x08\x00\x02\x01SH\x04\x00DCM ")
    first, second = _code_seq_item(clean), _code_seq_item(clean)
    assert sr_items.memo_first(first, 0x0040A043, [], _code_value) == "113733"
    sr_items._MEMO.pop((_code_value, clean, False), None)
    assert sr_items.memo_first(first, 0x0040A043, [], _code_value) == "113733"
    assert (_code_value, clean, False) in sr_items._MEMO
    assert sr_items.memo_first(second, 0x0040A043, [], _code_value) == "113733"
    damaged = _item(b"\x08\x00\x02\x01SH\x04\x00DCM " + b"\x08\x00\x00\x01SH\x06\x00113733")
    for item in (_code_seq_item(damaged), _code_seq_item(damaged)):
        with pytest.warns(StructureWarning, match=r"tag \(0008,0100\) out of ascending order"):
            assert sr_items.memo_first(item, 0x0040A043, [], _code_value) is None
    assert (_code_value, damaged, False) not in sr_items._MEMO
    assert sr_items.memo_first(first, 0x00081199, [], _code_value) is None  # absent: no item


def test_deferred_content_sequence_read_in_one_piece_as_raw_items(zee: Dataset) -> None:
    """read_header leaves Zee's Content Sequence on disk (longer than DEFER_SIZE): it is read
    with one read as raw items, not converted by pydicom, and holds what pydicom reads."""
    ds = read_header(ZEE)
    assert ds.get_item(Tag(CONTENT_SEQUENCE), keep_deferred=True).value is None
    items = sr_items.sequence(ds, CONTENT_SEQUENCE)  # the general reader (decode.py declined)
    assert {type(i) for i in items} == {sr_items.RawItem}
    assert len(items) == len(zee.ContentSequence)
    assert ds.get_item(Tag(CONTENT_SEQUENCE), keep_deferred=True).value is None  # not stored
    codes = [sr_items.text(sr_items.sequence(i, 0x0040A043)[0], 0x00080100, []) for i in items]
    assert codes == [i.ConceptNameCodeSequence[0].CodeValue for i in zee.ContentSequence]
    assert codes.count("113706") == len(extract_report(ds, "zee.dcm").events)
