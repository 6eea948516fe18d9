"""The registry's state as Dagster sees it: an observation of ``model_candidate`` (and ``active_model``) whenever a
version changes state, so the UI shows APPROVED or ACTIVE instead of the state at registration.

The registry stays the source of truth; these observations only keep its picture in the UI current. They are written
by whoever changes the state: the promotion run (``active_model``) and the `gxp` commands that sign.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetObservation, DagsterInstance, MetadataValue

from gxp_assets.defs.metadata import records_table
from gxp_assets.defs.use_case_scope import UseCaseScope
from gxp_assets.governance.registry import State
from gxp_assets.governance.service import Governance

CANDIDATE, ACTIVE = "model_candidate", "active_model"


def registry_observations(governance: Governance, version: str) -> list[AssetObservation]:
    """What the registry says about ``version`` now, and which version is ACTIVE, as observations of the assets of
    the version's own use case."""
    model = governance.registry.get(version)
    if model is None:
        return []
    scope = UseCaseScope(model.use_case)
    history = governance.registry.history(version)
    rows = [{"at": t.at, "from": t.from_state or "-", "to": t.to_state, "by": t.actor, "reason": t.reason}
            for t in history]  # fmt: skip
    approvals = governance.approval_status(version)
    observed = [
        AssetObservation(
            asset_key=scope.key(CANDIDATE),
            description=f"registry: model {version} is {model.state}",
            metadata={
                "version": version,
                "state": str(model.state),
                "state_since": history[-1].at if history else model.registered_at,
                "record_hash": model.record_hash,
                "approvals": MetadataValue.md(
                    "\n".join(f"- {s.manifestation()}" for s in approvals.valid) or "none valid yet"
                ),
                "still_needed": ", ".join(approvals.missing) or "nothing",
                "history": records_table(rows, ["at", "from", "to", "by", "reason"]),
            },
        )
    ]
    active = governance.registry.active(model.use_case)
    if model.state in (State.ACTIVE, State.RETIRED) or (active and active.version == version):
        observed.append(
            AssetObservation(
                asset_key=scope.key(ACTIVE),
                description=f"registry: {active.version if active else 'no version'} is ACTIVE",
                metadata={"version": active.version if active else "none", "state": "ACTIVE" if active else "none"},
            )
        )
    return observed


def report_registry_state(governance: Governance, version: str) -> None:
    """Record the observations in the DAGSTER_HOME instance, when there is one (the CLI's path)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home or not (Path(home) / "dagster.yaml").exists():
        return
    with DagsterInstance.get() as instance:
        for observation in registry_observations(governance, version):
            instance.report_runless_asset_event(observation)
