"""Files that go with a materialization (plots, a model card), kept in the same immutable store as assets."""

from dagster import AssetExecutionContext

from gxp_assets.stores import artifact_store
from gxp_assets.stores.protocols import ArtifactRef


def attach(context: AssetExecutionContext, name: str, payload: bytes, suffix: str) -> ArtifactRef:
    """Store ``payload`` under ``<asset>/<name>``, content-addressed like the asset itself."""
    asset = "/".join(context.asset_key.path)
    partition = context.partition_key if context.has_partition_key else None
    return artifact_store().put(f"{asset}/{name}", partition, payload, suffix, context.run_id)
