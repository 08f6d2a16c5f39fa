"""The Storage SCP in-process, with pynetdicom as the sending modality: what is stored where,
refused AE titles, duplicates, an association aborted mid-transfer, a full disk, patient-free
logs, a received file the pipeline cannot read (kept)."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pydicom
import pytest
from builders.corpus import corpus_file
from builders.network import LOOPBACK
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, _config, evt
from pynetdicom.events import Event
from pynetdicom.pdu import P_DATA_TF

from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.rooms import RoomDirectory
from xrf_assets.core.ingest.run import IngestSettings, run_ingest
from xrf_assets.core.network import durable
from xrf_assets.core.network.archive import _dataset_part, study_uid
from xrf_assets.core.network.layout import object_path
from xrf_assets.core.network.listener import Listener, ListenerSettings
from xrf_assets.core.store import TableStore

RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
BIG = "RF-Pat-Orientation-Modifier-Missing.dcm"  # 3.3 MB, 316 events


@pytest.fixture(autouse=True)
def send_files_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sending side streams a file's data set without decoding and re-encoding it (as a
    modality does; pydicom re-encoding a 316-event report takes half a minute)."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    settings = ListenerSettings(tmp_path / "in", port=0, allow=("MODALITY", "PACS"), grace_s=5)
    running = Listener(settings)
    running.start()
    yield running
    running.stop()


def _associate(listener: Listener, calling: str = "MODALITY", **handlers: object):  # type: ignore[no-untyped-def]
    ae = AE(ae_title=calling)
    for sop_class in (RDSR, ENHANCED_SR):
        for syntax in SYNTAXES:  # one context each: a file is sent in its own syntax, as is
            ae.add_requested_context(sop_class, syntax)
    ae.add_requested_context("1.2.840.10008.1.1")
    bound = [(getattr(evt, name), h) for name, h in handlers.items()]
    return ae.associate(LOOPBACK, listener.port, ae_title="XRFDOSE", evt_handlers=bound)


def _send(listener: Listener, *objects: Path | Dataset, calling: str = "MODALITY") -> list[int]:
    assoc = _associate(listener, calling)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(o).Status) for o in objects]
    assoc.release()
    return statuses


def _files(root: Path) -> list[Path]:
    """Every file under ``root``, hidden ones included."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def _stored_as(root: Path, path: Path, calling: str = "MODALITY") -> Path:
    """Where the listener files ``path`` (headers read only up to the Study Instance UID)."""
    meta = pydicom.filereader.read_file_meta_info(path)
    dataset = _dataset_part(path.read_bytes())
    assert dataset is not None
    study = study_uid(dataset, meta.TransferSyntaxUID)
    return object_path(root, calling, study, meta.MediaStorageSOPInstanceUID)


def test_echo_and_reports_stored_as_sent_under_ae_study_sop(listener: Listener) -> None:
    names = ["RF-RDSR-Siemens-Zee.dcm", "RF-RDSR-GE.dcm", "RF-ESR-Siemens-Varic.dcm"]
    sources = [corpus_file(n) for n in names]
    assoc = _associate(listener)
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert _send(listener, *sources) == [0, 0, 0]
    root = listener.settings.input_dir
    for src in sources:
        dst = _stored_as(root, src)
        assert dst.relative_to(root).parts[0] == "MODALITY"
        assert _dataset_part(dst.read_bytes()) == _dataset_part(src.read_bytes())  # as sent
        assert not os.access(dst, os.W_OK) or os.geteuid() == 0  # stored read-only (0444)
        assert dst.stat().st_mode & 0o777 == 0o444
        ds = pydicom.dcmread(dst)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert len(_files(root)) == 3  # no temporary file left beside them
    assert listener.counts.by_outcome == {"stored": 3}


def test_calling_ae_outside_the_allow_list_is_refused(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="xrf_assets.network"):
        assoc = _associate(listener, calling="INTRUDER")
    assert assoc.is_rejected and not assoc.is_established
    assert "association from INTRUDER" in caplog.text and "allow-list" in caplog.text
    assert _send(listener, corpus_file("RF-RDSR-GE.dcm"), calling="PACS") == [0]  # listed: ok
    assert [
        p.relative_to(listener.settings.input_dir).parts[0]
        for p in _files(listener.settings.input_dir)
    ] == ["PACS"]


def test_a_duplicate_is_acknowledged_and_not_written_twice(listener: Listener) -> None:
    src = corpus_file("RF-RDSR-Philips_Allura.dcm")
    root = listener.settings.input_dir
    assert _send(listener, src) == [0]
    first = _stored_as(root, src)
    before = first.stat().st_mtime_ns
    assert _send(listener, src, src) == [0, 0]
    assert _send(listener, src, calling="PACS") == [0]  # the same object from another sender
    assert _files(root) == [first]
    assert first.stat().st_mtime_ns == before
    assert listener.counts.by_outcome == {"stored": 1, "duplicate": 3}


def test_same_uid_with_other_content_is_kept_beside_the_first(listener: Listener) -> None:
    src = corpus_file("RF-RDSR-Philips_Allura.dcm")
    changed = pydicom.dcmread(src)
    changed.StationName = "CORRECTED"
    assert _send(listener, src, changed, changed) == [0, 0, 0]
    first = _stored_as(listener.settings.input_dir, src)
    [variant] = [f for f in _files(listener.settings.input_dir) if f != first]
    assert variant.parent == first.parent
    assert variant.name.startswith(first.name.removesuffix("dcm") + "v-")
    assert pydicom.dcmread(variant).StationName == "CORRECTED"
    assert listener.counts.by_outcome == {"stored": 1, "variant": 1, "duplicate": 1}


def test_an_association_aborted_mid_transfer_leaves_no_file(listener: Listener) -> None:
    sent = []

    def cut(event: Event) -> None:
        """After a few fragments of the 3 MB report, an A-ABORT and the connection closed."""
        if isinstance(event.pdu, P_DATA_TF):
            sent.append(1)
            if len(sent) == 20:
                raw = event.assoc.dul.socket.socket  # type: ignore[union-attr]
                raw.sendall(b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00")  # A-ABORT PDU
                raw.shutdown(2)

    assoc = _associate(listener, EVT_PDU_SENT=cut)
    assert assoc.is_established
    status = assoc.send_c_store(corpus_file(BIG))
    assert not status  # no response: the object was not acknowledged
    assoc.abort()
    root = listener.settings.input_dir
    assert len(sent) >= 20 and _files(root) == []
    assert _send(listener, corpus_file(BIG)) == [0]  # the listener serves on
    assert len(_files(root)) == 1


def test_a_full_disk_answers_out_of_resources_and_writes_nothing(
    listener: Listener, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_write, real_unnamed = durable.write_all, durable._write_unnamed

    def half_then_enospc(fd: int, data: bytes) -> None:
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    src = corpus_file(BIG)
    root = listener.settings.input_dir
    monkeypatch.setattr(durable, "write_all", half_then_enospc)
    with caplog.at_level(logging.INFO, logger="xrf_assets.network"):
        assert _send(listener, src) == [0xA700]
        monkeypatch.setattr(durable, "_write_unnamed", lambda path, data: False)  # no O_TMPFILE
        assert _send(listener, src) == [0xA700]
    assert _files(root) == []  # neither the unnamed file nor the temporary name is left
    assert "No space left on device" in caplog.text
    monkeypatch.setattr(durable, "write_all", real_write)
    monkeypatch.setattr(durable, "_write_unnamed", real_unnamed)
    assert _send(listener, src) == [0]  # space again: the resend is stored whole
    assert _dataset_part(_stored_as(root, src).read_bytes()) == _dataset_part(src.read_bytes())
    assert listener.counts.by_outcome == {"failed": 2, "stored": 1}


def test_logs_name_ae_titles_and_uids_never_the_patient(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    src = corpus_file("RF-RDSR-Siemens-Zee.dcm")
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    with caplog.at_level(logging.DEBUG):
        assert _send(listener, src, src) == [0, 0]
    text = caplog.text
    assert "MODALITY" in text and ds.SOPInstanceUID in text and "X-Ray Radiation Dose SR" in text
    for keyword in ("PatientName", "PatientID", "PatientBirthDate"):
        value = str(ds.get(keyword, "") or "")
        assert value and value not in text, keyword


def test_an_object_the_pipeline_cannot_read_is_kept(listener: Listener, tmp_path: Path) -> None:
    """The folder is the archive of record: ingest rejects the file later, with a reason."""
    ds = Dataset()
    ds.SOPClassUID = RDSR
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.999.2"
    ds.Modality = "SR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert _send(listener, ds) == [0]
    root = listener.settings.input_dir
    [kept] = _files(root)
    settings = IngestSettings(root, RoomDirectory(), PrivacySettings("identified"), workers=1)
    run_ingest(settings, TableStore(tmp_path / "out"), logging.getLogger("test"))
    row = TableStore(tmp_path / "out").read("dicom_files").row(0, named=True)
    assert row["path"] == kept.relative_to(root).as_posix()
    assert row["status"] == "rejected" and row["reason"]
    assert kept.is_file()
    assert pl.DataFrame([row]).height == 1
