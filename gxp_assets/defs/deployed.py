"""The model a batch is scored with: a registered version's own artifacts, checked against its signed record.

Scoring loads the classifier, conformal record and drift reference by the data versions in the version's lineage
and refuses them unless they hash to what the registry recorded (and the approvers signed), so what runs in
production is exactly what was approved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gxp_assets.core.drift import DriftReference
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.scoring import TriageModel
from gxp_assets.governance.registry import State
from gxp_assets.governance.service import Governance
from gxp_assets.stores import codecs
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
    reference: DriftReference | None  # None for versions registered before drift references existed

    @property
    def plan_version(self) -> str:
        plan = self.record["plan"]
        return f"{plan['plan_id']} {plan['version']}"


def _load(store: ArtifactStore, version: str, lineage: dict, asset: str) -> object:
    facts = lineage["assets"].get(asset)
    if not facts or not facts.get("data_version"):
        raise NoActiveModel(f"model {version} records no {asset} in its lineage")
    ref = store.find(asset, facts["data_version"])
    return codecs.decode(store.read(ref), ref.suffix)


def judged_sources(record: dict) -> frozenset[str]:
    """Sources whose AE recall the plan's subgroup rule judged on the test split, and passed: only their reports
    may be auto-closed in production (a source too small to judge is not vouched for)."""
    prefix = "subgroup_ae_recall_min["
    return frozenset(
        result["name"][len(prefix) : -1]
        for result in record.get("acceptance", [])
        if result["name"].startswith(prefix) and result["passed"]
    )


def deployed_model(governance: Governance, store: ArtifactStore, version: str | None = None) -> DeployedModel:
    """The ACTIVE model of the plan's intended use, or a given version (to re-explain a past scoring)."""
    use_case = governance.plan.plan.intended_use.id
    registered = governance.registry.get(version) if version else governance.registry.active(use_case)
    if registered is None:
        raise NoActiveModel(
            f"no {'model ' + version if version else 'ACTIVE model'} for {use_case}: train one, collect the "
            "plan's signed approvals (`gxp approve`) and promote it before scoring"
        )
    record, lineage = registered.record, registered.record["lineage"]
    model_text = _load(store, registered.version, lineage, "ae_classifier")
    conformal = _load(store, registered.version, lineage, "conformal_model")
    if not isinstance(model_text, str) or not isinstance(conformal, dict):
        raise NoActiveModel(f"the stored artifacts of {registered.version} are not a classifier and a record")
    if sha256_hex(model_text.encode()) != record["model_sha256"]:
        raise NoActiveModel(f"the stored classifier of {registered.version} is not the one its record names")
    if sha256_hex(canonical_json(conformal)) != record["conformal_sha256"]:
        raise NoActiveModel(f"the stored conformal record of {registered.version} is not the one its record names")
    reference = None
    if "drift_reference_sha256" in record:
        values = _load(store, registered.version, lineage, "drift_reference")
        if sha256_hex(canonical_json(values)) != record["drift_reference_sha256"]:
            raise NoActiveModel(f"the stored drift reference of {registered.version} is not the one its record names")
        reference = DriftReference.from_dict(values)
    model = replace(TriageModel.from_records(model_text, conformal), judged_sources=judged_sources(record))
    return DeployedModel(
        version=registered.version,
        state=registered.state,
        record=record,
        model=model,
        spec=FeatureSpec.from_dict(conformal["feature_spec"]),
        reference=reference,
    )
