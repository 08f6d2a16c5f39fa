"""The PDF printer: one Chromium per process over the DevTools pipe, reused for later prints; a
page that never loads or a browser killed mid-print is a skipped PDF with its reason, not a hang.

Skipped only where Chromium is absent; CI installs it (.ci/run).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from xrf_assets.core.report import pdf

HANGS = "<!DOCTYPE html><html><body><p>never loads</p><script>for (;;) {}</script></body></html>"


@pytest.fixture(autouse=True)
def browser() -> Iterator[None]:
    if pdf.find_chromium() is None:
        pytest.skip("chromium not installed (CI installs it: .ci/run)")
    pdf.close_browser()
    yield
    pdf.close_browser()


def _page(folder: Path, name: str, body: str) -> Path:
    page = folder / name
    page.write_text(f"<!DOCTYPE html><html><body><h1>{body}</h1></body></html>", "utf-8")
    return page


def _text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        return path.read_bytes()[:5].decode()
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def _running(pgid: int) -> list[int]:
    """Processes of the group not yet ended (zombies waiting for their reaper are ended)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.parent.name))
    return found


def _gone(pgid: int) -> bool:
    """Every process of the group ended within 30 s (a SIGKILL takes effect asynchronously, and
    a browser whose pipe closed shuts down by itself: seconds on a loaded machine)."""
    deadline = time.monotonic() + 30
    while _running(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pgid)


def test_two_prints_in_one_browser_each_of_the_page_as_it_is_now(tmp_path: Path) -> None:
    page = _page(tmp_path, "a.html", "first version")
    first = pdf.print_pdf(page, tmp_path / "a.pdf")
    assert first.path == tmp_path / "a.pdf" and first.skipped is None
    assert pdf._shared is not None
    pid, profile = pdf._shared.pid, pdf._shared.profile
    _page(tmp_path, "a.html", "second version")  # the same path rewritten: printed anew
    second = pdf.print_pdf(page, tmp_path / "b.pdf")
    assert second.skipped is None and pdf._shared.pid == pid
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        assert "first version" in _text(tmp_path / "a.pdf")
        assert "second version" in _text(tmp_path / "b.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "a.pdf", "b.pdf"]
    pdf.close_browser()
    assert _gone(pid) and not Path(profile).exists()  # closed: process group and profile


def test_a_page_that_never_loads_times_out_and_ends_the_browser(tmp_path: Path) -> None:
    hangs = tmp_path / "hangs.html"
    hangs.write_text(HANGS, "utf-8")
    pdf.print_pdf(_page(tmp_path, "ok.html", "ok"), tmp_path / "ok.pdf")  # a browser running
    assert pdf._shared is not None
    pid = pdf._shared.pid
    started = time.monotonic()
    outcome = pdf.print_pdf(hangs, tmp_path / "hangs.pdf", timeout_s=3)
    assert time.monotonic() - started < 20
    assert outcome.path is None
    assert outcome.skipped == "PDF not written: chromium did not answer within 3 s"
    assert _gone(pid) and pdf._shared is None  # the whole process group ended
    assert not (tmp_path / "hangs.pdf").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hangs.html", "ok.html", "ok.pdf"]
    again = pdf.print_pdf(_page(tmp_path, "ok.html", "after"), tmp_path / "ok.pdf")
    assert again.skipped is None and pdf._shared is not None and pdf._shared.pid != pid


def test_a_browser_killed_mid_print_is_a_skipped_pdf_not_a_hang(tmp_path: Path) -> None:
    hangs = tmp_path / "hangs.html"
    hangs.write_text(HANGS, "utf-8")
    thread = pdf.warm_up()
    assert thread is not None
    thread.join()
    assert pdf._shared is not None and pdf._shared.alive()
    pid = pdf._shared.pid
    killer = threading.Timer(1.0, os.killpg, (pid, signal.SIGKILL))
    killer.start()
    started = time.monotonic()
    outcome = pdf.print_pdf(hangs, tmp_path / "hangs.pdf", timeout_s=60)
    killer.join()
    assert time.monotonic() - started < 20
    assert outcome.path is None and outcome.skipped is not None
    assert outcome.skipped.startswith("PDF not written: chromium exited with -9")
    assert _gone(pid) and not (tmp_path / "hangs.pdf").exists()


def test_a_browser_that_died_while_idle_is_replaced(tmp_path: Path) -> None:
    page = _page(tmp_path, "a.html", "report")
    assert pdf.print_pdf(page, tmp_path / "a.pdf").skipped is None
    assert pdf._shared is not None
    pid = pdf._shared.pid
    os.killpg(pid, signal.SIGKILL)
    time.sleep(0.5)
    outcome = pdf.print_pdf(page, tmp_path / "b.pdf")
    assert outcome.skipped is None and pdf._shared.pid != pid


def test_the_browser_quits_when_its_process_dies_without_exiting() -> None:
    """No Chromium left behind by a step process that ends with os._exit or is killed: the
    closed pipe ends it; the next browser removes the profile folder it left. In a short temp
    folder of its own: Chromium's socket paths under a deep pytest tmp_path exceed 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="xrf-t-") as short:
        _dies_without_exiting(Path(short))


def _dies_without_exiting(tmp_path: Path) -> None:
    script = (
        "import os, time\n"
        "from xrf_assets.core.report import pdf\n"
        "b = pdf._browser(pdf.find_chromium())\n"
        "b.call('Browser.getVersion', deadline=time.monotonic() + 60)\n"
        "print(b.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True, env=env)  # fmt: skip
    pgid = int(done.stdout)
    assert _gone(pgid)
    (left,) = tmp_path.glob(f"{pdf.PROFILE_PREFIX}*")  # its profile, named with its process id
    with mock.patch.object(tempfile, "tempdir", str(tmp_path)):
        browser = pdf.Browser(str(pdf.find_chromium()))
        browser.close()
    assert not left.exists() and not list(tmp_path.glob(f"{pdf.PROFILE_PREFIX}*"))
