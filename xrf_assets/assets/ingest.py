"""Ingest family: every file under the input root into the five ingest tables, in one pass.

One multi-asset because one read of each file feeds all five tables; reading a 100 MB cine run's
header once instead of per table is the point.
"""

from collections.abc import Iterator

from dagster import AssetExecutionContext, MaterializeResult, multi_asset

from xrf_assets.assets.metadata import ingest_figures, table_metadata
from xrf_assets.assets.tables import table_spec
from xrf_assets.core.ingest.run import TABLES, run_ingest
from xrf_assets.resources import XrfSettings


@multi_asset(specs=[table_spec(t) for t in TABLES], name="dicom_ingest")
def dicom_ingest(
    context: AssetExecutionContext, settings: XrfSettings
) -> Iterator[MaterializeResult]:
    summary = run_ingest(settings.ingest_settings(), settings.store(), context.log)
    run_figures = ingest_figures(summary)
    for table, written in summary.written.items():
        extra = run_figures if table == "dicom_files" else {}
        yield MaterializeResult(asset_key=table, metadata=table_metadata(written, **extra))
