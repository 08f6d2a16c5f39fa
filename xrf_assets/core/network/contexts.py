"""What the listener accepts: the dose and X-ray image storage SOP classes (PS3.4 Annex B) in
the usual transfer syntaxes, and Verification (C-ECHO)."""

from __future__ import annotations

from pydicom import uid

from xrf_assets.core.dicom.sop_classes import (
    ENHANCED_XA_IMAGE,
    ENHANCED_XRF_IMAGE,
    RDSR_SOP_CLASSES,
    XA_IMAGE,
    XRF_IMAGE,
)

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # accepted and kept; ingest lists and ignores it
VERIFICATION = "1.2.840.10008.1.1"

# Dose reports: RDSRs, and the general SR classes some devices send them in.
DOSE_REPORT_CLASSES: frozenset[str] = RDSR_SOP_CLASSES | {ENHANCED_SR, COMPREHENSIVE_SR}
STORAGE_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.88.67": "X-Ray Radiation Dose SR",
    "1.2.840.10008.5.1.4.1.1.88.76": "Enhanced X-Ray Radiation Dose SR",
    ENHANCED_SR: "Enhanced SR",
    COMPREHENSIVE_SR: "Comprehensive SR",
    XA_IMAGE: "X-Ray Angiographic Image",
    XRF_IMAGE: "X-Ray Radiofluoroscopic Image",
    ENHANCED_XA_IMAGE: "Enhanced XA Image",
    ENHANCED_XRF_IMAGE: "Enhanced XRF Image",
    SECONDARY_CAPTURE: "Secondary Capture Image",
}

# Uncompressed first; compressed image syntaxes are stored as sent (headers stay readable).
TRANSFER_SYNTAXES: list[str] = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.RLELossless,
]


def sop_class_name(sop_class: str) -> str:
    return STORAGE_CLASSES.get(sop_class, sop_class)
