"""Link family: which irradiation event produced which image, and the images left unlinked."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, MaterializeResult, multi_asset

from xrf_assets.assets.metadata import link_figures, table_metadata
from xrf_assets.assets.tables import table_spec
from xrf_assets.core.linking.links import link_images, link_inputs
from xrf_assets.resources import XrfSettings

_INPUTS = ["images", "irradiation_events", "event_image_refs"]


@multi_asset(
    specs=[table_spec(t, deps=_INPUTS) for t in ("event_image_links", "unlinked_images")],
    name="image_event_linking",
)
def image_event_linking(
    context: AssetExecutionContext, settings: XrfSettings
) -> Iterator[MaterializeResult]:
    store = settings.store()
    result = link_images(*link_inputs(store), settings.link_settings())
    figures = link_figures(result)
    counts = [f"{k.replace('_', ' ')} {v}" for k, v in figures.items() if isinstance(v, int)]
    context.log.info("linking: %s", ", ".join(counts))
    yield MaterializeResult(
        asset_key="event_image_links",
        metadata=table_metadata(store.write("event_image_links", result.links), **figures),
    )
    yield MaterializeResult(
        asset_key="unlinked_images",
        metadata=table_metadata(store.write("unlinked_images", result.unlinked)),
    )
