"""The change control plan: the repository's plan is valid and pinned, invalid plans are refused, criteria gate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from gxp_assets.core.features import DEFAULT_FEATURE_SPEC
from gxp_assets.governance.acceptance import CriterionResult, data_requirements_met, evaluate_acceptance, within_plan
from gxp_assets.governance.plan import DEFAULT_PLAN_PATH, ChangeControlPlan, PlanError, load_plan

REPO_PLAN = Path(__file__).resolve().parents[2] / "use_cases" / "ae_triage" / "change_control_plan.yaml"


@pytest.fixture(scope="module")
def plan() -> ChangeControlPlan:
    return load_plan(REPO_PLAN).plan


def passing_metrics(plan: ChangeControlPlan) -> dict:
    """Metrics exactly at every limit: the boundary must pass."""
    criteria = plan.acceptance_criteria
    return {
        "auroc": criteria.auroc_min,
        "ae_recall": plan.positive_recall_min,
        "auto_close_share": criteria.auto_close_min,
        "subgroups": [],
    }


def by_name(results: list[CriterionResult]) -> dict[str, CriterionResult]:
    names = [result.name for result in results]
    assert len(set(names)) == len(names)
    return {result.name: result for result in results}


def write_plan(tmp_path: Path, values: dict) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


# --- the repository's plan ---------------------------------------------------------------------------------------


def test_repository_plan_loads_and_its_hash_is_the_files_sha256() -> None:
    loaded = load_plan(REPO_PLAN)
    assert DEFAULT_PLAN_PATH == REPO_PLAN
    assert loaded.sha256 == hashlib.sha256(REPO_PLAN.read_bytes()).hexdigest()
    assert loaded.plan.use_case == "ae_triage" and loaded.plan.version == "3.0.0"
    assert loaded.plan.intended_use.id == "ae-triage-v1"
    assert set(loaded.plan.allowed_modifications) == {"retrain_on_new_adjudicated_data", "recalibrate"}
    assert loaded.plan.acceptance_criteria.auroc_min == 0.88
    assert loaded.plan.positive_recall_min == pytest.approx(0.93)
    assert loaded.plan.approvals.min_signatures == 2
    assert loaded.plan.approvals.separation_of_duties is True
    assert {signature.role for signature in loaded.plan.approvals.required} == {"qa_reviewer", "pv_physician"}


def test_repository_plan_fixes_the_current_feature_spec(plan: ChangeControlPlan) -> None:
    assert plan.fixed_elements.feature_spec_sha256 == DEFAULT_FEATURE_SPEC.sha256
    assert plan.fixed_elements.model_family == "lightgbm+sentence_network"


def test_hash_changes_with_any_byte_of_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "plan.yaml"
    copy.write_bytes(REPO_PLAN.read_bytes() + b"# a comment is a change too\n")
    assert load_plan(copy).sha256 != load_plan(REPO_PLAN).sha256


# --- invalid plans -----------------------------------------------------------------------------------------------


@pytest.fixture
def plan_values() -> dict:
    return yaml.safe_load(REPO_PLAN.read_text())


def test_missing_field_is_refused_naming_it(tmp_path: Path, plan_values: dict) -> None:
    del plan_values["acceptance_criteria"]["auroc_min"]
    path = write_plan(tmp_path, plan_values)
    with pytest.raises(PlanError, match=r"acceptance_criteria\.auroc_min: required field is missing") as caught:
        load_plan(path)
    assert str(path) in str(caught.value)


def test_confidence_outside_the_unit_interval_is_refused(tmp_path: Path, plan_values: dict) -> None:
    plan_values["conformal"]["negative_confidence"] = 1.5
    with pytest.raises(PlanError, match=r"conformal\.negative_confidence"):
        load_plan(write_plan(tmp_path, plan_values))


@pytest.mark.parametrize(
    ("key", "value"), [("miss_rate", 0.0), ("delta", 1.0), ("type", "bayesian"), ("unit", "sentence")]
)
def test_a_guarantee_that_means_nothing_is_refused(tmp_path: Path, plan_values: dict, key: str, value: object) -> None:
    plan_values["guarantee"][key] = value
    with pytest.raises(PlanError, match=rf"guarantee\.{key}"):
        load_plan(write_plan(tmp_path, plan_values))


def test_the_guarantee_sets_the_recall_a_candidate_must_reach(tmp_path: Path, plan_values: dict) -> None:
    plan_values["guarantee"]["miss_rate"] = 0.1
    plan = load_plan(write_plan(tmp_path, plan_values)).plan
    assert plan.positive_confidence == 0.9
    assert plan.positive_recall_min == pytest.approx(0.9 - plan.acceptance_criteria.positive_recall_tolerance)


def test_unknown_key_is_refused(tmp_path: Path, plan_values: dict) -> None:
    plan_values["acceptance_criteria"]["auroc_minimum"] = 0.5  # a typo must not silently drop a criterion
    with pytest.raises(PlanError, match=r"acceptance_criteria\.auroc_minimum: unknown field"):
        load_plan(write_plan(tmp_path, plan_values))


@pytest.mark.parametrize(
    ("section", "key", "value", "field"),
    [
        ("allowed_modifications", None, ["retrain_on_new_adjudicated_data", "new_features"], "allowed_modifications"),
        ("fixed_elements", "feature_spec_sha256", "not-a-hash", "fixed_elements.feature_spec_sha256"),
        ("approvals", "min_signatures", 1, "approvals"),
        ("retraining_triggers", "schedule", "every monday", "retraining_triggers.schedule"),
        ("acceptance_criteria", "auroc_min", "0.88", "acceptance_criteria.auroc_min"),  # no silent coercion
    ],
)
def test_other_invalid_values_are_refused(
    tmp_path: Path, plan_values: dict, section: str, key: str | None, value: object, field: str
) -> None:
    if key is None:
        plan_values[section] = value
    else:
        plan_values[section][key] = value
    with pytest.raises(PlanError, match=field):
        load_plan(write_plan(tmp_path, plan_values))


@pytest.mark.parametrize("value", [0.49, 1.01])
def test_domain_auc_limit_outside_its_range_is_refused(tmp_path: Path, plan_values: dict, value: float) -> None:
    plan_values["retraining_triggers"]["drift"]["domain_auc_max"] = value  # below 0.5 every batch would alarm
    with pytest.raises(PlanError, match=r"retraining_triggers\.drift\.domain_auc_max"):
        load_plan(write_plan(tmp_path, plan_values))


def test_the_repository_plan_judges_domain_auc_and_an_older_plan_without_it_still_loads(
    tmp_path: Path, plan_values: dict, plan: ChangeControlPlan
) -> None:
    assert plan.retraining_triggers.drift.domain_auc_max == 0.8
    del plan_values["retraining_triggers"]["drift"]["domain_auc_max"]
    older = load_plan(write_plan(tmp_path, plan_values)).plan
    assert older.retraining_triggers.drift.domain_auc_max is None  # measured, not judged


def test_unreadable_and_non_mapping_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read"):
        load_plan(tmp_path / "absent.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(PlanError, match="mapping"):
        load_plan(listing)


# --- acceptance criteria -----------------------------------------------------------------------------------------


def test_every_criterion_passes_at_its_boundary(plan: ChangeControlPlan) -> None:
    results = by_name(evaluate_acceptance(plan, passing_metrics(plan), None))
    assert set(results) == {"auroc_min", "positive_recall_min", "auto_close_min", "max_auroc_drop_vs_active"}
    assert all(result.passed for result in results.values())
    assert results["auroc_min"].measured == 0.88 and results["auroc_min"].limit == 0.88
    assert results["positive_recall_min"].limit == pytest.approx(0.95 - 0.02)
    assert results["auto_close_min"].limit == 0.35


@pytest.mark.parametrize(
    ("criterion", "metric"),
    [("auroc_min", "auroc"), ("positive_recall_min", "ae_recall"), ("auto_close_min", "auto_close_share")],
)
def test_each_criterion_fails_just_below_its_boundary(plan: ChangeControlPlan, criterion: str, metric: str) -> None:
    metrics = passing_metrics(plan)
    metrics[metric] -= 0.001
    results = by_name(evaluate_acceptance(plan, metrics, None))
    assert not results[criterion].passed
    assert results[criterion].measured == pytest.approx(metrics[metric])
    assert results[criterion].limit == pytest.approx(metrics[metric] + 0.001)
    assert [name for name, result in results.items() if not result.passed] == [criterion]


def test_unmeasured_metric_fails(plan: ChangeControlPlan) -> None:
    metrics = passing_metrics(plan)
    metrics["ae_recall"] = None  # no AE in the test split: the guarantee cannot be shown
    result = by_name(evaluate_acceptance(plan, metrics, None))["positive_recall_min"]
    assert not result.passed and result.measured is None


def test_auroc_drop_against_the_active_model(plan: ChangeControlPlan) -> None:
    metrics = passing_metrics(plan) | {"auroc": 0.90}
    at_limit = by_name(evaluate_acceptance(plan, metrics, {"auroc": 0.92}))["max_auroc_drop_vs_active"]
    assert at_limit.passed
    assert at_limit.measured == pytest.approx(0.02) and at_limit.limit == 0.02
    beyond = by_name(evaluate_acceptance(plan, metrics, {"auroc": 0.921}))["max_auroc_drop_vs_active"]
    assert not beyond.passed and beyond.measured == pytest.approx(0.021)
    better = by_name(evaluate_acceptance(plan, metrics, {"auroc": 0.85}))["max_auroc_drop_vs_active"]
    assert better.passed and better.measured == pytest.approx(-0.05)


def test_auroc_drop_passes_without_an_active_model(plan: ChangeControlPlan) -> None:
    result = by_name(evaluate_acceptance(plan, passing_metrics(plan), None))["max_auroc_drop_vs_active"]
    assert result.passed and result.detail == "no active model"


def test_subgroups_are_judged_only_with_enough_positives(plan: ChangeControlPlan) -> None:
    criteria = plan.acceptance_criteria
    min_ae, floor = criteria.subgroup_min_positive, criteria.subgroup_positive_recall_min
    metrics = passing_metrics(plan) | {
        "subgroups": [
            {"source": "literature", "n": 900, "ae": min_ae, "auroc": 0.9, "ae_recall": floor, "auto_close_share": 0.4},
            {"source": "call_centre", "n": 400, "ae": 50, "auroc": 0.9, "ae_recall": floor - 0.01},
            {"source": "social_media", "n": 60, "ae": min_ae - 1, "auroc": 0.7, "ae_recall": 0.1},
        ]
    }
    results = by_name(evaluate_acceptance(plan, metrics, None))
    assert results["subgroup_positive_recall_min[literature]"].passed
    assert results["subgroup_positive_recall_min[literature]"].limit == floor
    failed = results["subgroup_positive_recall_min[call_centre]"]
    assert not failed.passed and failed.measured == pytest.approx(floor - 0.01)
    assert not any("social_media" in name for name in results)  # too few AE to judge: reported elsewhere only


# --- within the plan ---------------------------------------------------------------------------------------------


@pytest.fixture
def facts() -> dict:
    return {
        "feature_spec_sha256": DEFAULT_FEATURE_SPEC.sha256,
        "model_family": "lightgbm+sentence_network",
        "intended_use_id": "ae-triage-v1",
        "modification": "retrain_on_new_adjudicated_data",
    }


def test_candidate_with_the_fixed_elements_is_inside_the_plan(plan: ChangeControlPlan, facts: dict) -> None:
    assert within_plan(plan, facts) == []
    assert within_plan(plan, facts | {"modification": "recalibrate"}) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("feature_spec_sha256", "0" * 64),
        ("intended_use_id", "ae-seriousness-v1"),
        ("model_family", "transformer"),
        ("model_family", "lightgbm"),  # the trees without the network the plan fixes
        ("modification", "add_features"),
    ],
)
def test_candidate_that_changes_a_fixed_element_is_outside(
    plan: ChangeControlPlan, facts: dict, key: str, value: str
) -> None:
    reasons = within_plan(plan, facts | {key: value})
    assert len(reasons) == 1 and key in reasons[0]


def test_missing_facts_count_against_the_candidate(plan: ChangeControlPlan) -> None:
    assert len(within_plan(plan, {})) == 4


# --- data requirements -------------------------------------------------------------------------------------------


def test_data_requirements(plan: ChangeControlPlan) -> None:
    required = plan.data_requirements
    assert data_requirements_met(plan, required.min_records, required.min_positive, 3.0) == []
    reasons = data_requirements_met(plan, required.min_records - 1, required.min_positive - 1, None)
    assert len(reasons) == 2 and "records" in reasons[0] and "positive" in reasons[1]


def test_record_age_is_checked_when_the_plan_sets_it(plan: ChangeControlPlan) -> None:
    dated = plan.model_copy(
        update={"data_requirements": plan.data_requirements.model_copy(update={"max_age_days": 30})}
    )
    required = dated.data_requirements
    assert data_requirements_met(dated, required.min_records, required.min_positive, 30) == []
    assert "31 days old" in data_requirements_met(dated, required.min_records, required.min_positive, 31)[0]
    assert "unknown" in data_requirements_met(dated, required.min_records, required.min_positive, None)[0]


def test_a_plan_read_again_is_the_plan_in_the_file_now(tmp_path: Path) -> None:
    """A server reads the plan on every request; only the parsing of the same bytes is kept, never a stale plan."""
    from gxp_assets_tests.conftest import relaxed_plan

    path = relaxed_plan(tmp_path / "plan.yaml")
    first = load_plan(path)
    assert load_plan(path) == first
    changed = yaml.safe_load(path.read_text())
    changed["acceptance_criteria"]["auroc_min"] = 0.99
    path.write_text(yaml.safe_dump(changed, sort_keys=False))
    second = load_plan(path)
    assert second.plan.acceptance_criteria.auroc_min == 0.99 and second.sha256 != first.sha256
    path.write_text("acceptance_criteria: [not, a, plan")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(path)
