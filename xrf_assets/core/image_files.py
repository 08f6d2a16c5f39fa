"""Image files -> ``images`` rows, one batch per call: the unit of work of a worker process.

Kept apart from :mod:`image_headers` (which works on datasets) because it opens files, through the
one reader :func:`xrf_assets.core.dicom_read.read_header`. Batches keep the pickling between
processes coarse: one call per few hundred files, not one per file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrf_assets.core.dicom_read import read_header, sop_class_uid
from xrf_assets.core.errors import ExtractionError
from xrf_assets.core.image_headers import IMAGE_SOP_CLASSES, extract_image
from xrf_assets.core.rooms import RoomDirectory


@dataclass
class ImageBatch:
    rows: list[dict[str, Any]] = field(default_factory=list)  # `images` rows (identified)
    refused: dict[str, str] = field(default_factory=dict)  # path -> reason
    problems: dict[str, list[str]] = field(default_factory=dict)  # path -> malformed values
    not_images: list[str] = field(default_factory=list)  # DICOM files of other SOP classes


def extract_image_files(
    paths: Iterable[str], input_root: str | os.PathLike[str], rooms: RoomDirectory
) -> ImageBatch:
    """Read each path (relative to ``input_root``, forward slashes) and extract the images.

    A file that cannot be read or used lands in ``refused`` with its reason; nothing raises.
    """
    root = Path(input_root)
    batch = ImageBatch()
    for path in paths:
        problems: list[str] = []
        try:
            ds = read_header(root / path)
            if sop_class_uid(ds) not in IMAGE_SOP_CLASSES:
                batch.not_images.append(path)
                continue
            batch.rows.append(extract_image(ds, path, rooms, problems))
        except ExtractionError as exc:
            batch.refused[path] = exc.reason
        if problems:
            batch.problems[path] = problems
    return batch
