"""The checks that gate a candidate under its change control plan: acceptance criteria, the plan's fixed elements,
its data requirements. They fail closed: a metric that was not measured fails its criterion rather than being
skipped, and a fact not stated about the candidate counts against it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gxp_assets.governance.plan import ChangeControlPlan

# Limits are written as decimals (0.02, 0.88) that binary floats cannot hold exactly; without this slack a measured
# value equal to its limit could fail (0.90 - 0.88 > 0.02 in floating point).
_SLACK = 1e-9


class CriterionResult(BaseModel):
    """One acceptance criterion as judged: what was measured, against which limit, and the verdict."""

    model_config = ConfigDict(frozen=True)

    name: str
    measured: float | None
    limit: float
    passed: bool
    detail: str


def _at_least(name: str, measured: Any, limit: float, what: str) -> CriterionResult:
    if measured is None:
        return CriterionResult(name=name, measured=None, limit=limit, passed=False, detail=f"{what} was not measured")
    value = float(measured)
    passed = value >= limit - _SLACK
    verdict = "meets" if passed else "is below"
    return CriterionResult(
        name=name, measured=value, limit=limit, passed=passed, detail=f"{what} {value:.4f} {verdict} {limit:.4f}"
    )


def _auroc_drop(plan: ChangeControlPlan, metrics: dict, active_metrics: dict | None) -> CriterionResult:
    name, limit = "max_auroc_drop_vs_active", plan.acceptance_criteria.max_auroc_drop_vs_active
    if active_metrics is None:
        return CriterionResult(name=name, measured=None, limit=limit, passed=True, detail="no active model")
    candidate, active = metrics.get("auroc"), active_metrics.get("auroc")
    if candidate is None or active is None:
        missing = "candidate" if candidate is None else "active model"
        return CriterionResult(
            name=name, measured=None, limit=limit, passed=False, detail=f"AUROC of the {missing} was not measured"
        )
    drop = float(active) - float(candidate)
    passed = drop <= limit + _SLACK
    return CriterionResult(
        name=name,
        measured=drop,
        limit=limit,
        passed=passed,
        detail=f"AUROC {float(candidate):.4f} vs active {float(active):.4f}: drop {drop:.4f} "
        f"{'within' if passed else 'exceeds'} {limit:.4f}",
    )


def evaluate_acceptance(
    plan: ChangeControlPlan, metrics: dict, active_metrics: dict | None = None
) -> list[CriterionResult]:
    """Judge a candidate's test metrics against every acceptance criterion; it may be promoted only if all pass."""
    criteria = plan.acceptance_criteria
    results = [
        _at_least("auroc_min", metrics.get("auroc"), criteria.auroc_min, "AUROC"),
        _at_least("positive_recall_min", metrics.get("ae_recall"), plan.positive_recall_min, "positive recall"),
        _at_least("auto_close_min", metrics.get("auto_close_share"), criteria.auto_close_min, "auto-close share"),
        _auroc_drop(plan, metrics, active_metrics),
    ]
    # The evaluation's metric keys (ae_recall, and per subgroup source / ae) are core's; they measure the positive
    # class of whichever use case was evaluated.
    for row in metrics.get("subgroups") or []:
        if int(row.get("ae") or 0) >= criteria.subgroup_min_positive:  # smaller subgroups are reported, not judged
            subgroup = row.get("source")
            results.append(
                _at_least(
                    f"subgroup_positive_recall_min[{subgroup}]",
                    row.get("ae_recall"),
                    criteria.subgroup_positive_recall_min,
                    f"positive recall in {subgroup} ({row['ae']} positive)",
                )
            )
    return results


def within_plan(plan: ChangeControlPlan, facts: dict) -> list[str]:
    """Why a candidate lies OUTSIDE the plan (empty = inside); missing facts count against it."""
    expected = {
        "feature_spec_sha256": plan.fixed_elements.feature_spec_sha256,
        "model_family": plan.fixed_elements.model_family,
        "intended_use_id": plan.intended_use.id,
    }
    reasons = []
    for key, value in expected.items():
        if key not in facts or facts[key] is None:
            reasons.append(f"{key} is not stated for the candidate")
        elif facts[key] != value:
            reasons.append(f"{key} {facts[key]!r} differs from the plan's {value!r}")
    modification = facts.get("modification")
    if modification is None:
        reasons.append("modification is not stated for the candidate")
    elif modification not in plan.allowed_modifications:
        reasons.append(f"modification {modification!r} is not allowed (allowed: {plan.allowed_modifications})")
    return reasons


def data_requirements_met(
    plan: ChangeControlPlan, n_records: int, n_positive: int, newest_record_age_days: float | None
) -> list[str]:
    """Why the training data falls short of the plan (empty = sufficient)."""
    required = plan.data_requirements
    reasons = []
    if n_records < required.min_records:
        reasons.append(f"{n_records} labelled records, the plan requires at least {required.min_records}")
    if n_positive < required.min_positive:
        reasons.append(f"{n_positive} positive records, the plan requires at least {required.min_positive}")
    if required.max_age_days is not None:
        if newest_record_age_days is None:
            reasons.append("the age of the newest labelled record is unknown")
        elif newest_record_age_days > required.max_age_days:
            reasons.append(
                f"newest labelled record is {newest_record_age_days:g} days old, "
                f"the plan allows at most {required.max_age_days}"
            )
    return reasons
