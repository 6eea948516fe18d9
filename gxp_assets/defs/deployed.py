"""The model a batch is scored with: a registered version's own artifacts, checked against its signed record.

Scoring loads the classifier, conformal record and drift reference by the data versions in the version's lineage
and uses them only once the whole chain verified (governance/verification.py): they hash to what the registry
recorded, the record to what the approvers signed, under the plan in force, reached by legal transitions; so what
runs in production is exactly what was approved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gxp_assets.core.drift import DriftReference
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.record_reference import REFERENCE_KIND, RecordReference
from gxp_assets.core.scoring import TriageModel
from gxp_assets.governance.registry import State
from gxp_assets.governance.service import Governance
from gxp_assets.stores.protocols import ArtifactStore


class NoActiveModel(RuntimeError):
    pass


@dataclass(frozen=True)
class DeployedModel:
    version: str
    state: State
    record: dict
    model: TriageModel
    spec: FeatureSpec
    reference: DriftReference | RecordReference | None  # None for versions registered before drift references

    @property
    def plan_version(self) -> str:
        plan = self.record["plan"]
        return f"{plan['plan_id']} {plan['version']}"


def drift_reference_of(values: dict) -> DriftReference | RecordReference:
    """A stored drift reference: of declared records when its ``kind`` says so (core.record_reference), else of
    reports (core.drift, which has no ``kind``)."""
    if values.get("kind") == REFERENCE_KIND:
        return RecordReference.from_dict(values)
    return DriftReference.from_dict(values)


def judged_sources(record: dict) -> frozenset[str]:
    """Sources whose AE recall the plan's subgroup rule judged on the test split, and passed: only their reports
    may be auto-closed in production (a source too small to judge is not vouched for)."""
    prefix = "subgroup_positive_recall_min["
    return frozenset(
        result["name"][len(prefix) : -1]
        for result in record.get("acceptance", [])
        if result["name"].startswith(prefix) and result["passed"]
    )


def deployed_model(
    governance: Governance, store: ArtifactStore, version: str | None = None, artifacts: dict | None = None
) -> DeployedModel:
    """The ACTIVE model of the plan's use case, or a given version (to re-explain a past scoring), only after
    its whole chain verified (record, artifacts, plan, approvals, transitions, audit trail): any failure is audited
    as an alarm, notified, and raised as VerificationFailed naming what failed. ``artifacts`` (decoded, by asset)
    come from elsewhere than the store, e.g. a serving container's model folder; they are verified the same way."""
    use_case = governance.plan.plan.use_case
    registered = governance.registry.get(version) if version else governance.registry.active(use_case)
    if registered is None:
        raise NoActiveModel(
            f"no {'model ' + version if version else 'ACTIVE model'} for {use_case}: train one, collect the "
            "plan's signed approvals (`gxp approve`) and promote it before scoring"
        )
    if artifacts is None:
        artifacts = governance.load_model_artifacts(registered)
    governance.require_verified(registered.version, "system", f"score with model {registered.version}", artifacts)
    record = registered.record
    model_text, conformal = artifacts["ae_classifier"], artifacts["conformal_model"]
    if not isinstance(model_text, str) or not isinstance(conformal, dict):
        raise NoActiveModel(f"the stored artifacts of {registered.version} are not a classifier and a record")
    values = artifacts.get("drift_reference")
    reference = drift_reference_of(values) if "drift_reference_sha256" in record and values else None
    model = replace(TriageModel.from_records(model_text, conformal), judged_sources=judged_sources(record))
    return DeployedModel(
        version=registered.version,
        state=registered.state,
        record=record,
        model=model,
        spec=FeatureSpec.from_dict(conformal["feature_spec"]),
        reference=reference,
    )
