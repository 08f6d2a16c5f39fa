"""The SOP classes the pipeline reads, by what it does with them (PS3.4 Annex B).

Kept apart from the extractors so that the reader, which must know an image from a report to
judge a file cut short, depends on no extractor.
"""

from __future__ import annotations

XA_IMAGE = "1.2.840.10008.5.1.4.1.1.12.1"
XRF_IMAGE = "1.2.840.10008.5.1.4.1.1.12.2"
ENHANCED_XA_IMAGE = "1.2.840.10008.5.1.4.1.1.12.1.1"
ENHANCED_XRF_IMAGE = "1.2.840.10008.5.1.4.1.1.12.2.1"
IMAGE_SOP_CLASSES: frozenset[str] = frozenset(
    {XA_IMAGE, XRF_IMAGE, ENHANCED_XA_IMAGE, ENHANCED_XRF_IMAGE}
)

RDSR_SOP_CLASSES: frozenset[str] = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.76",  # Enhanced X-Ray Radiation Dose SR
    }
)
# General SR classes that some devices use for dose reports: read when the root is 113701.
GENERAL_SR_SOP_CLASSES: frozenset[str] = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    }
)
