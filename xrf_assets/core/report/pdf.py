"""The PDF of a report: headless Chromium prints the HTML file, into a temporary renamed over the
target. Where Chromium is missing or fails, the PDF is skipped with the reason, never a crash.

One Chromium per process, driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ended by NUL, read from its fd 3, written to its fd 4; no port, so nothing listens on
the network). It starts at the first print (or at :func:`warm_up`), serves the later prints (both
months of one ``xrf-dose run``) and is closed at exit; a process that dies without exiting closes
the pipe, on which Chromium quits by itself. ``--print-to-pdf`` spent ~1.5 s of a 2.7 s
print starting and waiting. The browser gets a new profile folder, removed when it closes, and
every flag that keeps it off the network; page header and footer are off, so the PDF carries
neither the file's path nor a date. A print that does not answer in time ends the browser's whole
process group (Chromium leaves helper processes otherwise); the next print starts a new one.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xrf_assets.core.store import process_alive, write_file_atomic

CHROMIUM_ENV = "XRF_CHROMIUM"  # a Chromium binary other than the one on PATH
_NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120.0
PROFILE_PREFIX = "xrf-chromium-"  # + the id of the process that owns the browser
CLOSE_S = 5.0  # a closing browser gets this long to exit before its process group is killed
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
# A4 from the page's @page rule, backgrounds (table heading shading) printed, no header/footer
PRINT_PARAMS = {"displayHeaderFooter": False, "printBackground": True, "preferCSSPageSize": True}


class PdfError(RuntimeError):
    pass


@dataclass(frozen=True)
class PdfOutcome:
    path: Path | None
    skipped: str | None  # why there is no PDF; None when it was written


def find_chromium() -> str | None:
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return shutil.which(named)
    return next((found for n in _NAMES if (found := shutil.which(n))), None)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_chromium(binary: str, args: list[str], timeout_s: float = TIMEOUT_S) -> str:
    """One Chromium command (a screenshot, ``--print-to-pdf``) with a fresh profile; its stderr.
    The whole process group is ended on a timeout."""
    with tempfile.TemporaryDirectory(prefix="xrf-chromium-") as profile:
        proc = subprocess.Popen(
            [binary, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            raise PdfError(f"chromium did not finish within {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            last = err.strip().splitlines()[-1:] or ["no message"]
            raise PdfError(f"chromium exited with {proc.returncode}: {last[0]}")
        return err


def _remove_stale_profiles() -> None:
    """Profile folders of browsers whose process died without closing them (killed, or ended by
    ``os._exit``): named with that process's id, removed once no such process runs."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PROFILE_PREFIX}*-*"):
        owner = folder.name[len(PROFILE_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not process_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _high_fd(fd: int) -> int:
    """``fd`` moved above 9 (close-on-exec), so that the child's dup2 onto 0-4 cannot overwrite
    an fd still to be duplicated."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """A headless Chromium on the DevTools pipe; :meth:`print` is one page to PDF bytes."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.owner = os.getpid()
        _remove_stale_profiles()
        self.profile = tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{self.owner}-")
        self._buffer = bytearray()
        self._events: list[dict[str, Any]] = []
        self._last_id = 0
        to_chromium, self._send = os.pipe()
        self._receive, from_chromium = os.pipe()
        child = [
            _high_fd(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)),
            _high_fd(
                os.open(
                    Path(self.profile) / "stderr.log",
                    os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                    0o600,
                )
            ),
            _high_fd(to_chromium),
            _high_fd(from_chromium),
        ]
        devnull, log, child_in, child_out = child
        try:
            self.pid = os.posix_spawn(
                binary,
                [
                    binary,
                    *HEADLESS_FLAGS,
                    "--remote-debugging-pipe",
                    f"--user-data-dir={self.profile}",
                    "about:blank",
                ],
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, devnull, 1),
                    (os.POSIX_SPAWN_DUP2, log, 2),
                    (os.POSIX_SPAWN_DUP2, child_in, 3),
                    (os.POSIX_SPAWN_DUP2, child_out, 4),
                ],
                setsid=True,  # its own process group, to end it with every helper
            )
        except OSError:
            self._release()
            raise
        finally:
            for fd in child:
                os.close(fd)
        self.returncode: int | None = None

    def alive(self) -> bool:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode is None

    def _exited(self) -> PdfError:
        deadline = time.monotonic() + 1.0
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        lines = (Path(self.profile) / "stderr.log").read_text(errors="replace").strip()
        last = lines.splitlines()[-1:] or ["no message"]
        return PdfError(f"chromium exited with {self.returncode}: {last[0]}")

    def _message(self, deadline: float, timeout_s: float) -> dict[str, Any]:
        """The next message; a PdfError when the browser is gone or past ``deadline``."""
        while (end := self._buffer.find(b"\0")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PdfError(f"chromium did not answer within {timeout_s:g} s")
            ready, _, _ = select.select([self._receive], [], [], remaining)
            if ready:
                chunk = os.read(self._receive, 1 << 20)
                if not chunk:
                    raise self._exited()
                self._buffer += chunk
        message: dict[str, Any] = json.loads(self._buffer[:end])
        del self._buffer[: end + 1]
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        deadline: float,
        timeout_s: float = TIMEOUT_S,
    ) -> dict[str, Any]:
        """The result of one DevTools command; events read meanwhile are kept for :meth:`event`."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._send, data) :]
        except BrokenPipeError:
            raise self._exited() from None
        while True:
            answer = self._message(deadline, timeout_s)
            if answer.get("id") == self._last_id:
                if "error" in answer:
                    raise PdfError(f"chromium {method}: {answer['error'].get('message')}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self._events.append(answer)

    def _page_loaded(self, session: str, loader: str, deadline: float, timeout_s: float) -> None:
        """Wait for the load lifecycle event of this navigation (its loader), kept or new."""

        def matches(event: dict[str, Any]) -> bool:
            p = event.get("params", {})
            return (event.get("method") == "Page.lifecycleEvent"
                    and event.get("sessionId") == session
                    and p.get("name") == "load" and p.get("loaderId") == loader)  # fmt: skip

        while not any(matches(e) for e in self._events):
            event = self._message(deadline, timeout_s)
            if "method" in event:
                self._events.append(event)
        self._events.clear()

    def print(self, html: Path, timeout_s: float = TIMEOUT_S) -> bytes:
        """``html`` in a new tab, printed to PDF bytes; the tab is closed after."""
        deadline = time.monotonic() + timeout_s

        def call(method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
            return self.call(method, params, deadline=deadline, timeout_s=timeout_s, **kw)

        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Page.enable", session=session)
        call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
        nav = call("Page.navigate", {"url": html.resolve().as_uri()}, session=session)
        if nav.get("errorText"):
            raise PdfError(f"chromium could not open {html.name}: {nav['errorText']}")
        self._page_loaded(session, nav["loaderId"], deadline, timeout_s)
        data = call("Page.printToPDF", PRINT_PARAMS, session=session)["data"]
        call("Target.closeTarget", {"targetId": target})
        return base64.b64decode(data)

    @property
    def closed(self) -> bool:
        return self._send < 0

    def close(self) -> None:
        """Asked to quit, then its process group killed (helpers too), its profile removed."""
        if self.closed or self.owner != os.getpid():
            return  # closed, or a forked child's copy: the browser is its parent's
        if self.alive():
            with contextlib.suppress(PdfError):
                self.call("Browser.close", deadline=time.monotonic() + CLOSE_S)
            deadline = time.monotonic() + CLOSE_S
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.01)
        self.kill()

    def kill(self) -> None:
        """End its process group now (also a print that failed), its profile removed."""
        if self.closed or self.owner != os.getpid():
            return
        _kill_group(self.pid)
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        self._release()

    def _release(self) -> None:
        for fd in (self._send, self._receive):
            os.close(fd)
        self._send = self._receive = -1
        shutil.rmtree(self.profile, ignore_errors=True)


_lock = threading.Lock()  # one print (or start) at a time in the shared browser
_shared: Browser | None = None


def _browser(binary: str) -> Browser:
    """The process's browser, started when there is none usable (first use, died, another
    binary named, or a forked process holding its parent's)."""
    global _shared
    if _shared is not None and (
        _shared.owner != os.getpid() or _shared.binary != binary or not _shared.alive()
    ):
        _discard()
    if _shared is None:
        _shared = Browser(binary)
    return _shared


def _discard() -> None:
    global _shared
    if _shared is not None:
        _shared.kill()
        _shared = None


def close_browser() -> None:
    """Close the shared browser (at exit; also for tests and long-lived processes)."""
    global _shared
    with _lock:
        if _shared is not None:
            _shared.close()
            _shared = None


atexit.register(close_browser)


def warm_up(timeout_s: float = TIMEOUT_S) -> threading.Thread | None:
    """Start the shared browser in a thread, so that its start overlaps other work before the
    first print (which then waits for it); the thread, None without Chromium. A browser that
    fails to start is left for the print to report."""
    binary = find_chromium()
    if binary is None:
        return None

    def start() -> None:
        with _lock:
            try:
                _browser(binary).call(
                    "Browser.getVersion", deadline=time.monotonic() + timeout_s, timeout_s=timeout_s
                )
            except (PdfError, OSError):
                _discard()

    thread = threading.Thread(target=start, name="xrf-chromium-warm-up", daemon=True)
    thread.start()
    return thread


def print_pdf(html: Path, target: Path, timeout_s: float = TIMEOUT_S) -> PdfOutcome:
    """``target`` printed from ``html``; skipped (with the reason) where Chromium is missing or
    fails."""
    binary = find_chromium()
    if binary is None:
        return PdfOutcome(None, f"no Chromium found (tried {', '.join(_NAMES)}; ${CHROMIUM_ENV})")

    def write(tmp: Path) -> None:
        pdf = _browser(binary).print(html, timeout_s)
        if not pdf.startswith(b"%PDF-"):
            raise PdfError("chromium wrote no PDF")
        tmp.write_bytes(pdf)

    with _lock:
        try:
            write_file_atomic(target, write)
        except (PdfError, OSError) as exc:
            _discard()  # the next print starts a fresh browser
            return PdfOutcome(None, f"PDF not written: {exc}")
    return PdfOutcome(target, None)
