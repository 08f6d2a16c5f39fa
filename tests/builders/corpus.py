"""Where the tests find the real dose reports (GPL test data, read from ../shared, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "openrem").resolve()


def corpus_file(name: str) -> Path:
    """One real report by file name; the test is skipped where the shared corpus is absent."""
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"real dose reports not found at {CORPUS} (../shared/corpus/openrem)")
    return path
