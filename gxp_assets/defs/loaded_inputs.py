"""Which stored version of each input a step actually loaded, kept by the IO manager for the step that loaded it.

The IO manager notes every version it loads, by (run, step); the step's body can read them (``loaded_by``), and the
IO manager writes them into each output's materialization metadata (``LOADED_INPUTS``) and audit entry, so every
materialization names the exact versions it was computed from. Lineage is then walked from these records
(``defs/lineage.py``), never from "the latest materialization" of a key, which another run may have replaced.
The notes live in the process that runs the step; load and output of one step always share it.
"""

from __future__ import annotations

from dagster import AssetExecutionContext

#: The materialization metadata entry: {asset key: {"data_version": sha256, "run_id": the run that stored it}}.
LOADED_INPUTS = "loaded_inputs"

_LOADED: dict[tuple[str, str], dict[str, dict[str, str]]] = {}


def note_load(run_id: str, step_key: str, asset: str, data_version: str, stored_by: str) -> None:
    """Record that ``step_key`` of ``run_id`` loaded ``asset`` at ``data_version``, as stored by run ``stored_by``."""
    _LOADED.setdefault((run_id, step_key), {})[asset] = {"data_version": data_version, "run_id": stored_by}


def loads_of(run_id: str, step_key: str) -> dict[str, dict[str, str]]:
    """What the step has loaded so far, by asset key (a copy)."""
    return {asset: dict(facts) for asset, facts in _LOADED.get((run_id, step_key), {}).items()}


def loaded_by(context: AssetExecutionContext) -> dict[str, dict[str, str]]:
    """The versions the running asset's step loaded for its inputs, by asset key."""
    step = context.op_execution_context.get_step_execution_context().step.key
    return loads_of(context.run_id, step)
