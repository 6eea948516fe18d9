"""A model's lineage, walked from the versions its own run loaded, through the inputs each of those was computed from.

Each materialization names the exact versions its step loaded (``loaded_inputs``, written by the IO manager) and the
run that stored each of them. Starting from what a step loaded, the walk finds each input's materialization in the
run that stored it and follows that step's own loaded inputs, down to the corpus. It never asks for "the latest
materialization" of a key: another run may have materialized it since, and the model was not built from that one.
Two paths that reach one asset at two versions (a run that mixed inputs of two trainings) are reported as conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance, EventLogEntry

from gxp_assets.defs.loaded_inputs import LOADED_INPUTS
from gxp_assets.defs.use_case_scope import UseCaseScope

DATA_VERSION_TAG, CODE_VERSION_TAG = "dagster/data_version", "dagster/code_version"


@dataclass
class WalkedLineage:
    """Each reached asset of the use case by name: its key, data version, code version and the run that made it."""

    assets: dict[str, dict[str, str | None]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)


class _Runs:
    """The materializations of each run the walk visits, read once per run."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance, self._events = instance, {}

    def materializations(self, run_id: str) -> list[EventLogEntry]:
        if run_id not in self._events:
            entries = self.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            self._events[run_id] = [entry for entry in entries if entry.asset_materialization is not None]
        return self._events[run_id]

    def made(self, run_id: str, key: str, data_version: str) -> EventLogEntry | None:
        """The materialization of ``key`` at ``data_version`` in run ``run_id``."""
        for entry in self.materializations(run_id):
            materialization = entry.asset_materialization
            if (materialization.asset_key.to_user_string() == key
                    and materialization.tags.get(DATA_VERSION_TAG) == data_version):  # fmt: skip
                return entry
        return None

    def siblings(self, entry: EventLogEntry) -> list[EventLogEntry]:
        """Every materialization of the same step in the same run (a multi-asset's other outputs)."""
        step = entry.step_key
        return [other for other in self.materializations(entry.run_id) if other.step_key == step]


def walk_lineage(
    instance: DagsterInstance, scope: UseCaseScope, loaded: dict[str, dict[str, str]], first: tuple[str, ...] = ()
) -> WalkedLineage:
    """The lineage of whatever was computed from ``loaded`` (a step's loaded inputs, by asset key), within
    ``scope``'s use case. Inputs named in ``first`` are walked first, so their chain is what the lineage records
    where two paths disagree (the model's own training data, say); the disagreement is listed in ``conflicts``."""
    walked, runs = WalkedLineage(), _Runs(instance)
    prefix = f"{scope.id}/"
    order = [scope.key(name).to_user_string() for name in first]
    pending = sorted(loaded.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    stack = list(reversed(pending))
    while stack:
        key, facts = stack.pop()
        if not key.startswith(prefix):
            continue
        name, version = key.removeprefix(prefix), facts.get("data_version")
        known = walked.assets.get(name)
        if known is not None:
            if known["data_version"] != version:
                walked.conflicts.append(
                    f"{name}: version {str(version)[:12]} was loaded beside {str(known['data_version'])[:12]}"
                )
            continue
        entry = runs.made(facts.get("run_id", ""), key, str(version))
        if entry is None:  # stored outside a Dagster run: its version is known, its inputs are not
            walked.assets[name] = {"asset_key": key, "data_version": version, "code_version": None,
                                   "run_id": facts.get("run_id")}  # fmt: skip
            continue
        for made in runs.siblings(entry):
            materialization = made.asset_materialization
            sibling = materialization.asset_key.to_user_string()
            if sibling.startswith(prefix) and sibling.removeprefix(prefix) not in walked.assets:
                walked.assets[sibling.removeprefix(prefix)] = {
                    "asset_key": sibling,
                    "data_version": materialization.tags.get(DATA_VERSION_TAG),
                    "code_version": materialization.tags.get(CODE_VERSION_TAG),
                    "run_id": made.run_id,
                }
        inputs = entry.asset_materialization.metadata.get(LOADED_INPUTS)
        stack.extend(reversed(list((inputs.value if inputs is not None else {}).items())))
    return walked
