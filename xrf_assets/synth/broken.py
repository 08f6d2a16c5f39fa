"""Files a real archive also holds: non-DICOM files, truncated DICOM headers, foreign DICOM objects.

Their expected `dicom_files` kind and status go into ``truth/files.parquet``. Note that pydicom
reads a header cut short without complaint (it returns the elements before the cut), so a reader
must notice the truncation itself, e.g. from a value shorter than its declared length.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from xrf_assets.synth.common import base_dataset, part10_bytes, write_dataset
from xrf_assets.synth.config import SynthConfig
from xrf_assets.synth.encoder import Elements
from xrf_assets.synth.images import image_dataset, pixel_bytes
from xrf_assets.synth.plan import StudyPlan, new_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

_NON_DICOM: tuple[tuple[str, bytes, str], ...] = (
    ("README.txt", b"Exported from PACS; see the transfer log.\n", "plain text"),
    ("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "a PDF document"),
    ("Thumbs.db", bytes(range(256)) * 4, "binary junk"),
)


def _row(path: str, kind: str, status: str, note: str) -> dict[str, Any]:
    return {"path": path, "kind": kind, "status": status, "note": note}


def write_extras(
    dicom_dir: Path, config: SynthConfig, studies: list[StudyPlan]
) -> list[dict[str, Any]]:
    """Write the non-DICOM, truncated and other-DICOM files the config asks for."""
    rng = random.Random(f"{config.seed}/extras")
    rows = []
    for i in range(config.non_dicom_files):
        name, content, what = _NON_DICOM[i % len(_NON_DICOM)]
        path = f"incoming/{i:02d}_{name}"
        (dicom_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (dicom_dir / path).write_bytes(content)
        rows.append(_row(path, "unknown", "rejected", f"not DICOM: {what}"))
    with_images = [s for s in studies if s.images]
    for i in range(min(config.truncated_files, len(with_images))):
        study = with_images[(i * 7) % len(with_images)]
        ds_, _ = image_dataset(study.images[0], study, config)
        ds_.SOPInstanceUID = new_uid(rng)  # a copy of no real image: dedup must not see it
        ds_.PixelData = pixel_bytes(config, study.images[0].frames)
        path = f"incoming/truncated_{i:02d}.dcm"
        data = part10_bytes(ds_)
        cut = data.index(study.procedure.description.encode()) + 3  # inside a header value
        (dicom_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (dicom_dir / path).write_bytes(data[:cut])
        rows.append(
            _row(
                path,
                "image",
                "rejected",
                f"XA/XRF image truncated in the header at byte {cut} of {len(data)}",
            )
        )
    for i in range(min(config.other_dicom_files, len(studies))):
        study = studies[(i * 11) % len(studies)]
        path = f"{study.room.station_name}/{study.start:%Y%m}/{study.accession}/SC{i + 1:04d}.dcm"
        write_dataset(dicom_dir / path, _secondary_capture(study, rng, config))
        rows.append(_row(path, "other", "ignored", "Secondary Capture image (screen shot)"))
    return rows


def _secondary_capture(study: StudyPlan, rng: random.Random, config: SynthConfig) -> Elements:
    """A screen capture of the study (SC Image IOD): DICOM, but no dose object."""
    ds_ = base_dataset(study, SECONDARY_CAPTURE, new_uid(rng))
    ds_.Modality = "OT"
    ds_.ConversionType = "WSD"
    ds_.BodyPartExamined = study.procedure.body_part
    ds_.SeriesInstanceUID = new_uid(rng)
    ds_.SeriesNumber = 900
    ds_.InstanceNumber = 1
    ds_.PatientOrientation = ""
    ds_.SamplesPerPixel = 1
    ds_.PhotometricInterpretation = "MONOCHROME2"
    ds_.Rows, ds_.Columns = config.pixel_rows, config.pixel_columns
    ds_.BitsAllocated, ds_.BitsStored, ds_.HighBit, ds_.PixelRepresentation = 8, 8, 7, 0
    ds_.PixelData = pixel_bytes(config, 1)
    return ds_
