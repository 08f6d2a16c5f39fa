"""The one-pass content tree decoder against the general readers: same rows, issues, reasons.

Every real report is read with the decoder and with it switched off (the general readers of
``sr.items``), in every little-endian encoding pydicom writes (explicit / implicit VR, defined
/ undefined lengths), and as damaged copies (cut short, bits flipped): both ways must give the
same events, totals, references, issues and partial reason, or the same refusal. Clean reports
must actually be decoded, damaged ones declined rather than read differently.
"""

from __future__ import annotations

import random
import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from builders.corpus import CORPUS
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from xrf_assets.core.dicom.read import read_header
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.sr import decode, tree
from xrf_assets.core.sr.items import deferred_bytes

REPORTS = sorted(CORPUS.glob("*.dcm"))
# RF-ESR-Siemens-Varic is a Siemens summary (refused before its tree is read)
TEMPLATE_REPORTS = [p for p in REPORTS if "Varic" not in p.name]


def _outcome(path: Path) -> Any:
    """Rows, issues and partial reason, or the refusal; with the warnings raised (the
    ingest records them as issues)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = read_header(path)
            out = extract_report(ds, path.name)
            result: Any = out.events, out.accumulated, out.refs, out.issues, out.partial
        except ExtractionError as exc:
            result = ("refused", exc.reason)
        except ValueError as exc:  # a damaged root concept: read_one records it as unexpected
            result = ("raised", type(exc).__name__, str(exc))
    return result, sorted({str(w.message) for w in caught})


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    decode._NODES.clear()
    decode._CODES.clear()
    fast = _outcome(path)
    with monkeypatch.context() as m:
        m.setattr(tree, "content_of", lambda ds: None)
        general = _outcome(path)
    return fast, general


def _undefined(items: Any, undefined: bool) -> None:
    for item in items or ():
        item.is_undefined_length_sequence_item = undefined
        for elem in item:
            if elem.VR == "SQ":
                elem.is_undefined_length = undefined
                _undefined(elem.value, undefined)


def _rewritten(path: Path, out: Path, syntax: UID, undefined: bool) -> Path:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    _undefined(ds.ContentSequence, undefined)
    ds["ContentSequence"].is_undefined_length = undefined
    ds.file_meta.TransferSyntaxUID = syntax
    buf = BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    target = out / f"{path.stem}.{syntax.name[:8]}.{undefined}.dcm"
    target.write_bytes(buf.getvalue())
    return target


@pytest.mark.parametrize("path", TEMPLATE_REPORTS, ids=lambda p: p.stem)
def test_real_reports_decoded_with_the_same_rows(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, general = _both(path, monkeypatch)
    assert fast == general
    assert decode.content_of(read_header(path)) is not None  # taken, not declined


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_every_encoding_decoded_alike(
    syntax: UID, undefined: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in TEMPLATE_REPORTS:
        rewritten = _rewritten(path, tmp_path, syntax, undefined)
        fast, general = _both(rewritten, monkeypatch)
        assert fast == general, path.name
        assert decode.content_of(read_header(rewritten)) is not None, path.name


def test_damaged_copies_read_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut short or with bits flipped: the same rows and issues, or the same refusal; a damaged
    tree is declined (the general readers name the damage), never read another way."""
    rng = random.Random(17)
    declined = 0
    for path in TEMPLATE_REPORTS:
        if path.stat().st_size > 70_000:
            continue  # the large ones cost seconds each and add no other structure
        raw = path.read_bytes()
        for n in range(8):
            data = bytearray(raw)
            if n < 4:
                data = data[: rng.randrange(400, len(raw))]
            else:
                for _ in range(3):
                    data[rng.randrange(400, len(raw))] ^= 1 << rng.randrange(8)
            damaged = tmp_path / f"{path.stem}.{n}.dcm"
            damaged.write_bytes(bytes(data))
            fast, general = _both(damaged, monkeypatch)
            assert fast == general, damaged.name
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    declined += decode.content_of(read_header(damaged)) is None
                except ExtractionError:
                    declined += 1
    assert declined > 10


def _content(ds: Dataset) -> bytes:
    elem = ds.get_item(decode.CONTENT_SEQUENCE, keep_deferred=True)
    value = deferred_bytes(ds, elem)
    assert value is not None
    return value


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("item tag", lambda b: b.replace(b"\xfe\xff\x00\xe0", b"\xfe\xff\x01\xe0", 1)),
        ("invalid VR", lambda b: b.replace(b"\x08\x00\x00\x01SH", b"\x08\x00\x00\x01Q1", 1)),
        ("repeated tag", lambda b: b.replace(b"\x08\x00\x02\x01SH", b"\x08\x00\x00\x01SH", 1)),
        ("overrun", lambda b: b.replace(b"\x08\x00\x00\x01SH\x06", b"\x08\x00\x00\x01SH\xf6", 1)),
        ("cut short", lambda b: b[:-5]),
    ],
)
def test_damage_declines(name: str, damage: Any) -> None:
    """Broken framing or a tag out of order anywhere in the tree: the decoder declines."""
    ds = read_header(CORPUS / "RF-RDSR-Siemens-Zee.dcm")
    assert decode.content_of(ds) is not None
    value = _content(ds)
    damaged = damage(value)
    assert damaged != value, name
    decode._NODES.clear()
    decode._CODES.clear()
    elem = ds.get_item(decode.CONTENT_SEQUENCE, keep_deferred=True)
    ds[decode.CONTENT_SEQUENCE] = elem._replace(length=len(damaged), value=damaged)
    assert decode.content_of(ds) is None, name
