"""Ingest family: every file under the input root into the five ingest tables, in one pass.

One multi-asset because one read of each file feeds all five tables; reading a 100 MB cine run's
header once instead of per table is the point.
"""

from collections.abc import Iterator
from pathlib import Path

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from schemas import contract
from xrf_assets.assets.metadata import ingest_figures, table_metadata
from xrf_assets.core.ingest.run import run_ingest
from xrf_assets.core.store import WriteInfo
from xrf_assets.resources import XrfSettings

INGEST_TABLES = (
    "dicom_files",
    "images",
    "irradiation_events",
    "accumulated_dose",
    "event_image_refs",
)


@multi_asset(
    specs=[
        AssetSpec(t, group_name="ingest", description=contract(t).description, kinds={"parquet"})
        for t in INGEST_TABLES
    ],
    name="dicom_ingest",
)
def dicom_ingest(
    context: AssetExecutionContext, settings: XrfSettings
) -> Iterator[MaterializeResult]:
    summary = run_ingest(settings.ingest_settings(), settings.store(), context.log)
    run_figures = ingest_figures(summary)
    for table in INGEST_TABLES:
        extra = run_figures if table == "dicom_files" else {}
        written = WriteInfo(table, Path(summary.paths[table]), summary.rows[table])
        yield MaterializeResult(asset_key=table, metadata=table_metadata(written, **extra))
