"""Which stored version of each input a step actually loaded, kept by the IO manager for the step that loaded it.

The IO manager notes every version it loads, by (run, step); the step's body can read them (``loaded_by``), and the
IO manager writes them into each output's materialization metadata (``LOADED_INPUTS``) and audit entry, so every
materialization names the exact versions it was computed from. Lineage is then walked from these records
(``defs/lineage.py``), never from "the latest materialization" of a key, which another run may have replaced.
The notes live in the process that runs the step; load and output of one step always share it. They are dropped
once the step's last asset output is handled, and a step without one (an asset check's) notes nothing, so
a long-lived process does not gather the notes of every step it ever ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetExecutionContext

if TYPE_CHECKING:
    from dagster._core.execution.context.system import StepExecutionContext

#: The materialization metadata entry: {asset key: {"data_version": sha256, "run_id": the run that stored it}}.
LOADED_INPUTS = "loaded_inputs"

_LOADED: dict[tuple[str, str], dict[str, dict[str, str]]] = {}


def note_load(run_id: str, step_key: str, asset: str, data_version: str, stored_by: str) -> None:
    """Record that ``step_key`` of ``run_id`` loaded ``asset`` at ``data_version``, as stored by run ``stored_by``."""
    _LOADED.setdefault((run_id, step_key), {})[asset] = {"data_version": data_version, "run_id": stored_by}


def stored_outputs(step: StepExecutionContext) -> list[str]:
    """The step's selected outputs that are assets, which the IO manager stores (an asset check's are not)."""
    layer = step.job_def.asset_layer
    return [name for name in step.selected_output_names
            if layer.get_asset_key_for_node_output(step.node_handle, name) is not None]  # fmt: skip


def forget_when_done(step: StepExecutionContext) -> None:
    """Drop the step's notes once each output it stores has been yielded: called as an output is handled, after
    the outputs yielded before it, this is its last."""
    if all(step.has_seen_output(name) for name in stored_outputs(step)):
        _LOADED.pop((step.run_id, step.step.key), None)


def loads_of(run_id: str, step_key: str) -> dict[str, dict[str, str]]:
    """What the step has loaded so far, by asset key (a copy)."""
    return {asset: dict(facts) for asset, facts in _LOADED.get((run_id, step_key), {}).items()}


def loaded_by(context: AssetExecutionContext) -> dict[str, dict[str, str]]:
    """The versions the running asset's step loaded for its inputs, by asset key."""
    step = context.op_execution_context.get_step_execution_context().step.key
    return loads_of(context.run_id, step)
