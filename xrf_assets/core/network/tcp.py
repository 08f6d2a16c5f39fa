"""TCP_NODELAY for the associations we request.

A DIMSE request is a command PDU and a data set PDU written one after the other; with Nagle's
algorithm the second waits for the peer's delayed ACK of the first, 40 ms on Linux, for every
C-FIND, C-MOVE or C-STORE. pynetdicom does not set the option; DCMTK (Orthanc) does by default.
"""

from __future__ import annotations

import socket
from typing import Any

from pynetdicom import evt
from pynetdicom.events import Event


def _no_delay(event: Event) -> None:
    raw = getattr(event.assoc.dul.socket, "socket", None)
    if raw is not None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


NO_DELAY: list[Any] = [(evt.EVT_CONN_OPEN, _no_delay)]  # evt_handlers for AE.associate
