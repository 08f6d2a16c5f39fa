"""Generic helpers over an SR content tree (PS3.3 C.17.3): find items by concept code, read values.

Items are matched on (CodeValue, CodingSchemeDesignator), never on CodeMeaning, with legacy SRT
codes mapped to SCT as pydicom's ``Code`` equality does (``Code.__hash__`` does not, so the index
keys are normalised here). Reading is lenient, because real reports are not always conformant: a
value is read from whichever value attribute is present (GE sends UIDs as TEXT), a missing
RelationshipType is accepted, a duplicate item where one is expected is noted in ``issues`` and the
first one used, and a sequence that does not parse is noted and read as empty. Each container
indexes its children once, so a template reader costs one pass over the items it reads; values
are decoded by ``sr_items`` only when asked for.
"""

from __future__ import annotations

import math
from datetime import datetime
from statistics import fmean
from typing import NamedTuple

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from xrf_assets.core.dicom.values import parse_dt
from xrf_assets.core.sr import items as sr_items
from xrf_assets.core.sr.decode import CodeKey, Node, code_key, content_of
from xrf_assets.core.sr.items import Item, MalformedSequence

# attribute tags of content items (PS3.3 C.17.3, C.18)
CONTENT_SEQUENCE = 0x0040A730
CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
CONCEPT_CODE_SEQUENCE = 0x0040A168
MEASURED_VALUE_SEQUENCE = 0x0040A300
MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA
NUMERIC_VALUE = 0x0040A30A
FLOATING_POINT_VALUE = 0x0040A161
TEXT_VALUE = 0x0040A160
UID = 0x0040A124
DATE_TIME = 0x0040A120
REFERENCED_SOP_SEQUENCE = 0x00081199
REFERENCED_SOP_CLASS_UID = 0x00081150
REFERENCED_SOP_INSTANCE_UID = 0x00081155
CODE_VALUE = 0x00080100
CODING_SCHEME_DESIGNATOR = 0x00080102
CODE_MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
VALUE_TYPE = 0x0040A040
# marks an issue where part of the tree could not be read: what it held is lost (dose reports
# with such an issue are ``partial``)
DAMAGED = "damaged content item, its content is lost"


def key_of(code: Code) -> CodeKey:
    found = _KEYS.get(id(code))
    if found is not None and found[0] is code:  # the same object, not a new one at its id
        return found[1]
    key = code_key(code.value, code.scheme_designator)
    if len(_KEYS) >= 10_000:
        _KEYS.clear()
    _KEYS[id(code)] = (code, key)
    return key


# id -> (code, its key): the template readers ask for the same Code constants again and again
_KEYS: dict[int, tuple[Code, CodeKey]] = {}


def _code_item_key(item: Item, encodings: list[str]) -> CodeKey:
    value = sr_items.text(item, CODE_VALUE, encodings) or sr_items.text(
        item, LONG_CODE_VALUE, encodings
    )
    return code_key(value or "", sr_items.text(item, CODING_SCHEME_DESIGNATOR, encodings) or "")


def _code_item(item: Item, encodings: list[str]) -> Code:
    value, scheme = _code_item_key(item, encodings)
    return Code(value, scheme, sr_items.text(item, CODE_MEANING, encodings) or "")


# decoders of a sequence's first item (None: no item) for ``sr_items.memo_first``


def _name_key(item: Item | None, encodings: list[str]) -> CodeKey | None:
    return _code_item_key(item, encodings) if item is not None else None


def _code_or_none(item: Item | None, encodings: list[str]) -> Code | None:
    return _code_item(item, encodings) if item is not None else None


def _unit(item: Item | None, encodings: list[str]) -> str:
    return (sr_items.text(item, CODE_VALUE, encodings) if item is not None else None) or ""


def _measured(
    item: Item | None, encodings: list[str]
) -> tuple[str, float | None, str | MalformedSequence] | None:
    """(Numeric Value as sent, Floating Point Value, unit code value) of a Measured Value item;
    a Measurement Units sequence that does not parse is returned, for ``num_value`` to raise."""
    if item is None:
        return None
    raw = sr_items.text(item, NUMERIC_VALUE, encodings)
    if raw is None:
        return None
    precise = sr_items.float64(item, FLOATING_POINT_VALUE)
    try:
        unit = sr_items.memo_first(item, MEASUREMENT_UNITS_CODE_SEQUENCE, encodings, _unit)
    except MalformedSequence as exc:
        return raw, precise, exc
    return raw, precise, unit


def _node_code(node: Node, encodings: list[str]) -> Code | None:
    """The Concept Code of a decoded item as ``_code_item`` builds it (once per node where its
    meaning is ASCII: a node may be shared by reports in other character sets)."""
    code = node.cache.get("code", _NONE)
    if code is _NONE:
        code = None
        if node.code is not None:
            value, long_value, scheme, meaning = node.code
            text = sr_items.decoded(meaning, encodings) if meaning is not None else None
            code = Code(*code_key(value or long_value or "", scheme or ""), text or "")
            if meaning is not None and not meaning.isascii():
                return code
        node.cache["code"] = code
    return code  # type: ignore[return-value]


_NONE = object()
_ABSENT: list[Item | Node] = []


def _values(raw: str, precise: float | None) -> tuple[float, ...] | None:
    """The numbers of a Numeric Value (the Floating Point Value where it is the one number);
    None where they are not all finite numbers."""
    try:
        values = tuple(map(float, raw.split("\\"))) if "\\" in raw else (float(raw),)
    except ValueError:
        return None
    if not values or not all(map(math.isfinite, values)):
        return None
    if precise is not None and len(values) == 1:  # same value, full precision
        return (precise,)
    return values


def _decoded_num(node: Node) -> NumValue | None:
    """The value of a decoded NUM item, remembered on it (an item with the same bytes is the
    same node); None without one or where it is not a number."""
    num = node.cache.get("num")
    if num is None and node.measured is not None:
        raw, precise, unit = node.measured
        values = _values(raw, precise)
        if values is not None:
            num = node.cache["num"] = NumValue(values, unit)
    return num  # type: ignore[return-value]


def concept_of(ds: Dataset) -> Code | None:
    """Concept Name (0040,A043) of a dataset (e.g. the report root), or None if it has none."""
    seq = sr_items.sequence(ds, CONCEPT_NAME_CODE_SEQUENCE)
    return _code_item(seq[0], sr_items.encodings_of(ds)) if seq else None


class NumValue(NamedTuple):
    """A NUM item's value: several numbers where a vendor sends a per-pulse array (a tuple:
    immutable as a value shared by equal items must be, and cheap to build, one per NUM item)."""

    values: tuple[float, ...]
    unit: str

    @property
    def is_array(self) -> bool:
        return len(self.values) > 1

    def summary(self) -> tuple[float, float | None, float | None]:
        """(mean of the non-zero values, smallest non-zero, largest) for per-pulse arrays.

        A single value gives (value, None, None): min and max describe per-pulse arrays only. An
        array of zeros gives (0.0, None, 0.0).
        """
        if not self.is_array:
            return self.values[0], None, None
        nonzero = [v for v in self.values if v != 0]
        if not nonzero:
            return 0.0, None, max(self.values)
        return fmean(nonzero), min(nonzero), max(self.values)


class ContentNode:
    """One content item, with its children indexed by concept once, on first use.

    ``path`` names the item by concept codes and position ("113706[3]/113733") for messages;
    ``issues`` is the list of the whole report, shared by all nodes of its tree, as are the
    report's character set ``encodings``. The item is the report (a Dataset), or one of its
    content items: a :class:`~xrf_assets.core.sr.decode.Node` where the report's tree was
    decoded in one pass (nearly always), else one read by the general readers
    (:mod:`~xrf_assets.core.sr.items`), which also name what is wrong with a damaged tree.
    """

    __slots__ = ("_content", "_index", "encodings", "issues", "item", "path")

    def __init__(
        self,
        item: Item | Node,
        issues: list[str],
        path: str = "",
        encodings: list[str] | None = None,
    ) -> None:
        self.item = item
        self.issues = issues
        self.path = path
        if encodings is None:
            encodings = sr_items.encodings_of(item) if isinstance(item, Dataset) else []
        self.encodings = encodings
        self._index: dict[CodeKey, list[Item | Node]] | None = None
        self._content: list[Item] | list[Node] | None = None

    def content(self) -> list[Item] | list[Node]:
        """The items of the Content Sequence (0040,A730), parsed once (whoever asks first: the
        check for an empty event, then its index). Raises MalformedSequence."""
        if self._content is None:
            item = self.item
            if isinstance(item, Node):
                self._content = item.children or []
            else:
                decoded = content_of(item) if isinstance(item, Dataset) else None
                if decoded is not None:
                    self._content = decoded
                else:
                    self._content = sr_items.sequence(item, CONTENT_SEQUENCE)
        return self._content

    def _sequence(self, item: Item, tag: int) -> list[Item]:
        try:
            return sr_items.sequence(item, tag)
        except MalformedSequence as exc:
            self._note_malformed(tag, exc)
            return []

    def _note_malformed(self, tag: int, exc: MalformedSequence) -> None:
        self.issues.append(
            f"{self.path or 'root'}: ({tag >> 16:04X},{tag & 0xFFFF:04X}) "
            f"cannot be read ({exc}); read as empty: {DAMAGED}"
        )

    def _text(self, tag: int) -> str | None:
        item = self.item
        if isinstance(item, Node):
            raw = item.texts.get(tag)
            return sr_items.decoded(raw, self.encodings) if raw is not None else None
        return sr_items.text(item, tag, self.encodings)

    def _children(self) -> dict[CodeKey, list[Item | Node]]:
        if self._index is None:
            index: dict[CodeKey, list[Item | Node]] = {}
            encodings = self.encodings
            try:
                children = self.content()
            except MalformedSequence as exc:
                self._note_malformed(CONTENT_SEQUENCE, exc)
                children = []
            for n, child in enumerate(children, start=1):
                if isinstance(child, Node):
                    key = child.name
                    if key is not None:
                        found = index.get(key)
                        if found is None:
                            index[key] = [child]
                        else:
                            found.append(child)
                        continue
                    raw = child.texts.get(VALUE_TYPE)
                    typed = raw is not None and sr_items.decoded(raw, encodings)
                else:
                    key = sr_items.memo_first(
                        child, CONCEPT_NAME_CODE_SEQUENCE, encodings, _name_key
                    )
                    typed = key is None and sr_items.text(child, VALUE_TYPE, encodings)
                if key is not None:
                    index.setdefault(key, []).append(child)
                elif not typed:
                    # neither name nor type: bytes read out of step (a length overrun)
                    self.issues.append(
                        f"{self.path or 'root'}: content item {n} has no Concept Name "
                        f"(0040,A043) and no Value Type (0040,A040): {DAMAGED}"
                    )
            self._index = index
        return self._index

    def child_path(self, code: Code, n: int | None = None) -> str:
        """The ``path`` of the (``n``-th) child with concept ``code``."""
        name = code.value if n is None else f"{code.value}[{n}]"
        return f"{self.path}/{name}" if self.path else name

    def all(self, *codes: Code) -> list[ContentNode]:
        """Every child whose concept is one of ``codes`` (e.g. the 113706 events), in order."""
        index = self._children()
        out: list[ContentNode] = []
        for code in codes:
            for n, child in enumerate(index.get(key_of(code), ()), start=1):
                out.append(
                    ContentNode(child, self.issues, self.child_path(code, n), self.encodings)
                )
        return out

    def has(self, code: Code) -> bool:
        return key_of(code) in self._children()

    def _found(self, code: Code) -> list[Item | Node]:
        """The children with concept ``code``: where there is one, decoded, the shortcuts read
        it without a node object; else through ``first``, which notes several."""
        index = self._index if self._index is not None else self._children()
        return index.get(key_of(code), _ABSENT)

    def first(self, *codes: Code) -> ContentNode | None:
        """The child with the first of ``codes`` present (current before retired codes).

        More than one such child where the template allows one is noted and the first used.
        """
        index = self._index if self._index is not None else self._children()
        for code in codes:
            found = index.get(key_of(code))
            if found:
                path = self.child_path(code)
                if len(found) > 1:
                    self.issues.append(
                        f"{path}: {len(found)} items where one is expected; the first is used"
                    )
                return ContentNode(found[0], self.issues, path, self.encodings)
        return None

    # -- values of this item -------------------------------------------------------------------

    def num_value(self) -> NumValue | None:
        """Measured Value Sequence (0040,A300): the numbers and the unit code value sent.

        None where the sequence is empty (a device saying "no value"). A value that is not a
        number is noted and gives None.
        """
        item = self.item
        if isinstance(item, Node):
            num = _decoded_num(item)
            if num is None and item.measured is not None:
                self._not_a_number(item.measured[0])
            return num
        try:
            measured = sr_items.memo_first(item, MEASURED_VALUE_SEQUENCE, self.encodings, _measured)
        except MalformedSequence as exc:
            self._note_malformed(MEASURED_VALUE_SEQUENCE, exc)
            return None
        if measured is None:
            return None
        raw, precise, unit = measured
        values = _values(raw, precise)
        if values is None:
            self._not_a_number(raw)
            return None
        if isinstance(unit, MalformedSequence):
            raise MalformedSequence(str(unit))  # as before: the report cannot be read
        return NumValue(values, unit)

    def _not_a_number(self, raw: str) -> None:
        self.issues.append(f"{self.path}: Numeric Value {raw!r} is not a number")

    def code_value(self) -> Code | None:
        """Concept Code Sequence (0040,A168) of a CODE item."""
        item = self.item
        if isinstance(item, Node):
            return _node_code(item, self.encodings)
        try:
            return sr_items.memo_first(item, CONCEPT_CODE_SEQUENCE, self.encodings, _code_or_none)
        except MalformedSequence as exc:
            self._note_malformed(CONCEPT_CODE_SEQUENCE, exc)
            return None

    def text_value(self) -> str | None:
        """TEXT value, or the meaning of a CODE value where a vendor sends a code instead."""
        text = self._text(TEXT_VALUE)
        if text is not None:
            return text
        code = self.code_value()
        return (code.meaning or code.value) if code is not None else None

    def uid_value(self) -> str | None:
        """UIDREF value (0040,A124); TEXT is accepted, as some devices send UIDs as text."""
        return self._text(UID) or self._text(TEXT_VALUE)

    def datetime_value(self) -> tuple[datetime, int | None] | None:
        """DATETIME value (0040,A120) as (naive local time, UTC offset s); invalid text is noted."""
        raw = self._text(DATE_TIME)
        if raw is None:
            return None
        try:
            return parse_dt(raw)
        except ValueError as exc:
            self.issues.append(f"{self.path}: DateTime {raw!r}: {exc}")
            return None

    def image_reference(self) -> tuple[str | None, str | None] | None:
        """IMAGE item: (Referenced SOP Class UID, Referenced SOP Instance UID), empty as None."""
        item = self.item
        if isinstance(item, Node):
            return item.ref
        seq = self._sequence(item, REFERENCED_SOP_SEQUENCE)
        if not seq:
            return None
        return (
            sr_items.text(seq[0], REFERENCED_SOP_CLASS_UID, self.encodings),
            sr_items.text(seq[0], REFERENCED_SOP_INSTANCE_UID, self.encodings),
        )

    # -- shortcuts: the value of the first child with a concept ---------------------------------

    def code(self, *codes: Code) -> Code | None:
        if len(codes) == 1:
            found = self._found(codes[0])
            if not found:
                return None
            if len(found) == 1 and type(found[0]) is Node:
                return _node_code(found[0], self.encodings)
        node = self.first(*codes)
        return node.code_value() if node is not None else None

    def num(self, code: Code) -> NumValue | None:
        """``first(code).num_value()``."""
        found = self._found(code)
        if not found:
            return None
        if len(found) == 1 and type(found[0]) is Node:
            num = _decoded_num(found[0])
            if num is not None or found[0].measured is None:
                return num
        node = self.first(code)  # several, or not a number: noted there
        return node.num_value() if node is not None else None

    def text(self, *codes: Code) -> str | None:
        node = self.first(*codes)
        return node.text_value() if node is not None else None

    def uid(self, *codes: Code) -> str | None:
        node = self.first(*codes)
        return node.uid_value() if node is not None else None

    def datetime(self, *codes: Code) -> tuple[datetime, int | None] | None:
        node = self.first(*codes)
        return node.datetime_value() if node is not None else None
