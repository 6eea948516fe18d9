"""Two use cases in one instance: each model is judged under the plan recorded with it, never the other use case's.

Real parts: the repository's declarations and plans (copied with a role administrator pinned per use case, as the
demo pins one), real Ed25519 keys and roles file, the SQLite registry and the hash-chained audit trail on disk.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gxp_assets.governance.registry import State, version_id
from gxp_assets.governance.roles import Roles, load_roles
from gxp_assets.governance.roles_control import approve_roles
from gxp_assets.governance.service import ActionRefused, Governance, VerificationFailed
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
from gxp_assets.governance.use_case import USE_CASES_ROOT, declared_use_cases
from gxp_assets.governance.verification import content_sha256
from gxp_assets.stores.audit_local import LocalAuditTrail
from gxp_assets.stores.registry_local import LocalRegistry

PASSPHRASE = "correct horse battery staple"
PEOPLE = {  # user id -> roles; the trainer holds none that approves
    "dsmith": ["data_scientist"],
    "qjones": ["qa_reviewer"],
    "mgarcia": ["pv_physician"],
    "hbauer": ["qualified_person"],
    "admin": ["model_owner"],
}


@dataclass
class World:
    governance: Governance
    roles: Roles
    keys: dict[str, Ed25519PrivateKey]
    artifacts: dict[tuple[str, str], object]
    root: Path

    def register(self, use_case: str, tag: str, plan_sha256: str | None = None) -> str:
        """A candidate of ``use_case`` built under its plan in force (or claiming ``plan_sha256``)."""
        plan = self.governance.plans[use_case]
        model, conformal = f"trees of {use_case} {tag}", {"use_case": use_case, "tag": tag}
        self.artifacts[("ae_classifier", f"m-{use_case}-{tag}")] = model
        self.artifacts[("conformal_model", f"c-{use_case}-{tag}")] = conformal
        version = version_id(use_case, content_sha256(model), content_sha256(conformal))
        record = {
            "version": version,
            "use_case": use_case,
            "model_sha256": content_sha256(model),
            "conformal_sha256": content_sha256(conformal),
            "plan": {"plan_id": plan.plan.plan_id, "version": plan.plan.version,
                     "sha256": plan_sha256 or plan.sha256},
            "lineage": {"trained_by": "dsmith", "assets": {
                "ae_classifier": {"data_version": f"m-{use_case}-{tag}"},
                "conformal_model": {"data_version": f"c-{use_case}-{tag}"}}},
        }  # fmt: skip
        registered = self.governance.register_candidate(version, record, "dsmith", [])
        assert registered.state == State.PENDING_APPROVAL
        return version

    def signature(self, user_id: str, version: str) -> Signature:
        user = self.roles.user(user_id)
        assert user is not None
        model = self.governance.registry.get(version)
        return sign(model.record_hash, Meaning.APPROVAL, "acceptance criteria met", user, self.keys[user_id],
                    self.governance.audit_head(), datetime.now(UTC), roles_sha256=self.roles.digest())  # fmt: skip

    def approve(self, version: str, *signers: str) -> None:
        for user_id in signers:
            self.governance.submit_signature(version, self.signature(user_id, version))
        assert self.governance.registry.get(version).state == State.APPROVED


def _pinned_use_cases(root: Path, administrators: dict[str, str]) -> Path:
    """The repository's declarations and plans, each plan pinning its use case's role administrator."""
    shutil.copytree(USE_CASES_ROOT, root)
    for use_case, fingerprint in administrators.items():
        path = root / use_case / "change_control_plan.yaml"
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        values["signatures"]["role_administrator_fingerprint"] = fingerprint
        path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return root


def _governance(world_root: Path, use_cases: Path, roles: Roles, artifacts: dict) -> Governance:
    plans = {use_case: found.plan for use_case, found in declared_use_cases(use_cases).items()}
    return Governance(
        LocalRegistry(world_root), LocalAuditTrail(world_root), plans["ae_triage"], roles,
        load_artifact=lambda asset, data_version: artifacts[(asset, data_version)], plans=plans,
    )  # fmt: skip


@pytest.fixture(scope="module")
def people() -> dict[str, tuple[bytes, str]]:
    return {user_id: create_key_pair(PASSPHRASE) for user_id in [*PEOPLE, "admin_dr"]}


def _world(tmp_path: Path, people: dict[str, tuple[bytes, str]], administrators: list[str]) -> World:
    """Use cases whose plans pin ``admin`` (ae_triage) and ``admin_dr`` (dissolution_risk); the one roles file
    approved by ``administrators``."""
    keys = {user_id: load_private_key(pem, PASSPHRASE) for user_id, (pem, _) in people.items()}
    entries = [{"user_id": user_id, "printed_name": user_id.title(), "roles": roles, "public_key": people[user_id][1]}
               for user_id, roles in PEOPLE.items()]  # fmt: skip
    (tmp_path / "roles.yaml").write_text(yaml.safe_dump({"users": entries}), encoding="utf-8")
    roles = load_roles(tmp_path / "roles.yaml")
    fingerprints = {"ae_triage": key_fingerprint(keys["admin"].public_key()),
                    "dissolution_risk": key_fingerprint(keys["admin_dr"].public_key())}  # fmt: skip
    use_cases = _pinned_use_cases(tmp_path / "use_cases", fingerprints)
    artifacts: dict[tuple[str, str], object] = {}
    governance = _governance(tmp_path / "home", use_cases, roles, artifacts)
    for administrator in administrators:
        governance.approve_roles(approve_roles(roles, keys[administrator], administrator, "reviewed"))
    return World(governance, roles, keys, artifacts, tmp_path)


@pytest.fixture
def world(tmp_path: Path, people: dict[str, tuple[bytes, str]]) -> World:
    return _world(tmp_path, people, ["admin", "admin_dr"])  # each use case's administrator approves the roles file


def refusals(governance: Governance, version: str) -> list[dict]:
    entries = governance.audit.entries()
    return [entry.details for entry in entries if entry.action == "refusal" and entry.subject == version]


def test_two_use_cases_are_active_side_by_side_each_under_its_own_plan(world: World) -> None:
    governance = world.governance
    ae, dissolution = world.register("ae_triage", "1"), world.register("dissolution_risk", "1")
    world.approve(ae, "qjones", "mgarcia")  # the AE plan: QA reviewer and PV physician
    world.approve(dissolution, "qjones", "hbauer")  # the dissolution plan: QA reviewer and qualified person
    governance.promote(ae, "admin")
    governance.promote(dissolution, "admin")
    assert governance.registry.active("ae_triage").version == ae
    assert governance.registry.active("dissolution_risk").version == dissolution
    for version in (ae, dissolution):
        assert governance.verify(version).ok, governance.verify(version).summary()
    # A new AE version retires the AE one only: the dissolution model stays ACTIVE.
    ae2 = world.register("ae_triage", "2")
    world.approve(ae2, "qjones", "mgarcia")
    governance.promote(ae2, "admin")
    assert governance.registry.get(ae).state == State.RETIRED
    assert governance.registry.active("ae_triage").version == ae2
    assert governance.registry.active("dissolution_risk").version == dissolution
    assert governance.verify(dissolution).ok


def test_an_approval_valid_under_the_ae_plan_is_refused_for_a_dissolution_model_and_conversely(world: World) -> None:
    governance = world.governance
    ae, dissolution = world.register("ae_triage", "1"), world.register("dissolution_risk", "1")
    with pytest.raises(SignatureRefused) as caught:  # a PV physician approves AE models, not batches
        governance.submit_signature(dissolution, world.signature("mgarcia", dissolution))
    assert caught.value.code == Refusal.MISSING_ROLE
    with pytest.raises(SignatureRefused) as caught:  # a qualified person certifies batches, not AE triage
        governance.submit_signature(ae, world.signature("hbauer", ae))
    assert caught.value.code == Refusal.MISSING_ROLE
    assert [details["code"] for details in refusals(governance, dissolution)] == ["missing_role"]
    assert [details["code"] for details in refusals(governance, ae)] == ["missing_role"]
    assert governance.approval_status(dissolution).missing == [
        "approval by a qa_reviewer",
        "approval by a qualified_person",
        "2 more signer(s)",
    ]


def test_a_model_claiming_the_other_use_cases_plan_is_refused_and_audited(world: World) -> None:
    governance = world.governance
    ae_plan = governance.plans["ae_triage"]
    forged = world.register("dissolution_risk", "forged", plan_sha256=ae_plan.sha256)
    with pytest.raises(ActionRefused, match="records the plan of use case 'ae_triage'") as caught:
        governance.submit_signature(forged, world.signature("mgarcia", forged))
    assert caught.value.code == "plan_not_available"
    assert refusals(governance, forged)[-1]["code"] == "plan_not_available"
    assert "its own use case's plan" in governance.approval_status(forged).missing[0]
    failures = {failure.check: failure.detail for failure in governance.verify(forged).failures}
    assert "records the plan of use case 'ae_triage'" in failures["plan"]


def test_a_roles_approval_counts_only_for_the_use_cases_whose_plan_pins_the_key(
    tmp_path: Path, people: dict[str, tuple[bytes, str]]
) -> None:
    world = _world(tmp_path, people, ["admin"])  # the AE administrator only
    assert world.governance.audit.head().details["use_cases"] == ["ae_triage"]
    dissolution = world.register("dissolution_risk", "1")
    with pytest.raises(SignatureRefused) as caught:  # the AE administrator cannot put people in force for batches
        world.governance.submit_signature(dissolution, world.signature("qjones", dissolution))
    assert caught.value.code == Refusal.ROLES_NOT_APPROVED
    ae = world.register("ae_triage", "1")
    world.approve(ae, "qjones", "mgarcia")


def test_a_model_whose_plan_was_edited_since_cannot_be_promoted_or_signed(world: World) -> None:
    dissolution, pending = world.register("dissolution_risk", "1"), world.register("dissolution_risk", "2")
    world.approve(dissolution, "qjones", "hbauer")
    path = world.root / "use_cases" / "dissolution_risk" / "change_control_plan.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("auroc_min: 0.8", "auroc_min: 0.7"), encoding="utf-8")
    edited = _governance(world.root / "home", world.root / "use_cases", world.roles, world.artifacts)
    with pytest.raises(VerificationFailed, match="is not available: the plan in force for 'dissolution_risk'"):
        edited.promote(dissolution, "admin")
    alarm = edited.audit.head()  # an alarm, audited: the plan changed under an approved model
    assert (alarm.action, alarm.subject) == ("alarm", dissolution)
    assert "plan" in {failure["check"] for failure in alarm.details["failures"]}
    assert edited.registry.get(dissolution).state == State.APPROVED
    with pytest.raises(ActionRefused, match="it changed after the model was built") as caught:
        edited.submit_signature(pending, world.signature("qjones", pending))
    assert caught.value.code == "plan_not_available"
    assert refusals(edited, pending)[-1]["code"] == "plan_not_available"
