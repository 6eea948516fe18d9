"""Both declared use cases in one Dagster instance, through the factory's jobs: ae_triage trained on demo reports and
dissolution_risk on synthetic batch records, each registered under its own plan, approved with real signatures by
the roles its plan names, promoted by its own promotion job, and ACTIVE side by side with its own lineage.

Real parts: the repository's declarations and plans (copied, each plan pinning the role administrator's key, and the
AE plan with limits a small demo corpus meets), Ed25519 keys, an approved roles file, the SQLite registry and
hash-chained audit trail, Dagster runs on a persistent instance.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dagster import DagsterInstance, ExecuteInProcessResult

from gxp_assets.cli.signing import pin_role_administrator
from gxp_assets.core.record_reference import RecordReference
from gxp_assets.definitions import SCOPES, defs
from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.governance.registry import State
from gxp_assets.governance.roles import Roles, load_roles
from gxp_assets.governance.roles_control import approve_roles
from gxp_assets.governance.service import Governance, RegistryStore
from gxp_assets.governance.signatures import (
    Meaning,
    Refusal,
    Signature,
    SignatureRefused,
    create_key_pair,
    key_fingerprint,
    load_private_key,
    sign,
)
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case
from gxp_assets.stores import artifact_store, codecs, open_governance
from gxp_assets_tests.conftest import PROJECT_ROOT, batch_record_file, relaxed_plan

AE, DISSOLUTION = "ae_triage", "dissolution_risk"
PASSPHRASE = "correct horse battery staple"
PEOPLE = {  # user id -> roles; the trainer holds none that approves
    "dsmith": ["data_scientist"],
    "qjones": ["qa_reviewer"],
    "mgarcia": ["pv_physician"],
    "hbauer": ["qualified_person"],
}
#: The smallest set of synthetic batches (seed 0) whose calibration split holds the 22 failing batches the plan's
#: guarantee needs and whose model meets every acceptance criterion of the real plan (1,500 is its min_records).
BATCHES, BATCH_SEED = 1500, 0
TRAINING = {
    AE: {"labelled_reports": {"config": {"format": "demo", "demo_documents": 250}},
         "ae_classifier": {"config": {"max_rounds": 80, "early_stopping_rounds": 15, "num_threads": 1}}},
    DISSOLUTION: {"ae_classifier": {"config": {"num_threads": 1}}},
}  # fmt: skip


def _governance() -> Governance:
    """The one registry and audit trail (a use case named: without one, open_governance reads GXP_PLAN or the
    repository's AE plan rather than the declarations under GXP_USE_CASES)."""
    return open_governance(use_case=DISSOLUTION)


def _registry() -> RegistryStore:
    return _governance().registry


@dataclass
class World:
    instance: DagsterInstance
    use_cases: Path
    roles: Roles
    keys: dict[str, Ed25519PrivateKey]
    versions: dict[str, str]
    training: dict[str, ExecuteInProcessResult]

    def signature(self, user_id: str, version: str) -> Signature:
        governance, user = _governance(), self.roles.user(user_id)
        assert user is not None
        record_hash = governance.registry.get(version).record_hash
        return sign(record_hash, Meaning.APPROVAL, "acceptance criteria met", user, self.keys[user_id],
                    governance.audit_head(), datetime.now(UTC), roles_sha256=self.roles.digest())  # fmt: skip

    def approve(self, use_case: str, *signers: str) -> None:
        version = self.versions[use_case]
        for user_id in signers:
            open_governance(use_case=use_case).submit_signature(version, self.signature(user_id, version))
        assert _registry().get(version).state == State.APPROVED

    def promote(self, job_use_case: str, version: str) -> ExecuteInProcessResult:
        scope = SCOPES[job_use_case]
        config = scope.run_config({"ops": {"active_model": {"config": {"version": version}}}})
        job = defs.resolve_job_def(scope.name("promote_model"))
        return job.execute_in_process(instance=self.instance, run_config=config, raise_on_error=False)


def _use_cases(root: Path, administrator: str) -> Path:
    """The repository's declarations and plans, both plans pinning ``administrator``; the AE plan relaxed."""
    shutil.copytree(USE_CASES_ROOT, root)
    relaxed_plan(root / AE / "change_control_plan.yaml")
    for use_case in (AE, DISSOLUTION):
        plan = root / use_case / "change_control_plan.yaml"
        pin_role_administrator(plan, administrator, plan)
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("side_by_side")
    people = {user_id: create_key_pair(PASSPHRASE) for user_id in [*PEOPLE, "admin"]}
    keys = {user_id: load_private_key(pem, PASSPHRASE) for user_id, (pem, _) in people.items()}
    entries = [{"user_id": user_id, "printed_name": user_id.title(), "roles": roles, "public_key": people[user_id][1]}
               for user_id, roles in PEOPLE.items()]  # fmt: skip
    (root / "roles.yaml").write_text(yaml.safe_dump({"users": entries}), encoding="utf-8")
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    use_cases = _use_cases(root / "use_cases", key_fingerprint(keys["admin"].public_key()))
    monkeypatch = pytest.MonkeyPatch()
    for name, value in {"GXP_HOME": root / "gxp", "DAGSTER_HOME": root / "dagster", "GXP_USE_CASES": use_cases,
                        "GXP_ROLES": root / "roles.yaml", "GXP_ENV": "local"}.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("GXP_PLAN", raising=False)  # each use case's plan is the one declared beside it
    roles = load_roles(root / "roles.yaml")
    _governance().approve_roles(approve_roles(roles, keys["admin"], "admin", "the test's people"))
    path = batch_record_file(root / "batches.csv", BATCHES, BATCH_SEED)
    records = {"labelled_reports": {"config": {"path": str(path)}}}
    training_ops = {**TRAINING, DISSOLUTION: {**TRAINING[DISSOLUTION], **records}}
    with DagsterInstance.get() as instance:
        versions, training = {}, {}
        for use_case in (DISSOLUTION, AE):
            scope = SCOPES[use_case]
            training[use_case] = defs.resolve_job_def(scope.name("train_model")).execute_in_process(
                instance=instance, run_config=scope.run_config({"ops": training_ops[use_case]}),
                tags={LAUNCHED_BY_TAG: "dsmith"},
            )  # fmt: skip
            assert training[use_case].success
            [versions[use_case]] = [model.version for model in _registry().versions(use_case)]
        yield World(instance, use_cases, roles, keys, versions, training)
    monkeypatch.undo()


def test_approvals_valid_under_the_other_use_cases_plan_are_refused(world: World) -> None:
    ae, dissolution = world.versions[AE], world.versions[DISSOLUTION]
    governance = _governance()
    with pytest.raises(SignatureRefused) as caught:  # a PV physician approves AE models, not batches
        governance.submit_signature(dissolution, world.signature("mgarcia", dissolution))
    assert caught.value.code == Refusal.MISSING_ROLE
    with pytest.raises(SignatureRefused) as caught:  # a qualified person certifies batches, not AE triage
        governance.submit_signature(ae, world.signature("hbauer", ae))
    assert caught.value.code == Refusal.MISSING_ROLE
    with pytest.raises(SignatureRefused) as caught:  # a QA approval of the AE model does not move to the other
        governance.submit_signature(dissolution, world.signature("qjones", ae))
    assert caught.value.code == Refusal.OTHER_RECORD
    refused = [entry.details["code"] for entry in governance.audit.entries()
               if entry.action == "refusal" and entry.subject == dissolution]  # fmt: skip
    assert refused == ["missing_role", "other_record"]
    for version in (ae, dissolution):
        assert governance.registry.get(version).state == State.PENDING_APPROVAL
        assert governance.approval_status(version).valid == []


def test_the_dissolution_model_is_approved_under_its_own_plan_and_promoted_by_its_own_job(world: World) -> None:
    _approve_and_promote_dissolution(world)


def _approve_and_promote_dissolution(world: World) -> None:
    version = world.versions[DISSOLUTION]
    checks = {e.check_name: e.passed for e in world.training[DISSOLUTION].get_asset_check_evaluations()}
    assert all(checks.values()) and "inputs_of_one_training" in checks, checks
    world.approve(DISSOLUTION, "qjones", "hbauer")  # its plan: a QA reviewer and a qualified person

    refused = world.promote(AE, version)  # the AE graph's promotion job does not promote a batch model
    assert not refused.success
    assert "is a model of dissolution_risk, not of ae_triage" in str(
        [event.event_specific_data.error.cause for event in refused.all_events if event.is_step_failure]
    )
    assert _registry().get(version).state == State.APPROVED

    assert world.promote(DISSOLUTION, version).success
    governance = _governance()
    assert governance.registry.active(DISSOLUTION).version == version
    model = governance.registry.get(version)
    assert model.use_case == DISSOLUTION and version.startswith("dissolution_risk-")
    metrics = model.record["metrics"]
    assert metrics["auroc"] >= 0.80 and metrics["ae_recall"] >= 0.75 and metrics["auto_close_share"] >= 0.10
    assert "with probability >= 90%" in model.record["guarantee"]["statement"]
    assert governance.verify(version).ok, governance.verify(version).summary()


def test_both_use_cases_are_active_side_by_side_each_with_its_own_lineage_plan_and_approvals(world: World) -> None:
    if _registry().get(world.versions[DISSOLUTION]).state != State.ACTIVE:  # run alone
        _approve_and_promote_dissolution(world)
    world.approve(AE, "qjones", "mgarcia")  # its plan: a QA reviewer and a PV physician
    assert world.promote(AE, world.versions[AE]).success

    signers = {AE: {"qjones", "mgarcia"}, DISSOLUTION: {"qjones", "hbauer"}}
    plans = {use_case: open_governance(use_case=use_case).plan for use_case in (AE, DISSOLUTION)}
    assert plans[AE].sha256 != plans[DISSOLUTION].sha256
    for use_case, other in ((AE, DISSOLUTION), (DISSOLUTION, AE)):
        governance = open_governance(use_case=use_case)
        version = world.versions[use_case]
        active = governance.registry.active(use_case)
        assert active is not None and active.version == version
        record = active.record
        assert record["plan"]["sha256"] == plans[use_case].sha256  # the plan recorded with it is its own
        assert record["plan"]["plan_id"] == plans[use_case].plan.plan_id
        declared = load_use_case(world.use_cases / use_case)
        assert record["lineage"]["use_case"] == {"id": use_case, "sha256": declared.sha256}
        lineage = record["lineage"]["assets"]
        assert {"labelled_reports", "validated_reports", "dataset_splits", "ae_classifier", "conformal_model",
                "model_evaluation", "drift_reference"} <= set(lineage)  # fmt: skip
        assert all(facts["asset_key"].startswith(f"{use_case}/") for facts in lineage.values()), lineage
        assert not any(other in str(facts) for facts in lineage.values())
        assert {signature.user_id for signature in governance.approval_status(version).valid} == signers[use_case]
        assert governance.verify(version).ok, governance.verify(version).summary()
    # Each model's reference is its own kind: the records' one for the tabular use case, the text one for AE.
    store = artifact_store()
    kinds = {}
    for use_case in (AE, DISSOLUTION):
        record = _registry().get(world.versions[use_case]).record
        facts = record["lineage"]["assets"]["drift_reference"]
        ref = store.find(facts["asset_key"], facts["data_version"])
        kinds[use_case] = codecs.decode(store.read(ref), ref.suffix).get("kind")
    assert kinds == {AE: None, DISSOLUTION: "records"}
    RecordReference.from_dict(codecs.decode(store.read(ref), ref.suffix))
