"""Fixtures of the asset tests."""

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    # in-memory: a sqlite-backed instance_for_test costs ~5 s per run on a loaded machine
    with DagsterInstance.ephemeral() as inst:
        yield inst
