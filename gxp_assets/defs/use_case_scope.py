"""What an asset body of one use case knows about that use case: its id, keys, names, plan, governance and landing
folder. The factory hands one scope to every builder, so no body reads a global use case (DESIGN.md, Use cases)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetIn, AssetKey, AssetOut, DynamicPartitionsDefinition

from gxp_assets.governance.plan import LoadedPlan
from gxp_assets.governance.service import Governance
from gxp_assets.governance.use_case import LoadedUseCase, UseCase, load_use_case
from gxp_assets.stores import current_plan, landing_zone, open_governance, use_cases_root
from gxp_assets.stores.landing import LocalLandingZone

#: The asset tag that says which stage of the graph an asset belongs to (jobs select by it).
STAGE = "stage"
DATA, MODEL, GOVERNANCE, INFERENCE, MONITORING = "data", "model", "governance", "inference", "monitoring"
#: The stages a use case's graph can have, in order; a graph is built for a prefix of them (each stage needs the
#: ones before it), see defs/use_case_graph.py.
ALL_STAGES = (DATA, MODEL, GOVERNANCE, INFERENCE, MONITORING)


@dataclass(frozen=True)
class UseCaseScope:
    """One declared use case as the graph sees it: everything is named under ``id``."""

    id: str
    batches: DynamicPartitionsDefinition = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batches", DynamicPartitionsDefinition(name=self.name("batches")))

    def key(self, asset: str) -> AssetKey:
        """The key of ``asset`` of this use case (``<id>/<asset>``)."""
        return AssetKey([self.id, asset])

    def name(self, what: str) -> str:
        """A job, sensor, schedule, partitions or op name of this use case (``<id>__<what>``); Dagster names a
        prefixed asset's op the same way."""
        return f"{self.id}__{what}"

    def asset_args(self, stage: str) -> dict[str, Any]:
        """The decorator arguments every asset of this use case and stage takes."""
        return {"key_prefix": [self.id], "group_name": self.id, "tags": {STAGE: stage}}

    def validation_args(self, valid: str) -> dict[str, Any]:
        """The multi-asset arguments of the data stage's validation step: ``labelled_reports`` in,
        ``validated_reports`` (described by ``valid``) and ``quarantined_reports`` out."""
        quarantined = "Rejected records as received, each with a reason and detail."
        return {
            "name": self.name("validated_reports"),
            "group_name": self.id,
            "ins": {"labelled_reports": AssetIn(key=self.key("labelled_reports"))},
            "outs": {
                name: AssetOut(key=self.key(name), tags={STAGE: DATA}, description=description)
                for name, description in (("validated_reports", valid), ("quarantined_reports", quarantined))
            },
        }

    def run_config(self, run_config: dict | None) -> dict:
        """``run_config`` with op names given without the use-case prefix (as users' YAML files write them)
        prefixed; names already prefixed are kept."""
        scoped = copy.deepcopy(run_config or {})
        ops = scoped.get("ops")
        if isinstance(ops, dict):
            scoped["ops"] = {
                name if name.startswith(f"{self.id}__") else self.name(name): value for name, value in ops.items()
            }
        return scoped

    def op_config(self, run_config: dict, asset: str) -> dict:
        """The config of ``asset``'s op in a run config of this use case (prefixed or not)."""
        ops = (run_config or {}).get("ops") or {}
        return (ops.get(self.name(asset)) or ops.get(asset) or {}).get("config") or {}

    def plan(self) -> LoadedPlan:
        """The change control plan in force for this use case, read when asked (GXP_PLAN may replace it)."""
        return current_plan(self.id)

    def governance(self) -> Governance:
        return open_governance(use_case=self.id)

    def landing(self) -> LocalLandingZone:
        return landing_zone(self.id)

    def loaded_declaration(self) -> LoadedUseCase:
        """The use case's declaration (``<GXP_USE_CASES or use_cases/>/<id>/use_case.yaml``), validated, with the
        SHA-256 of the file's exact bytes (every model's lineage records it)."""
        return load_use_case(use_cases_root() / self.id)

    def declaration(self) -> UseCase:
        return self.loaded_declaration().use_case
