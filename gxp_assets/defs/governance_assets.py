"""The governance half of the graph: the evaluated model as a registry candidate, and the ACTIVE model."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MetadataValue,
    Output,
    asset,
)

from gxp_assets.core.guarantee import Guarantee
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.model import load_classifier
from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.defs.lineage import walk_lineage
from gxp_assets.defs.loaded_inputs import loaded_by
from gxp_assets.defs.metadata import records_table, rounded
from gxp_assets.defs.provenance import current_user, git_commit, library_versions
from gxp_assets.defs.registry_observation import CANDIDATE, registry_observations
from gxp_assets.defs.use_case_scope import GOVERNANCE, UseCaseScope
from gxp_assets.governance.acceptance import data_requirements_met, evaluate_acceptance, within_plan
from gxp_assets.governance.registry import State, version_id
from gxp_assets.governance.use_case import UseCase
from gxp_assets.stores import notifier
from gxp_assets.stores.endpoint_switch import switch_endpoint
from gxp_assets.stores.notifier import Notification

LINEAGE_ASSETS = (
    "labelled_reports",
    "validated_reports",
    "quarantined_reports",
    "report_features",
    "dataset_splits",
    "ae_classifier",
    "conformal_model",
    "model_evaluation",
    "drift_reference",
)
CRITERIA = (
    "auroc_min",
    "positive_recall_min",
    "auto_close_min",
    "max_auroc_drop_vs_active",
    "subgroup_positive_recall_min",
)


def check_descriptions(declared: UseCase) -> dict[str, str]:
    """What each blocking check of model_candidate judges, as the UI shows it, in the use case's outcome names."""
    negative, positive = declared.triage.negative.name, declared.triage.positive.name
    return {
        "auroc_min": "Test-split AUROC is at least the change control plan's acceptance_criteria.auroc_min.",
        "positive_recall_min": f"Realized recall of the positive class ({declared.classes.positive}) on the test "
        "split is at least the guaranteed recall minus the plan's positive_recall_tolerance.",
        "auto_close_min": f"The share of test records routed {negative} is at least the plan's auto_close_min (the "
        "model is useful, not only safe).",
        "max_auroc_drop_vs_active": "AUROC does not drop by more than the plan allows against the ACTIVE model.",
        "subgroup_positive_recall_min": "Every subgroup with enough positive records keeps positive recall at or "
        "above the plan's subgroup_positive_recall_min.",
        "inside_change_control_plan": "The change stays inside what the plan allows without a new plan: feature "
        f"specification, model family, intended use, guarantee, {positive} floor and confidence levels.",
        "inputs_of_one_training": "Every input the registration loaded is the version the classifier was built from "
        "(no splits, evaluation or reference of another training), walked from the versions each step loaded.",
    }

METRICS_KEPT = ("auroc", "pr_auc", "best_f1", "ae_recall", "auto_close_share", "review_share", "brier", "ece")


def _lineage(context: AssetExecutionContext, scope: UseCaseScope) -> tuple[dict, list[str]]:
    """Data version, run and run config of every upstream materialization this candidate was built from, walked from
    the versions this step loaded (the classifier's chain first); and any input loaded at two versions."""
    walked = walk_lineage(context.instance, scope, loaded_by(context), first=("ae_classifier",))
    assets = {name: facts for name, facts in walked.assets.items() if name in LINEAGE_ASSETS}
    configs = {}
    for run_id in sorted({str(facts["run_id"]) for facts in assets.values()}):
        run = context.instance.get_run_by_id(run_id)
        if run is not None:
            configs[run_id] = {"run_config": run.run_config, "launched_by": run.tags.get(LAUNCHED_BY_TAG)}
    trainer_run = assets.get("ae_classifier", {}).get("run_id")
    trained_by = (configs.get(str(trainer_run)) or {}).get("launched_by") or current_user()
    return {"assets": assets, "runs": configs, "trained_by": trained_by}, walked.conflicts


class PromotionConfig(Config):
    version: str | None = None  # the registered version to promote; default: the latest model_candidate


def governance_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """``scope``'s evaluated model as a registry candidate under its plan, and its ACTIVE model."""
    descriptions = check_descriptions(scope.declaration())

    @asset(
        **scope.asset_args(GOVERNANCE),
        check_specs=[
            *(
                AssetCheckSpec(
                    name, asset=scope.key("model_candidate"), blocking=True, description=descriptions[name]
                )
                for name in (*CRITERIA, "inside_change_control_plan", "inputs_of_one_training")
            ),
        ],
        description="The evaluated model registered under the change control plan, with its lineage and verdict.",
    )
    def model_candidate(
        context: AssetExecutionContext,
        ae_classifier: str,
        conformal_model: dict,
        model_evaluation: dict,
        dataset_splits: pd.DataFrame,
        drift_reference: dict,
    ):
        governance = scope.governance()
        plan = governance.plan.plan
        metrics = model_evaluation["metrics"]
        active = governance.registry.active(plan.use_case)
        results = evaluate_acceptance(plan, metrics, active.record["metrics"] if active else None)
        model_sha256 = sha256_hex(ae_classifier.encode())
        conformal_sha256 = sha256_hex(canonical_json(conformal_model))
        feature_spec_sha256 = sha256_hex(canonical_json(conformal_model["feature_spec"]))
        family = load_classifier(ae_classifier).family  # from the model itself, not from what it is meant to be
        outside = within_plan(
            plan,
            {
                "feature_spec_sha256": feature_spec_sha256,
                "model_family": family,
                "intended_use_id": plan.intended_use.id,
                "modification": "retrain_on_new_adjudicated_data",
            },
        )
        recorded = conformal_model["conformal"]
        if Guarantee.from_dict(recorded["guarantee"]) != plan.guarantee.core():
            outside.append(f"recall guarantee {recorded['guarantee']} is not the plan's {plan.guarantee.model_dump()}")
        floor = conformal_model.get("triage_policy", {}).get("priority_min_p_ae")
        if floor != plan.conformal.positive_min_probability:
            outside.append(f"positive floor {floor} is not the plan's {plan.conformal.positive_min_probability}")
        if float(recorded["confidence"]["0"]) != plan.conformal.negative_confidence:
            outside.append(
                f"negative-class confidence {recorded['confidence']['0']} is not the plan's "
                f"{plan.conformal.negative_confidence}"
            )
        data_problems = data_requirements_met(
            plan, len(dataset_splits), int((dataset_splits["label"] == 1).sum()), newest_record_age_days=None
        )
        lineage, mixed = _lineage(context, scope)
        declaration = scope.loaded_declaration()  # its file's hash: a changed declaration is a controlled change
        lineage["use_case"] = {"id": declaration.use_case.id, "sha256": declaration.sha256}
        version = version_id(plan.use_case, model_sha256, conformal_sha256)
        head = governance.audit_head()
        record = {
            "version": version,
            "use_case": plan.use_case,
            "model_family": family,
            "model_sha256": model_sha256,
            "conformal_sha256": conformal_sha256,
            "feature_spec_sha256": feature_spec_sha256,
            "drift_reference_sha256": sha256_hex(canonical_json(drift_reference)),
            "metrics": {key: metrics[key] for key in METRICS_KEPT} | {"subgroups": metrics["subgroups"]},
            "guarantee": {"statement": recorded["statement"], "settings": recorded["guarantee"]},
            "plan": {"plan_id": plan.plan_id, "version": plan.version, "sha256": governance.plan.sha256},
            "acceptance": [result.model_dump() for result in results],
            "outside_plan": outside,
            "data_requirements": data_problems,
            "lineage": {**lineage, "code": git_commit(), "libraries": library_versions()},
            "audit_head": head.to_dict() if head else None,
        }
        failures = (
            [f"{r.name}: {r.detail}" for r in results if not r.passed]
            + [f"outside plan: {o}" for o in outside]
            + [f"data requirement: {problem}" for problem in data_problems]
            + [f"lineage: {conflict}" for conflict in mixed]
        )
        registered = governance.register_candidate(version, record, record["lineage"]["trained_by"], failures)
        context.log.info(f"model {version} registered: {registered.state}")
        for name in CRITERIA:
            matching = [r for r in results if r.name == name or r.name.startswith(f"{name}[")]
            yield AssetCheckResult(
                check_name=name,
                passed=all(r.passed for r in matching),
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "results": records_table(
                        [r.model_dump() for r in matching], ["name", "measured", "limit", "passed", "detail"]
                    ),
                    **(
                        {"measured": rounded(matching[0].measured), "limit": rounded(matching[0].limit)}
                        if len(matching) == 1
                        else {}
                    ),
                },
            )
        yield AssetCheckResult(
            check_name="inside_change_control_plan",
            passed=not outside,
            severity=AssetCheckSeverity.ERROR,
            metadata={"reasons": "; ".join(outside) or "none", "plan_sha256": governance.plan.sha256},
        )
        yield AssetCheckResult(
            check_name="inputs_of_one_training",
            passed=not mixed,
            severity=AssetCheckSeverity.ERROR,
            metadata={"conflicts": "; ".join(mixed) or "none"},
        )
        # A rerun that rebuilt the same model keeps the first registration: report what the registry holds.
        stored, lineage = registered, registered.record["lineage"]
        yield Output(
            {"version": version, "record": stored.record, "record_hash": stored.record_hash},
            metadata={
                "version": version,
                "state": str(stored.state),
                "record_hash": stored.record_hash,
                "plan_sha256": governance.plan.sha256,
                "trained_by": lineage["trained_by"],
                "git_commit": str(lineage["code"]["commit"]),
                "failures": "; ".join(failures) or "none",
                "acceptance_criteria": records_table(
                    [r.model_dump() for r in results], ["name", "measured", "limit", "passed", "detail"]
                ),
                "subgroups": records_table(stored.record["metrics"].get("subgroups", [])),
                "lineage": MetadataValue.json(
                    {
                        "data_versions": {name: facts["data_version"] for name, facts in lineage["assets"].items()},
                        "code": lineage["code"],
                        "libraries": lineage["libraries"],
                        "audit_head": stored.record["audit_head"],
                    }
                ),
            },
        )

    @asset(
        **scope.asset_args(GOVERNANCE),
        description="The model version in production: promoted to ACTIVE once the plan's signed approvals are valid.",
    )
    def active_model(context: AssetExecutionContext, config: PromotionConfig, model_candidate: dict) -> Output[dict]:
        governance = scope.governance()
        version = config.version or model_candidate["version"]
        model = governance.registry.get(version)
        if model is None:
            raise ValueError(f"no model version {version} is registered")
        if model.use_case != scope.id:  # each use case promotes its own models, under the plan recorded with them
            raise ValueError(f"model {version} is a model of {model.use_case}, not of {scope.id}: promote it there")
        if model.state == State.APPROVED:
            governance.promote(version, current_user())
            notifier().send(
                Notification(kind="model_activated", subject=f"model {version} is ACTIVE",
                             dedupe_key=f"active-{version}",
                             body=f"Model {version} of {model.use_case} went live, promoted by {current_user()}.",
                             payload={"version": version, "use_case": model.use_case, "record_hash": model.record_hash})
            )  # fmt: skip
        model = governance.registry.get(version)
        if model.state != State.ACTIVE:
            raise ValueError(f"model {version} is {model.state}: it needs the plan's approvals before it can be ACTIVE")
        # Also when this run did not promote: a deployment that failed after the promotion is made good by a rerun.
        deployment = switch_endpoint(governance, version, current_user(), "promotion")
        if deployment is not None:
            context.log.info(f"endpoint {deployment.endpoint} {deployment.action}: config {deployment.endpoint_config}")
        for observation in registry_observations(governance, version):
            if observation.asset_key == scope.key(CANDIDATE):  # the candidate's picture in the UI now says ACTIVE
                context.log_event(observation)
        status = governance.approval_status(version)
        manifestations = [signature.manifestation() for signature in status.valid]
        return Output(
            {"version": version, "record_hash": model.record_hash, "signatures": [s.to_dict() for s in status.valid]},
            metadata={
                "version": version,
                "state": str(model.state),
                "approvals": MetadataValue.md("\n".join(f"- {line}" for line in manifestations)),
            },
        )

    return [model_candidate, active_model]
