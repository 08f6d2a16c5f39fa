"""DICOM network test parts: free loopback ports, the listener as a process, Orthanc as a PACS.

Everything binds or connects to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((LOOPBACK, port)) == 0


def echo(port: int, called: str = "XRFDOSE", calling: str = "TESTSCU") -> bool:
    """True when a C-ECHO to ``port`` succeeds."""
    ae = AE(ae_title=calling)
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate(LOOPBACK, port, ae_title=called)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


@dataclass
class ListenerProcess:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM by process id; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")


@contextmanager
def listener_process(
    input_dir: Path, port: int, ae_title: str = "XRFDOSE", allow: str | None = None
) -> Iterator[ListenerProcess]:
    """``xrf-dose listen`` as a child process, ready once it answers a C-ECHO."""
    log = input_dir.parent / f"listener-{port}.log"
    cmd = [sys.executable, "-m", "pipelines.cli", "listen", "--input", str(input_dir)]
    cmd += ["--port", str(port), "--ae-title", ae_title, "--grace", "20"]
    if allow:
        cmd += ["--allow", allow]
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
    lp = ListenerProcess(proc, port, log)
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"listener did not start:\n{lp.text()}")
            time.sleep(0.1)
        assert echo(port, ae_title, calling=(allow or "TESTSCU").split(",")[0]), lp.text()
        yield lp
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Orthanc:
    """A running Orthanc, driven over its REST API."""

    proc: subprocess.Popen[bytes]
    http_port: int
    dicom_port: int
    ae_title: str

    def rest(self, method: str, path: str, body: bytes | dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(
            f"http://{LOOPBACK}:{self.http_port}{path}", data=data, method=method
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"null")

    def upload(self, data: bytes) -> dict[str, Any] | None:
        """POST /instances; None when Orthanc refuses the file (not DICOM, cut short)."""
        try:
            return dict(self.rest("POST", "/instances", data))
        except urllib.error.HTTPError:
            return None


def orthanc_config(
    folder: Path, http_port: int, dicom_port: int, modalities: dict[str, list[Any]]
) -> Path:
    config = {
        "Name": "xrf-dose-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomModalities": modalities,
        "DicomCheckModalityHost": True,
        "DicomAlwaysAllowStore": False,
        "Plugins": [],
        "SaveJobs": False,
        "StorageCompression": False,
        "HttpsCACertificates": "",
        "DicomScuTimeout": 30,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


@contextmanager
def running_orthanc(folder: Path, modalities: dict[str, list[Any]]) -> Iterator[Orthanc]:
    """Orthanc with its own config in ``folder``; skips the test where it cannot start."""
    exe = shutil.which("Orthanc")
    if exe is None:
        pytest.skip("Orthanc is not installed (Debian package 'orthanc'; .ci/run installs it)")
    http_port, dicom_port = free_port(), free_port()
    config = orthanc_config(folder, http_port, dicom_port, modalities)
    log = (folder / "orthanc.log").open("wb")
    proc = subprocess.Popen([exe, str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    orthanc = Orthanc(proc, http_port, dicom_port, "ORTHANC")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                orthanc.rest("GET", "/system")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (folder / "orthanc.log").read_text(errors="replace")[-2000:]
                    pytest.skip(f"Orthanc could not start (exit {proc.poll()}):\n{tail}")
                time.sleep(0.2)
        yield orthanc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
