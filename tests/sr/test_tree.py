"""SR content-tree helpers: code matching, lenient reading, per-pulse arrays, duplicates noted."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydicom import config
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.tag import Tag

from xrf_assets.core.sr import codes
from xrf_assets.core.sr.tree import ContentNode, NumValue, code_key, key_of


def _code(value: str, scheme: str = "DCM", meaning: str = "x") -> Dataset:
    ds = Dataset()
    ds.CodeValue = value
    ds.CodingSchemeDesignator = scheme
    ds.CodeMeaning = meaning
    return ds


def _item(concept: Code, value_type: str, **attrs: object) -> Dataset:
    ds = Dataset()
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = [_code(concept.value, concept.scheme_designator, concept.meaning)]
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _num(concept: Code, value: object, unit: str) -> Dataset:
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = [_code(unit, "UCUM", unit)]
    return _item(concept, "NUM", MeasuredValueSequence=[mv])


def _container(*children: Dataset) -> ContentNode:
    ds = _item(codes.IRRADIATION_EVENT_XRAY_DATA, "CONTAINER", ContentSequence=list(children))
    return ContentNode(ds, [], "113706[1]")


def test_srt_and_sct_codes_share_a_key() -> None:
    assert code_key("P5-06000", "SRT") == key_of(codes.FLUOROSCOPY) == ("44491008", "SCT")
    assert code_key("113611", "DCM") != code_key("113611", "SRT")


def test_children_found_by_code_not_meaning() -> None:
    misspelt = Code("111526", "DCM", "Date Time Started")  # GE's meaning
    node = _container(_item(misspelt, "DATETIME", DateTime="20190316132623.5+0200"))
    expected = (datetime(2019, 3, 16, 13, 26, 23, 500000), 7200)
    assert node.datetime(codes.DATETIME_STARTED) == expected


def test_retired_code_read_after_current() -> None:
    node = _container(
        _item(codes.IRRADIATION_EVENT_UID_RETIRED, "UIDREF", UID="1.2.3"),
    )
    assert node.uid(codes.IRRADIATION_EVENT_UID, codes.IRRADIATION_EVENT_UID_RETIRED) == "1.2.3"
    both = _container(
        _item(codes.IRRADIATION_EVENT_UID_RETIRED, "UIDREF", UID="1.2.3"),
        _item(codes.IRRADIATION_EVENT_UID, "UIDREF", UID="4.5.6"),
    )
    assert both.uid(codes.IRRADIATION_EVENT_UID, codes.IRRADIATION_EVENT_UID_RETIRED) == "4.5.6"


def test_duplicate_item_noted_and_first_used() -> None:
    node = _container(_num(codes.KVP, "70", "kV"), _num(codes.KVP, "80", "kV"))
    num = node.first(codes.KVP)
    assert num is not None and num.num_value() == NumValue((70.0,), "kV")
    assert node.issues == ["113706[1]/113733: 2 items where one is expected; the first is used"]


def test_uid_sent_as_text_is_read() -> None:
    node = _container(_item(codes.DEVICE_OBSERVER_UID, "TEXT", TextValue="1.3.6.1.4.1.45593.9"))
    assert node.uid(codes.DEVICE_OBSERVER_UID) == "1.3.6.1.4.1.45593.9"


def test_reference_point_as_text_or_code() -> None:
    as_text = _container(_item(codes.REFERENCE_POINT_DEFINITION, "TEXT", TextValue="15cm "))
    rp = _item(codes.REFERENCE_POINT_DEFINITION, "CODE")
    rp.ConceptCodeSequence = [_code("113860", "DCM", "15cm from Isocenter toward Source")]
    as_code = _container(rp)
    assert as_text.text(codes.REFERENCE_POINT_DEFINITION) == "15cm"
    assert as_code.text(codes.REFERENCE_POINT_DEFINITION) == "15cm from Isocenter toward Source"


def test_empty_measured_value_is_none_and_bad_number_noted() -> None:
    empty = _item(codes.DOSE_AREA_PRODUCT, "NUM", MeasuredValueSequence=[])
    bad = _num(codes.KVP, "70", "kV")  # then as read from a file whose DS bytes are not a number
    tag = Tag(0x0040A30A)
    bad.MeasuredValueSequence[0][tag] = RawDataElement(tag, "DS", 4, b"abc ", 0, True, True)
    node = _container(empty, bad)
    first = node.first(codes.DOSE_AREA_PRODUCT)
    assert first is not None and first.num_value() is None
    kvp = node.first(codes.KVP)
    assert kvp is not None and kvp.num_value() is None
    assert node.issues == ["113706[1]/113733: Numeric Value 'abc' is not a number"]


def test_per_pulse_array_summary() -> None:
    node = _container(_num(codes.KVP, ["0", "85", "85", "68", "50"], "kV"))
    num = node.first(codes.KVP)
    assert num is not None
    value = num.num_value()
    assert value is not None and value.is_array
    assert value.summary() == (pytest.approx((85 + 85 + 68 + 50) / 4), 50.0, 85.0)
    assert NumValue((72.0,), "kV").summary() == (72.0, None, None)
    assert NumValue((0.0, 0.0), "kV").summary() == (0.0, None, 0.0)


def test_invalid_datetime_noted() -> None:
    with config.disable_value_validation():
        node = _container(_item(codes.DATETIME_STARTED, "DATETIME", DateTime="2019-03-16"))
    assert node.datetime(codes.DATETIME_STARTED) is None
    assert len(node.issues) == 1 and "111526" in node.issues[0]


def test_image_reference_with_empty_instance_uid() -> None:
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"
    ref.ReferencedSOPInstanceUID = ""
    node = _container(_item(codes.ACQUIRED_IMAGE, "IMAGE", ReferencedSOPSequence=[ref]))
    (image,) = node.all(codes.ACQUIRED_IMAGE)
    assert image.image_reference() == ("1.2.840.10008.5.1.4.1.1.12.1", None)
    assert image.path == "113706[1]/113795[1]"
