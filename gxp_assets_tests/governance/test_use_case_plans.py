"""Each use case with its own plan: the repository's pairs agree, mismatched pairs are refused naming why, and the
plan schema 3.0.0 is neutral (the AE-named keys of 2.x are unknown fields)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gxp_assets.governance.plan import PlanError, load_plan
from gxp_assets.governance.use_case import USE_CASES_ROOT, declared_use_cases, load_declared

PLAN = "change_control_plan.yaml"


def plan_values(use_case: str) -> dict:
    return yaml.safe_load((USE_CASES_ROOT / use_case / PLAN).read_text(encoding="utf-8"))


def write(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_every_declared_use_case_loads_with_its_own_plan() -> None:
    declared = declared_use_cases()
    assert sorted(declared) == ["ae_triage", "dissolution_risk"]
    for use_case_id, found in declared.items():
        assert found.plan.plan.use_case == use_case_id
        assert found.plan.path == USE_CASES_ROOT / use_case_id / PLAN
        assert found.plan.plan.fixed_elements.feature_spec_sha256 == found.declaration.use_case.feature_spec().sha256
        assert found.plan.plan.intended_use == found.declaration.use_case.intended_use
    assert declared["ae_triage"].plan.plan.version == declared["dissolution_risk"].plan.plan.version == "3.0.0"


def test_the_dissolution_plan_is_a_tabular_plan_with_its_own_approvers() -> None:
    plan = declared_use_cases()["dissolution_risk"].plan.plan
    assert plan.plan_id == "PCCP-DISSOLUTION-RISK" and plan.fixed_elements.model_family == "lightgbm"
    assert (plan.guarantee.unit, plan.guarantee.by_subgroup, plan.guarantee.miss_rate) == ("record", False, 0.10)
    assert plan.acceptance_criteria.auroc_min == 0.80 and plan.positive_recall_min == pytest.approx(0.75)
    assert {required.role for required in plan.approvals.required} == {"qa_reviewer", "qualified_person"}
    assert plan.fail_safe.lift_role == "qa_reviewer"
    drift = plan.retraining_triggers.drift
    assert drift.unseen_ngram_share_max is None  # no text: no n-gram limit
    assert {"numeric_psi_max", "categorical_psi_max", "missing_share_max", "out_of_range_share_max",
            "unseen_level_share_max"} <= set(drift.limits())  # fmt: skip


def test_a_use_case_loaded_with_the_other_use_cases_plan_is_refused_naming_every_difference() -> None:
    with pytest.raises(PlanError) as caught:
        load_declared(USE_CASES_ROOT / "ae_triage", USE_CASES_ROOT / "dissolution_risk" / PLAN)
    message = str(caught.value)
    assert f"{USE_CASES_ROOT / 'dissolution_risk' / PLAN} is not the plan of use case 'ae_triage'" in message
    assert "the plan governs use case 'dissolution_risk', not 'ae_triage'" in message
    assert "intended use 'dissolution-risk-v1' differs from the use case's 'ae-triage-v1'" in message
    assert "the plan fixes feature spec 74de14d637c9" in message
    assert "the plan limits numeric_psi_max, but the use case does not declare drift.numeric: psi" in message
    assert "must set drift.unseen_ngram_share_max" in message  # a text use case without its text limit


@pytest.mark.parametrize(
    ("use_case", "change", "reason"),
    [
        ("ae_triage", {"use_case": "dissolution_risk"},
         "the plan governs use case 'dissolution_risk', not 'ae_triage'"),
        ("ae_triage", {"intended_use": {"id": "ae-triage-v1", "text": "Something else."}},
         "intended use 'ae-triage-v1' differs from the use case's 'ae-triage-v1' (in its text)"),
        ("dissolution_risk", {"fixed_elements": {"feature_spec_sha256": "0" * 64, "model_family": "lightgbm"}},
         "the plan fixes feature spec 0000"),
        ("dissolution_risk", {"drift": {"unseen_ngram_share_max": 0.3}},
         "the plan limits unseen_ngram_share_max, but the use case does not declare drift.text: unseen_ngram_share"),
        ("ae_triage", {"drift": {"missing_share_max": 0.1}},
         "does not declare drift.numeric: missing_share or drift.categorical: missing_share"),
        ("ae_triage", {"drift": {"unseen_ngram_share_max": None}}, "must set drift.unseen_ngram_share_max"),
    ],
)  # fmt: skip
def test_one_disagreement_between_a_plan_and_its_use_case_is_refused(
    tmp_path: Path, use_case: str, change: dict, reason: str
) -> None:
    values = plan_values(use_case)
    for key, value in change.items():
        if key == "drift":
            values["retraining_triggers"]["drift"].update(value)
        else:
            values[key] = value
    with pytest.raises(PlanError, match="is not the plan of use case") as caught:
        load_declared(USE_CASES_ROOT / use_case, write(tmp_path / PLAN, values))
    assert reason in str(caught.value)


def test_gxp_plan_replaces_the_plan_of_the_use_case_it_names_and_no_other(tmp_path: Path) -> None:
    values = plan_values("ae_triage")
    values["signatures"]["role_administrator_fingerprint"] = "SHA256:" + "A" * 43  # a pinned copy, as the demo's
    pinned = write(tmp_path / "plan-DEMO-ONLY.yaml", values)
    declared = declared_use_cases(override=pinned)
    assert declared["ae_triage"].plan.path == pinned
    assert declared["ae_triage"].plan.sha256 == load_plan(pinned).sha256
    assert declared["dissolution_risk"].plan.path == USE_CASES_ROOT / "dissolution_risk" / PLAN


def test_gxp_plan_naming_an_undeclared_use_case_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "use_cases"
    shutil.copytree(USE_CASES_ROOT / "ae_triage", root / "ae_triage")
    with pytest.raises(PlanError, match=r"governs use case 'dissolution_risk', which is not declared under .*"):
        declared_use_cases(root, override=USE_CASES_ROOT / "dissolution_risk" / PLAN)


@pytest.mark.parametrize(
    ("section", "old", "new"),
    [
        ("data_requirements", "min_ae", "min_positive"),
        ("acceptance_criteria", "ae_recall_tolerance", "positive_recall_tolerance"),
        ("acceptance_criteria", "subgroup_ae_recall_min", "subgroup_positive_recall_min"),
        ("acceptance_criteria", "subgroup_min_ae", "subgroup_min_positive"),
        ("conformal", "no_ae_confidence", "negative_confidence"),
        ("conformal", "priority_min_p_ae", "positive_min_probability"),
        ("guarantee", "by_source", "by_subgroup"),
        ("guarantee", "batch_documents", "batch_units"),
        ("retraining_triggers", "realized_ae_recall_min", "realized_positive_recall_min"),
        ("retraining_triggers", "realized_priority_precision_min", "realized_positive_precision_min"),
    ],
)
def test_a_2x_key_is_an_unknown_field_not_a_silent_default(tmp_path: Path, section: str, old: str, new: str) -> None:
    values = plan_values("ae_triage")
    values[section][old] = values[section].pop(new)
    with pytest.raises(PlanError, match=rf"{section}\.{old}: unknown field"):
        load_plan(write(tmp_path / PLAN, values))


def test_a_plan_must_name_its_use_case_and_require_known_roles(tmp_path: Path) -> None:
    values = plan_values("dissolution_risk")
    del values["use_case"]
    with pytest.raises(PlanError, match="use_case: required field is missing"):
        load_plan(write(tmp_path / PLAN, values))
    values = plan_values("dissolution_risk")
    values["approvals"]["required"][1]["role"] = "qualifed_person"  # misspelt: nobody could ever sign
    with pytest.raises(PlanError, match=r"approvals\.required\.1\.role.*unknown role 'qualifed_person'"):
        load_plan(write(tmp_path / PLAN, values))
