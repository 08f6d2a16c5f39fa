"""Ingest family: every file under the input root into the five ingest tables.

One graph-backed multi-asset because one read of each file feeds all five tables; reading a
100 MB cine run's header once instead of per table is the point. Inside it, one step per input
shard (``ingest_shards``, core/ingest/shards.py): ``plan_ingest_shards`` fans out over the shards
at run time, each ``ingest_shard`` step reads its part of the tree into its own staging (any
executor may place it on another machine), and ``publish_ingest`` merges them into the tables.
With one shard (the default) that is the single-step ingest, in three short steps.
"""

from collections.abc import Iterator

from dagster import (
    AssetOut,
    DynamicOut,
    DynamicOutput,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    graph_multi_asset,
    op,
)

from xrf_assets.assets.metadata import ingest_figures, table_metadata
from xrf_assets.assets.tables import contract_spec
from xrf_assets.core.ingest.run import (
    TABLES,
    ShardSummary,
    ingest_shard,
    prepare_shards,
    publish_shards,
)
from xrf_assets.resources import XrfSettings


@op(out=DynamicOut(int))
def plan_ingest_shards(
    context: OpExecutionContext, settings: XrfSettings
) -> Iterator[DynamicOutput[int]]:
    """The staging brought into the configured shard layout; one output per shard."""
    for shard in prepare_shards(settings.ingest_settings(), settings.store(), context.log):
        yield DynamicOutput(shard, mapping_key=f"shard_{shard}")


@op(name="ingest_shard")
def ingest_shard_step(
    context: OpExecutionContext, settings: XrfSettings, shard: int
) -> ShardSummary:
    return ingest_shard(settings.ingest_settings(), settings.store(), shard, context.log)


@op(out={t: Out(Nothing) for t in TABLES})
def publish_ingest(
    context: OpExecutionContext, settings: XrfSettings, shards: list[ShardSummary]
) -> Iterator[Output[None]]:
    summary = publish_shards(settings.ingest_settings(), settings.store(), shards, context.log)
    run_figures = ingest_figures(summary) | {"shards": len(shards)}
    for table, written in summary.written.items():
        extra = run_figures if table == "dicom_files" else {}
        yield Output(None, table, metadata=table_metadata(written, **extra))


def _asset_out(table: str) -> AssetOut:
    spec = contract_spec(table)
    spec.pop("partitions_def")  # the ingest tables are unpartitioned
    spec.pop("group_name")  # one group for the graph: graph_multi_asset ignores AssetOut's
    return AssetOut(dagster_type=Nothing, **spec)


(_GROUP,) = {contract_spec(t)["group_name"] for t in TABLES}


@graph_multi_asset(outs={t: _asset_out(t) for t in TABLES}, name="dicom_ingest", group_name=_GROUP)
def dicom_ingest():  # type: ignore[no-untyped-def]
    shards = plan_ingest_shards().map(ingest_shard_step).collect()
    return publish_ingest(shards)
