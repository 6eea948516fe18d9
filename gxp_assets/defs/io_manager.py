"""A Dagster IO manager on the artifact store: the SHA-256 of what it writes is the asset's data version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import (
    ConfigurableIOManager,
    DagsterInvariantViolationError,
    DataVersion,
    InputContext,
    MetadataValue,
    OutputContext,
)

from gxp_assets.defs.audit_anchor import head_metadata
from gxp_assets.defs.loaded_inputs import LOADED_INPUTS, forget_when_done, loads_of, note_load, stored_outputs
from gxp_assets.defs.provenance import current_user
from gxp_assets.stores import artifact_store, audit_trail, codecs
from gxp_assets.stores.protocols import ArtifactNotFound, ArtifactRef, ArtifactStore

if TYPE_CHECKING:
    from dagster._core.execution.context.system import StepExecutionContext

#: Put this key in an input's metadata (``AssetIn(metadata={PIN: "..."})``) to load a past version.
PIN = "data_version"
#: Put this key in an input's metadata (``AssetIn(metadata={MEMBERS: ["report_ids"]})``) to decode only those arrays
#: of a ``.npz`` artifact; the whole artifact is still read, its hash verified and its version noted for lineage.
MEMBERS = "npz_members"


LAUNCHED_BY_TAG = "gxp/launched_by"


def launched_by(context: OutputContext) -> str:
    """The user id the run was launched as (tagged by `gxp run`), else the account running it."""
    return context.step_context.get_tag(LAUNCHED_BY_TAG) or current_user()


def asset_name(context: InputContext | OutputContext) -> str:
    return "/".join(context.asset_key.path)


def _step(context: InputContext) -> StepExecutionContext | None:
    """The step loading the input; None for a context built outside a run (``build_input_context``)."""
    try:
        return context.step_context
    except DagsterInvariantViolationError:
        return None


class ArtifactIOManager(ConfigurableIOManager):
    """Immutable, content-addressed storage of asset values, verified on every load."""

    home: str | None = None  # GXP_HOME when unset
    environment: str | None = None  # GXP_ENV when unset: local or aws (gxp_assets.defs.resources picks it)
    aws_stack: str | None = None  # GXP_AWS_STACK when unset

    def store(self) -> ArtifactStore:
        return artifact_store(self.home, self.environment, self.aws_stack)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        payload, suffix = codecs.encode(obj)
        partition = context.partition_key if context.has_asset_partitions else None
        ref = self.store().put(asset_name(context), partition, payload, suffix, context.run_id)
        # Dagster reads the data version after handle_output returns, from the step's cache.
        context.step_context.set_data_version(context.asset_key, DataVersion(ref.sha256))
        context.add_output_metadata({"sha256": ref.sha256, "artifact": ref.uri, "bytes": ref.size})
        context.add_output_metadata(codecs.summary(obj))
        loaded = loads_of(context.run_id, context.step_key)  # the exact inputs this output was computed from
        context.add_output_metadata({LOADED_INPUTS: MetadataValue.json(loaded)})
        # Every materialization passes here, so this is the one place that audits them.
        entry = audit_trail(self.home, self.environment, self.aws_stack).append(
            launched_by(context),
            "materialization",
            ref.asset,
            {
                "partition": partition,
                "run_id": context.run_id,
                "data_version": ref.sha256,
                "code_version": context.asset_spec.code_version,
                "artifact": ref.uri,
                "inputs": loaded,
            },
        )
        context.add_output_metadata(head_metadata(entry))  # the head, anchored in the Dagster event log
        forget_when_done(context.step_context)

    def load_input(self, context: InputContext) -> Any:
        members = (context.definition_metadata or {}).get(MEMBERS)
        return codecs.decode(*self.load_ref(context), members=members)

    def load_ref(self, context: InputContext) -> tuple[bytes, str]:
        """The pinned version; else the version this run stored (an upstream step of the same run), so a run uses
        what it built even when another run stores the asset meanwhile; else the latest. Noted for the step."""
        store, name = self.store(), asset_name(context)
        pinned = (context.definition_metadata or {}).get(PIN)
        partition = context.asset_partition_key if context.has_asset_partitions else None
        step = _step(context)
        ref: ArtifactRef | None
        if pinned:
            ref = store.find(name, pinned)
        else:  # one indexed query each, whatever the number of stored versions
            own = None if step is None else store.latest(name, partition, run_id=step.run_id)
            ref = own or store.latest(name, partition)
        if ref is None:
            raise ArtifactNotFound(f"asset '{name}' has no stored version yet: materialize it first")
        context.log.info(f"loading {name} version {ref.sha256[:12]} ({ref.size:,} bytes), hash verified")
        payload = store.read(ref)
        if step is not None and stored_outputs(step):  # only an output's metadata reads the notes
            note_load(step.run_id, step.step.key, name, ref.sha256, ref.run_id)
        return payload, ref.suffix
