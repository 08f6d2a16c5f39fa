"""The PDF of a report: headless Chromium prints the HTML file, into a temporary renamed over the
target. Where Chromium is missing or fails, the PDF is skipped with the reason, never a crash.

Chromium gets a new profile folder per print and every flag that keeps it off the network; the
page header and footer are off, so the PDF carries neither the file's path nor a date.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xrf_assets.core.store import write_file_atomic

CHROMIUM_ENV = "XRF_CHROMIUM"  # a Chromium binary other than the one on PATH
_NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120.0
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


def run_chromium(binary: str, args: list[str], timeout_s: float = TIMEOUT_S) -> str:
    """Chromium headless with a fresh profile; its stderr. The whole process group is ended on
    a timeout (Chromium leaves helper processes otherwise)."""
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
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PdfError(f"chromium did not finish within {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            last = err.strip().splitlines()[-1:] or ["no message"]
            raise PdfError(f"chromium exited with {proc.returncode}: {last[0]}")
        return err


def print_pdf(html: Path, target: Path) -> PdfOutcome:
    """``target`` printed from ``html``; skipped (with the reason) where Chromium is missing or
    fails."""
    binary = find_chromium()
    if binary is None:
        return PdfOutcome(None, f"no Chromium found (tried {', '.join(_NAMES)}; ${CHROMIUM_ENV})")

    def write(tmp: Path) -> None:
        page = html.resolve().as_uri()
        run_chromium(binary, [f"--print-to-pdf={tmp}", "--no-pdf-header-footer", page])
        with open(tmp, "rb") as fh:
            if fh.read(5) != b"%PDF-":
                raise PdfError("chromium wrote no PDF")

    try:
        write_file_atomic(target, write)
    except (PdfError, OSError) as exc:
        return PdfOutcome(None, f"PDF not written: {exc}")
    return PdfOutcome(target, None)
