"""Generate a synthetic corpus: plan it, write the DICOM tree, write the ground truth.

Layout (docs/architecture.md, "Synthetic corpus"): ``DIR/dicom/...`` and ``DIR/truth/*.parquet``.
The same config (seed included) gives byte-identical files: UIDs come from the seeded RNG and the
file meta is fixed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from xrf_assets.synth.broken import write_extras
from xrf_assets.synth.common import write_dataset
from xrf_assets.synth.config import SynthConfig
from xrf_assets.synth.images import image_dataset, pixel_bytes
from xrf_assets.synth.scenarios import CorpusPlanner
from xrf_assets.synth.sr import report_dataset
from xrf_assets.synth.truth import GroundTruth, build_truth

log = logging.getLogger(__name__)


def generate(out_dir: Path, config: SynthConfig) -> GroundTruth:
    """Write ``out_dir/dicom`` and ``out_dir/truth`` for ``config`` and return the truth frames.

    An existing ``dicom`` or ``truth`` folder under ``out_dir`` is replaced, so a rerun never mixes
    two corpora.
    """
    out_dir = Path(out_dir)
    dicom_dir, truth_dir = out_dir / "dicom", out_dir / "truth"
    for d in (dicom_dir, truth_dir):
        if d.exists():
            shutil.rmtree(d)
    studies = CorpusPlanner(config).plan()
    image_rows: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for study in studies:
        for img in study.images:
            ds_, row = image_dataset(img, study, config)
            ds_.PixelData = pixel_bytes(config, img.frames)
            write_dataset(dicom_dir / img.path, ds_)
            image_rows.append(row)
            files.append({"path": img.path, "kind": "image", "status": "ok", "note": None})
        for report in study.reports:
            write_dataset(dicom_dir / report.path, report_dataset(report, study, config))
            files.append(
                {
                    "path": report.path,
                    "kind": "dose_report",
                    "status": "superseded" if report.superseded else "ok",
                    "note": (
                        f"re-sent report holding {len(report.events)} of the study's "
                        f"{len(study.reports[-1].events)} events"
                    )
                    if report.superseded
                    else None,
                }
            )
    files += write_extras(dicom_dir, config, studies)
    truth = build_truth(studies, image_rows, files, config)
    truth.write(truth_dir)
    log.info(
        "synthetic corpus: %d studies, %d images, %d files in %s",
        len(studies),
        len(image_rows),
        len(files),
        dicom_dir,
    )
    return truth
