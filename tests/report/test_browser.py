"""The report in headless Chromium (Debian's chromium) and its PDF read back with pdftotext.

Skipped only where the binaries are absent; CI installs both (.ci/run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from builders.report_html import Reported
from PIL import Image

from xrf_assets.core.report.html import HEADINGS
from xrf_assets.core.report.pdf import find_chromium, run_chromium


def _chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium not installed (CI installs it: .ci/run)")
    return binary


def test_the_page_renders_its_charts_without_console_errors(reported: Reported) -> None:
    page = (reported.folder / "audit.html").as_uri()
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={reported.folder.parent / 'profile'}", "--dump-dom", page],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "Uncaught" not in done.stderr and "ERROR:CONSOLE" not in done.stderr
    dom = done.stdout
    assert dom.count("<svg") == reported.html.count("<svg") >= 4
    assert all(f'<section id="{key}">' in dom for key in HEADINGS)


def test_the_screenshot_is_not_blank(reported: Reported, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    page = (reported.folder / "audit.html").as_uri()
    run_chromium(_chromium(), [f"--screenshot={shot}", "--window-size=1200,1800", page])
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        white = sum(n for n, c in colours if c == (255, 255, 255))
        pixels = rgb.width * rgb.height
    assert len(colours) > 200  # text, table rules, chart colours: not a blank page
    assert white < 0.95 * pixels


def test_the_pdf_has_every_section(reported: Reported) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed (CI installs it: .ci/run)")
    _chromium()
    pdf = reported.folder / "audit.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = re.sub(r"\s+", " ", text)
    missing = [h for h in HEADINGS.values() if h not in flat]
    assert not missing
    assert "Monthly dose audit 2026-10" in flat
    assert str(reported.folder) not in flat and "file://" not in flat  # no header or footer
