"""Jobs for tests that run steps in other processes: importable there by module name (a test
module is not), as Dagster's ``reconstructable`` needs."""

from __future__ import annotations

from dagster import JobDefinition, multiprocess_executor

from pipelines.definitions import definitions


def multiprocess_ingest_job() -> JobDefinition:
    """The code location's ingest job on the multiprocess executor (one process per step)."""
    return definitions(multiprocess_executor).resolve_job_def("ingest")
