"""A Storage SCP (Dose Information Consumer, IHE REM) that files what it receives into the input
tree, answering each C-STORE only once the object is on disk.

It logs AE titles, SOP classes and UIDs, never a patient attribute (pynetdicom's own data set
dumps, at debug level, are kept off by the caller's logging set-up). Stopping lets every
association in flight finish (up to ``grace_s``) while new ones are refused.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from xrf_assets.core.network.archive import file_object
from xrf_assets.core.network.contexts import (
    STORAGE_CLASSES,
    TRANSFER_SYNTAXES,
    VERIFICATION,
    sop_class_name,
)

log = logging.getLogger("xrf_assets.network.listener")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # PS3.4 Table GG.4-1: Refused, out of resources (disk full, I/O)
CANNOT_UNDERSTAND = 0xC000
IDLE_S = 1.0  # no PDU for this long: an association is between messages


@dataclass(frozen=True)
class ListenerSettings:
    input_dir: Path
    port: int = 11112
    ae_title: str = "XRFDOSE"
    host: str = "127.0.0.1"
    allow: tuple[str, ...] = ()  # calling AE titles; empty: any
    grace_s: float = 60.0  # how long a stop waits for associations in flight


@dataclass
class Counts:
    by_outcome: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            self.by_outcome[outcome] += 1


class Listener:
    """Start with :meth:`start`, stop with :meth:`stop`; :func:`serve` does both around signals."""

    def __init__(self, settings: ListenerSettings) -> None:
        self.settings = settings
        self.counts = Counts()
        self._server: ThreadedAssociationServer | None = None
        self._busy: list[Association] = []
        self._last_pdu: dict[int, float] = {}  # id(association) -> time of its last PDU
        self._peers: dict[int, str] = {}  # id(association) -> calling AE title
        self._stopping = False
        self._filing: set[int] = set()  # associations whose object is being written

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the system chose for port 0)."""
        assert self._server is not None
        return int(self._server.server_address[1])

    def _ae(self) -> AE:
        ae = AE(ae_title=self.settings.ae_title)
        for sop_class in STORAGE_CLASSES:
            ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION, TRANSFER_SYNTAXES[:2])
        ae.require_calling_aet = list(self.settings.allow)
        ae.maximum_associations = 16
        return ae

    def start(self) -> None:
        root = self.settings.input_dir
        root.mkdir(parents=True, exist_ok=True)
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_PDU_RECV, self._on_pdu),
            (evt.EVT_PDU_SENT, self._on_pdu),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]
        address = (self.settings.host, self.settings.port)
        self._server = self._ae().start_server(address, block=False, evt_handlers=handlers)
        allowed = ", ".join(self.settings.allow) or "any calling AE"
        log.info(
            "listening on %s:%d as %s, storing under %s; accepting %s",
            self.settings.host,
            self.port,
            self.settings.ae_title,
            root,
            allowed,
        )

    def stop(self) -> None:
        """Refuse new associations and let those in flight finish, up to the grace.

        An association that is between messages (no PDU for ``IDLE_S`` and no object being
        filed) is aborted at once: a PACS may hold one open for minutes for reuse, and nothing
        unacknowledged is lost by ending it then.
        """
        server = self._server
        if server is None:
            return
        self._server = None
        server.shutdown()  # the listening socket closes: new connections are refused
        busy = self._busy = server.active_associations
        self._stopping = True
        if busy:
            log.info("stopping: waiting for %d association(s) in flight", len(busy))
        deadline = time.monotonic() + self.settings.grace_s
        aborted: dict[int, float] = {}  # id(association) -> when it was aborted
        while alive := [a for a in busy if a.is_alive()]:
            now = time.monotonic()
            if all(now - aborted.get(id(a), now) > 2.0 for a in alive):
                break  # aborted, its thread still winding down: nothing of it is stored anyway
            for assoc in alive:
                if id(assoc) in aborted:
                    continue
                idle = now - self._last_pdu.get(id(assoc), 0.0) > IDLE_S
                if (idle and id(assoc) not in self._filing) or now > deadline:
                    log.info(
                        "association from %s %s: aborted",
                        self._peers.get(id(assoc), "?"),
                        "idle" if idle else "still busy after the grace",
                    )
                    aborted[id(assoc)] = now
                    assoc.abort()
            time.sleep(0.05)
        log.info("stopped; objects this session: %s", dict(self.counts.by_outcome) or "none")

    def abort(self) -> None:
        """Abort what :meth:`stop` was waiting for (objects not yet acknowledged are not stored)."""
        for assoc in self._busy:
            if assoc.is_alive():
                assoc.abort()

    def _on_pdu(self, event: Event) -> None:
        self._last_pdu[id(event.assoc)] = time.monotonic()

    def _on_close(self, event: Event) -> None:
        self._last_pdu.pop(id(event.assoc), None)
        self._peers.pop(id(event.assoc), None)

    def _on_echo(self, event: Event) -> int:
        self._peers[id(event.assoc)] = event.assoc.requestor.ae_title
        log.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return SUCCESS

    def _on_rejected(self, event: Event) -> None:
        log.warning(
            "association from %s (%s) refused: calling AE title not in the allow-list",
            event.assoc.requestor.ae_title,
            event.assoc.requestor.address,
        )

    def _on_aborted(self, event: Event) -> None:
        if self._stopping:
            return  # stop() aborted it and said why
        log.warning(
            "association from %s aborted: an object not yet acknowledged was not stored",
            event.assoc.requestor.ae_title,
        )

    def _on_store(self, event: Event) -> int:
        request = cast(C_STORE, event.request)
        calling = event.assoc.requestor.ae_title
        sop_class = str(request.AffectedSOPClassUID)
        sop_uid = str(request.AffectedSOPInstanceUID)
        what = f"{sop_class_name(sop_class)} {sop_uid} from {calling}"
        self._peers[id(event.assoc)] = calling
        self._filing.add(id(event.assoc))
        try:
            return self._file(event, calling, sop_uid, what)
        finally:
            self._filing.discard(id(event.assoc))

    def _file(self, event: Event, calling: str, sop_uid: str, what: str) -> int:
        try:
            dataset = event.encoded_dataset(include_meta=False)
            meta = b"\0" * 128 + b"DICM" + encode_file_meta(event.file_meta)
            filed = file_object(
                self.settings.input_dir,
                calling,
                sop_uid,
                str(event.context.transfer_syntax),
                meta,
                dataset,
            )
        except OSError as exc:
            self.counts.add("failed")
            log.error("not stored: %s: %s (answered out of resources)", what, exc.strerror or exc)
            return OUT_OF_RESOURCES
        except Exception as exc:
            self.counts.add("failed")
            log.error("not stored: %s: %s", what, type(exc).__name__)
            return CANNOT_UNDERSTAND
        self.counts.add(filed.outcome)
        rel = filed.path.relative_to(self.settings.input_dir).as_posix()
        if filed.outcome == "duplicate":
            log.info("duplicate %s: already stored as %s, not written again", what, rel)
        elif filed.outcome == "variant":
            log.warning("%s: same UID, other content than the stored copy: kept as %s", what, rel)
        else:
            log.info("stored %s as %s", what, rel)
        return SUCCESS


def serve(settings: ListenerSettings) -> Counts:
    """Run in the foreground until SIGTERM or SIGINT; a second signal aborts what is in flight."""
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s received: finishing associations in flight", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, _signal) for s in (signal.SIGTERM, signal.SIGINT)}
    listener = Listener(settings)
    try:
        listener.start()
        while not stop.wait(1.0):
            pass
        try:
            listener.stop()
        except KeyboardInterrupt:
            log.warning("second signal: aborting the associations in flight")
            listener.abort()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return listener.counts
