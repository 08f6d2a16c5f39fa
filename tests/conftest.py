"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrf_assets.synth import GroundTruth, SynthConfig, generate


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    """The generator's ``small`` corpus (every hard case, two months): its root and its truth.

    Generated once per test process; tests read it and never write to it.
    """
    root = tmp_path_factory.mktemp("small_corpus")
    return root, generate(root, SynthConfig.small(seed=3))


@pytest.fixture(scope="session")
def synth_truth(small_corpus: tuple[Path, GroundTruth]) -> GroundTruth:
    """The small generated corpus's truth (two months, every knob on): the audit's input tables."""
    return small_corpus[1]
