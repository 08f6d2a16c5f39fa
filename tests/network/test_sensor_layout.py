"""The new-files sensor (pipelines/sensors.py) sees what the listener files, in its layout; a
duplicate, stored nowhere, requests no run."""

from __future__ import annotations

from pathlib import Path

from builders.corpus import corpus_file
from builders.network import LOOPBACK
from dagster import SensorResult, SkipReason, build_sensor_context, instance_for_test
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from pipelines.sensors import new_dicom_files
from xrf_assets.core.network.listener import Listener, ListenerSettings
from xrf_assets.resources import XrfSettings

RDSR = "1.2.840.10008.5.1.4.1.1.88.67"


def _send(port: int, path: Path) -> int:
    ae = AE(ae_title="CATHLAB1")
    ae.add_requested_context(RDSR, ExplicitVRLittleEndian)
    assoc = ae.associate(LOOPBACK, port, ae_title="XRFDOSE")
    status = int(assoc.send_c_store(path).Status)
    assoc.release()
    return status


def test_the_sensor_requests_an_ingest_for_each_new_received_object(tmp_path: Path) -> None:
    root = tmp_path / "in"
    listener = Listener(ListenerSettings(root, port=0))
    listener.start()
    settings = XrfSettings(input_dir=str(root), output_dir=str(tmp_path / "out"))
    with instance_for_test() as instance:

        def tick(cursor: str | None) -> SensorResult | SkipReason:
            context = build_sensor_context(
                instance=instance, cursor=cursor, resources={"settings": settings}
            )
            return new_dicom_files(context)

        try:
            empty = tick(None)
            assert isinstance(empty, SensorResult)  # an empty tree is a first fingerprint
            assert _send(listener.port, corpus_file("RF-RDSR-GE.dcm")) == 0
            first = tick(empty.cursor)
            assert isinstance(first, SensorResult) and first.run_requests
            assert first.run_requests[0].tags["xrf/files"] == "1"
            assert _send(listener.port, corpus_file("RF-RDSR-GE.dcm")) == 0  # duplicate
            assert isinstance(tick(first.cursor), SkipReason)
            assert _send(listener.port, corpus_file("RF-RDSR-Siemens-Zee.dcm")) == 0
            second = tick(first.cursor)
            assert isinstance(second, SensorResult)
            assert second.run_requests[0].tags["xrf/files"] == "2"
        finally:
            listener.stop()
