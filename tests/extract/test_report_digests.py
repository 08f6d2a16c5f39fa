"""Every value a real dose report gives, pinned: a digest of each report's rows, issues and
partial reason (or its refusal), read as the ingest reads it, with the one-pass decoder and with
the general readers. Speed work on the SR path must leave them exactly as they are; a change
meant to alter what a report gives updates its digest here, and says why.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import pytest
from builders.corpus import corpus_file

from xrf_assets.core.dicom.read import read_header
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.extract.dose_reports import extract_report
from xrf_assets.core.sr import tree

# sha256 (first 16 hex digits) of the canonical JSON of [events, accumulated, refs, issues,
# partial], or of ["refused", reason]; measured at commit 156e37c
DIGESTS = {
    "DX-RDSR-Canon_CXDI.dcm": "3562b92c2170e91f",
    "DX-RDSR-Canon_CXDI_noDAP.dcm": "0216d0a815845cd6",
    "DX-RDSR-Carestream_DRXEvolution.dcm": "504c6b80b4f844ea",
    "Dual-RDSR-DX.dcm": "a71caa6bbd2d2684",
    "Dual-RDSR-RF.dcm": "45e90a0c9e9798f9",
    "RF-ESR-Siemens-Varic.dcm": "18c56ca5639e509a",
    "RF-No-kVp-and-others.dcm": "27fdfdbd8560d635",
    "RF-Pat-Orientation-Modifier-Missing.dcm": "834fb2171bf16ef2",
    "RF-RDSR-Canon-Alphenix-rotational.dcm": "f55ff85ecd9d5846",
    "RF-RDSR-Canon-Ultimaxi-mGyDoseAtRP.dcm": "7907ed71c7d4809c",
    "RF-RDSR-Eurocolumbus.dcm": "225e42ac7ab6918b",
    "RF-RDSR-GE-OECEliteMiniView.dcm": "814dd66d64e9a2a5",
    "RF-RDSR-GE.dcm": "3f7d3f2d0ba0f4df",
    "RF-RDSR-Philips_Allura.dcm": "789da748ee413b9c",
    "RF-RDSR-Philips_Azurion.dcm": "7b37e986e40b4525",
    "RF-RDSR-Siemens-Zee.dcm": "fc7f024a0d341e68",
    "RF-RDSR-Siemens-Zee_adjusted.dcm": "12d5d347e0d40131",
}


def _digest(name: str) -> str:
    path = corpus_file(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = extract_report(read_header(path), name)
            value: list[object] = [out.events, out.accumulated, out.refs, out.issues, out.partial]
        except ExtractionError as exc:
            value = ["refused", exc.reason]
    text = json.dumps(value, sort_keys=True, default=repr)  # floats as repr: every digit
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(DIGESTS))
@pytest.mark.parametrize("decoder", [True, False], ids=["decoded", "general"])
def test_report_values_unchanged(name: str, decoder: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not decoder:
        monkeypatch.setattr(tree, "content_of", lambda ds: None)
    assert _digest(name) == DIGESTS[name]
