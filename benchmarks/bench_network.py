"""Objects received per second by ``xrf-dose listen`` against copying the same files locally.

Two sets: small objects (generated XA images, a few kB) and ~3 MB dose reports (the largest
real report, RF-Pat-Orientation-Modifier-Missing.dcm, 316 events). Each set is ``--count``
distinct objects: copies of one file whose SOP Instance UID is rewritten in place (same length,
so nothing else moves). The listener runs as its own process (``python -m pipelines.cli listen``
on a free loopback port); pynetdicom sends the files over one association, streaming each data
set as it is (no pydicom re-encoding on the sending side), with TCP_NODELAY as DCMTK-based
senders have it (without it every object waits 40 ms for a delayed ACK). Baselines in the same
run, same folder: ``copy`` (shutil.copyfile) and ``copy+fsync`` (the listener's durability:
file and folder flushed). Run: ``.venv/bin/python benchmarks/bench_network.py [--count 200]
[--large-count 20]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.filereader import read_file_meta_info
from pynetdicom import AE, _config

from xrf_assets.core.dicom.sop_classes import XA_IMAGE
from xrf_assets.core.network.tcp import NO_DELAY
from xrf_assets.synth import SynthConfig, generate

ROOT = Path(__file__).resolve().parents[1]
CORPUS = (ROOT / ".." / "shared" / "corpus" / "openrem").resolve()
BIG = CORPUS / "RF-Pat-Orientation-Modifier-Missing.dcm"
LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _is_xa(path: Path) -> bool:
    try:
        return bool(read_file_meta_info(path).MediaStorageSOPClassUID == XA_IMAGE)
    except Exception:  # the generator also writes files that are not DICOM
        return False


def _copies(src: Path, out: Path, count: int) -> list[Path]:
    """``count`` copies of ``src``, each with its own SOP Instance UID (same length)."""
    data = src.read_bytes()
    uid = str(read_file_meta_info(src).MediaStorageSOPInstanceUID).encode()
    out.mkdir(parents=True)
    paths = []
    for i in range(count):
        tail = f"9{i:05d}".encode()
        new = uid[: len(uid) - len(tail)] + tail
        path = out / f"{i:05d}.dcm"
        path.write_bytes(data.replace(uid, new))
        paths.append(path)
    return paths


def _send(port: int, files: list[Path]) -> float:
    _config.STORE_SEND_CHUNKED_DATASET = True
    meta = read_file_meta_info(files[0])
    ae = AE(ae_title="BENCH")
    ae.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
    assoc = ae.associate(LOOPBACK, port, ae_title="XRFDOSE", evt_handlers=NO_DELAY)
    assert assoc.is_established
    start = time.perf_counter()
    for f in files:
        status = assoc.send_c_store(f)
        assert status and status.Status == 0, status
    elapsed = time.perf_counter() - start
    assoc.release()
    return elapsed


def _copy(files: list[Path], out: Path, durable: bool) -> float:
    out.mkdir(parents=True)
    start = time.perf_counter()
    for f in files:
        target = out / f.name
        shutil.copyfile(f, target)
        if durable:
            fd = os.open(target, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            fd = os.open(out, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    return time.perf_counter() - start


def _listener(input_dir: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "pipelines.cli", "listen", "--input", str(input_dir)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex((LOOPBACK, port)) == 0:
                return proc
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("listener did not start")
        time.sleep(0.1)


def _line(name: str, files: list[Path], seconds: float) -> str:
    mb = sum(f.stat().st_size for f in files) / 1e6
    return (
        f"  {name:<12} {len(files) / seconds:9.1f} objects/s  {mb / seconds:8.1f} MB/s"
        f"  ({len(files)} objects, {mb:.1f} MB, {seconds:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200, help="small objects")
    parser.add_argument("--large-count", type=int, default=20, help="~3 MB reports")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_network_") as tmp:
        work = Path(tmp)
        generate(work / "synth", SynthConfig.small(seed=1, studies_per_room=1))
        image = next(
            p
            for p in sorted((work / "synth" / "dicom").rglob("*.dcm"))
            if "XA" in p.read_bytes()[:2000].decode("latin-1")
        )
        sets = {
            f"small ({image.stat().st_size / 1e3:.0f} kB XA image)": _copies(
                image, work / "src-small", args.count
            ),
            f"large ({BIG.stat().st_size / 1e6:.1f} MB dose report)": _copies(
                BIG, work / "src-large", args.large_count
            ),
        }
        for n, (label, files) in enumerate(sets.items()):
            for f in files:
                f.read_bytes()  # warm the page cache for every pass
            port = _free_port()
            proc = _listener(work / f"received-{n}", port)
            try:
                received = _send(port, files)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            stored = [p for p in (work / f"received-{n}").rglob("*.dcm")]
            assert len(stored) == len(files), (len(stored), len(files))
            print(label)
            print(_line("listen", files, received))
            print(_line("copy", files, _copy(files, work / f"copy-{n}", durable=False)))
            print(_line("copy+fsync", files, _copy(files, work / f"fsync-{n}", durable=True)))


if __name__ == "__main__":
    main()
