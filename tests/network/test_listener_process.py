"""``xrf-dose listen`` as a process: SIGTERM in the middle of a transfer lets that object be
stored and acknowledged, then the process ends by itself, refusing new associations."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from builders.corpus import corpus_file
from builders.network import LOOPBACK, free_port, listener_process, port_open
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE, _config, evt
from pynetdicom.events import Event
from pynetdicom.pdu import P_DATA_TF

from xrf_assets.core.network.archive import _dataset_part

RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
BIG = "RF-Pat-Orientation-Modifier-Missing.dcm"  # 3.3 MB, Implicit VR Little Endian


def test_sigterm_during_a_transfer_finishes_it_then_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    src = corpus_file(BIG)
    root, port = tmp_path / "in", free_port()
    with listener_process(root, port) as lp:
        fragments = []

        def terminate_midway(event: Event) -> None:
            if isinstance(event.pdu, P_DATA_TF):
                fragments.append(1)
                if len(fragments) == 30:
                    os.kill(lp.proc.pid, signal.SIGTERM)

        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(RDSR, ImplicitVRLittleEndian)
        assoc = ae.associate(
            LOOPBACK,
            port,
            ae_title="XRFDOSE",
            evt_handlers=[(evt.EVT_PDU_SENT, terminate_midway)],
        )
        assert assoc.is_established
        status = assoc.send_c_store(src)
        assoc.release()
        assert len(fragments) > 30  # the signal came while fragments were still being sent
        assert status and status.Status == 0x0000
        assert lp.proc.wait(30) == 0
        assert not port_open(port)  # gone: new associations are refused
    [stored] = [p for p in root.rglob("*") if p.is_file()]
    assert _dataset_part(stored.read_bytes()) == _dataset_part(src.read_bytes())
    log = lp.text()
    assert "SIGTERM received: finishing associations in flight" in log
    assert log.index("SIGTERM received") < log.index("stored X-Ray Radiation Dose SR")
    assert "received: {'stored': 1}" in log
