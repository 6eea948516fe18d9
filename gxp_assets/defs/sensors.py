"""Sensors: promotion starts when a model version has collected its approvals (nothing promotes itself)."""

import json

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from gxp_assets.defs.jobs import promote_model
from gxp_assets.governance.registry import State
from gxp_assets.stores import open_governance


@sensor(job=promote_model, minimum_interval_seconds=30, description="Promotes APPROVED model versions to ACTIVE.")
def approved_models(context: SensorEvaluationContext):
    governance = open_governance()
    requested = set(json.loads(context.cursor)) if context.cursor else set()
    approved = [model.version for model in governance.registry.versions() if model.state == State.APPROVED]
    new = [version for version in approved if version not in requested]
    if not new:
        return SkipReason(f"no newly approved model version ({len(approved)} approved, all requested before)")
    context.update_cursor(json.dumps(sorted(requested | set(new))))
    return [
        RunRequest(
            run_key=f"promote-{version}",
            run_config={"ops": {"active_model": {"config": {"version": version}}}},
            tags={"gxp/model_version": version},
        )
        for version in new
    ]
