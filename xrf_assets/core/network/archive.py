"""File one received object into the input tree: the archive of record.

Whatever arrives is kept, byte for byte as sent (the data set is not decoded and re-encoded),
readable by the pipeline or not: ingest judges the file later. The same SOP instance sent again
with the same data set is acknowledged without a second copy; sent again with other content
(a corrected report that kept its UID) it is kept beside the first as ``<SOP UID>.v-<digest>.dcm``,
so that no version is lost and ingest sees both.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom.filereader import read_dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from xrf_assets.core.network.durable import write_new_file
from xrf_assets.core.network.layout import VARIANT, object_path, stored_copies

_STUDY_UID = 0x0020000D


@dataclass(frozen=True)
class Filed:
    """What became of one object: ``stored``, ``variant`` (same UID, new content) or
    ``duplicate`` (already stored, nothing written)."""

    outcome: str
    path: Path


def study_uid(dataset: bytes, transfer_syntax: str) -> str | None:
    """Study Instance UID (0020,000D) from the encoded data set, reading no further than it."""
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        dataset = zlib.decompressobj(-zlib.MAX_WBITS).decompress(dataset)
    try:
        ds = read_dataset(
            io.BytesIO(dataset),
            is_implicit_VR=transfer_syntax == ImplicitVRLittleEndian,
            is_little_endian=transfer_syntax != ExplicitVRBigEndian,
            stop_when=lambda tag, vr, length: tag > _STUDY_UID,
        )
        value = ds.get(_STUDY_UID)
        return str(value.value).strip() if value is not None and value.value else None
    except Exception:  # a data set we cannot parse is still kept, filed without its study
        return None


def _dataset_part(file_bytes: bytes) -> bytes | None:
    """The data set after the file meta group of a Part 10 file written by us (group length)."""
    if (
        len(file_bytes) < 144
        or file_bytes[128:132] != b"DICM"
        or file_bytes[132:136] != b"\2\0\0\0"
    ):
        return None
    (group_length,) = struct.unpack("<I", file_bytes[140:144])
    return file_bytes[144 + group_length :]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_object(
    root: Path,
    calling_ae: str,
    sop_uid: str,
    transfer_syntax: str,
    meta: bytes,
    dataset: bytes,
) -> Filed:
    """Store ``meta`` (preamble, prefix, file meta) + ``dataset`` unless already stored.

    Raises OSError when it cannot be stored (disk full...): then nothing was written.
    """
    study = study_uid(dataset, transfer_syntax)
    digest = _digest(dataset)
    for copy in stored_copies(root, study, sop_uid):
        if _digest(_dataset_part(copy.read_bytes()) or b"") == digest:
            return Filed("duplicate", copy)
    path = object_path(root, calling_ae, study, sop_uid)
    outcome = "stored"
    if path.exists():
        path = path.with_name(f"{path.stem}.{VARIANT}{digest[:16]}.dcm")
        outcome = "variant"
    try:
        write_new_file(path, meta + dataset)
    except FileExistsError:  # the same object arrived on a parallel association meanwhile
        return file_object(root, calling_ae, sop_uid, transfer_syntax, meta, dataset)
    return Filed(outcome, path)
