"""The plan a model version is judged by: the plan recorded with it, provided it is the plan in force for its use case.

Each declared use case has one plan in force (its ``change_control_plan.yaml``, or the GXP_PLAN copy that replaces
it). A model's signatures, approvals, promotion and verification are judged under the plan whose SHA-256 its record
carries, never under another use case's plan and never under a plan edited since: such a model has no plan to be
judged by and is refused. Pure: the caller supplies the plans in force.
"""

from __future__ import annotations

from collections.abc import Mapping

from gxp_assets.governance.plan import LoadedPlan
from gxp_assets.governance.registry import ModelVersion


class PlanNotAvailable(LookupError):
    """The plan recorded with a model is not the plan in force for its use case; the message says which is which."""

    code = "plan_not_available"


def _named(recorded: Mapping[str, object]) -> str:
    sha = str(recorded.get("sha256") or "")
    return f"{recorded.get('plan_id', '?')} {recorded.get('version', '?')} ({sha[:12]})"


def recorded_plan(model: ModelVersion, plans: Mapping[str, LoadedPlan]) -> LoadedPlan:
    """The plan in force for ``model.use_case`` when it is the plan recorded with the model; else PlanNotAvailable."""
    recorded = model.record.get("plan") or {}
    sha = recorded.get("sha256")
    if not sha:
        raise PlanNotAvailable(f"model {model.version} records no change control plan")
    in_force = plans.get(model.use_case)
    if in_force is not None and in_force.sha256 == sha and in_force.plan.use_case == model.use_case:
        return in_force
    other = next((plan for plan in plans.values() if plan.sha256 == sha), None)
    if other is not None:
        raise PlanNotAvailable(
            f"model {model.version} of use case {model.use_case!r} records the plan of use case "
            f"{other.plan.use_case!r} ({other.plan.plan_id} {other.plan.version}): a model is judged only under "
            "its own use case's plan"
        )
    if in_force is None:
        raise PlanNotAvailable(
            f"model {model.version} is of use case {model.use_case!r}, for which no plan is in force (declared use "
            f"cases: {', '.join(sorted(plans)) or 'none'}); its recorded plan {_named(recorded)} is not available"
        )
    raise PlanNotAvailable(
        f"the plan recorded with model {model.version}, {_named(recorded)}, is not available: the plan in force for "
        f"{model.use_case!r} is {in_force.plan.plan_id} {in_force.plan.version} ({in_force.sha256[:12]}, "
        f"{in_force.path.name}); it changed after the model was built"
    )
