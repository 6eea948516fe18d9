"""The one place where governance events happen: registration, signatures, refusals, transitions, promotion.

Every event here is written to the audit trail as it happens, so the Dagster assets and the ``gxp`` command share
one implementation and cannot drift apart. Backends come in as protocols (a registry, an audit trail, a notifier),
so this stays plain Python. A model version is judged under the plan recorded with it, which must be the plan in
force for its own use case (governance/model_plan.py); ``plan`` is the plan of the use case the pipeline runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from gxp_assets.governance.approvals import ApprovalStatus, approval_status, check_signature
from gxp_assets.governance.audit import Anchor, AuditEntry
from gxp_assets.governance.model_plan import PlanNotAvailable, recorded_plan
from gxp_assets.governance.plan import LoadedPlan
from gxp_assets.governance.recorded_assets import recorded_asset
from gxp_assets.governance.registry import ModelVersion, State, Transition
from gxp_assets.governance.roles import Roles
from gxp_assets.governance.roles_control import (
    RolesApproval,
    RolesApprovalRefused,
    approved_roles,
    verify_roles_approval,
)
from gxp_assets.governance.signatures import (
    AuditHead,
    Meaning,
    Refusal,
    Signature,
    SignatureRefused,
    check_signing_time,
)
from gxp_assets.governance.verification import MODEL_ARTIFACTS, ChainEvidence, Verdict, verify_model_chain

__all__ = ["ActionRefused", "ApprovalStatus", "Governance", "VerificationFailed"]

ArtifactLoader = Callable[[str, str], object]
"""(asset, data_version) -> the stored value, hash-checked by the store; raises when it is missing or damaged."""
Alarm = Callable[[str, str, dict[str, Any]], object]
"""(kind, subject line, payload) -> tells people (the notifier); where it went is not needed here."""


class RegistryStore(Protocol):
    def register(self, version: str, use_case: str, record: dict, actor: str) -> ModelVersion: ...
    def get(self, version: str) -> ModelVersion | None: ...
    def versions(self, use_case: str | None = None) -> list[ModelVersion]: ...
    def active(self, use_case: str) -> ModelVersion | None: ...
    def transition(self, version: str, target: State, actor: str, reason: str) -> list[Transition]: ...
    def history(self, version: str | None = None) -> list[Transition]: ...
    def add_signature(self, version: str, signature: dict) -> None: ...
    def signatures(self, version: str | None = None) -> list[dict]: ...
    def add_roles_approval(self, approval: dict) -> None: ...
    def roles_approvals(self) -> list[dict]: ...


class AuditLog(Protocol):
    def append(self, actor: str, action: str, subject: str, details: dict, now: object = None) -> AuditEntry: ...
    def head(self) -> AuditEntry | None: ...
    def entries(self) -> list[AuditEntry]: ...
    def verify(self, anchors: Iterable[Anchor] = ()) -> list[str]: ...


class ActionRefused(Exception):
    """A governance action that the state of the record does not allow; ``code`` is stable, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class VerificationFailed(ActionRefused):
    """The chain of a model version did not verify at the point of use; ``verdict`` names every failure."""

    def __init__(self, verdict: Verdict, purpose: str) -> None:
        super().__init__("verification_failed", f"refused to {purpose}: {verdict.summary()}")
        self.verdict = verdict



def transition_details(transition: Transition) -> dict[str, object]:
    """The details of a transition's audit entry: one definition for every registry backend."""
    return {"from": transition.from_state, "to": transition.to_state, "reason": transition.reason}

class Governance:
    def __init__(
        self,
        registry: RegistryStore,
        audit: AuditLog,
        plan: LoadedPlan,
        roles: Roles,
        load_artifact: ArtifactLoader | None = None,
        alarm: Alarm | None = None,
        plans: Mapping[str, LoadedPlan] | None = None,
    ) -> None:
        """``plans``: use case -> the plan in force for it (default: ``plan`` for its own use case only)."""
        self.registry, self.audit, self.plan, self.roles = registry, audit, plan, roles
        self.load_artifact, self.send_alarm = load_artifact, alarm
        self.plans: dict[str, LoadedPlan] = dict(plans) if plans is not None else {plan.plan.use_case: plan}
        if self.plans.get(plan.plan.use_case, plan).sha256 != plan.sha256:
            raise ValueError(f"the pipeline's plan {plan.path} is not the plan in force for {plan.plan.use_case!r}")

    def audit_head(self) -> AuditHead | None:
        head = self.audit.head()
        return AuditHead(head.seq, head.entry_hash) if head else None

    def _require(self, version: str) -> ModelVersion:
        found = self.registry.get(version)
        if found is None:
            raise LookupError(f"no model version {version} in the registry")
        return found

    def _transition(self, version: str, target: State, actor: str, reason: str) -> list[Transition]:
        """A registry that can write a state change and its audit entries in one transaction (aws) does so;
        otherwise the entries follow the change."""
        atomic = getattr(self.registry, "transition_audited", None)
        if atomic is not None and hasattr(self.audit, "append_all"):
            made: list[Transition] = atomic(version, target, actor, reason, self.audit)
            return made
        made = self.registry.transition(version, target, actor, reason)
        for transition in made:
            self.audit.append(actor, "transition", transition.version, transition_details(transition))
        return made

    def refuse(self, actor: str, version: str, code: str, message: str, signature_id: str | None = None) -> None:
        """Audit a refusal; the caller then raises or reports it."""
        self.audit.append(actor, "refusal", version, {"code": code, "message": message, "signature_id": signature_id})

    # Registration ------------------------------------------------------------------------------------------------

    def register_candidate(self, version: str, record: dict, actor: str, failures: list[str]) -> ModelVersion:
        """CANDIDATE, then PENDING_APPROVAL when every criterion passed and the change is inside the plan, else
        REJECTED with the reasons. Registering a known version again changes nothing."""
        known = self.registry.get(version)
        registered = self.registry.register(version, record["use_case"], record, actor)
        if known is None:
            self.audit.append(
                actor,
                "transition",
                version,
                {"from": None, "to": State.CANDIDATE, "record_hash": registered.record_hash},
            )
        if registered.state == State.CANDIDATE:
            if failures:
                self._transition(version, State.REJECTED, actor, "; ".join(failures))
            else:
                reason = "all acceptance criteria met, inside the plan"
                self._transition(version, State.PENDING_APPROVAL, actor, reason)
        return self._require(version)

    # Signatures --------------------------------------------------------------------------------------------------

    def model_plan(self, model: ModelVersion, actor: str, signature_id: str | None = None) -> LoadedPlan:
        """The plan ``model`` is judged under (the one recorded with it, in force for its use case); when it is not
        available the refusal is audited and raised."""
        try:
            return recorded_plan(model, self.plans)
        except PlanNotAvailable as missing:
            self.refuse(actor, model.version, PlanNotAvailable.code, str(missing), signature_id)
            raise ActionRefused(PlanNotAvailable.code, f"refused: {missing}") from missing

    def approved_roles(self, plan: LoadedPlan | None = None) -> dict[str, Roles]:
        """Every roles file the role administrator pinned by ``plan`` (default: the pipeline's) approved, by hash."""
        pinned = (plan or self.plan).plan.signatures.role_administrator_fingerprint
        return approved_roles(self.registry.roles_approvals(), pinned)

    def approve_roles(self, approval: RolesApproval) -> None:
        """Put a roles file in force: the approval must be signed by a key that a plan in force pins (it then counts
        for that plan's use cases only); audited either way."""
        pinning = sorted(
            use_case
            for use_case, plan in self.plans.items()
            if plan.plan.signatures.role_administrator_fingerprint == approval.key_fingerprint
        )
        plan = self.plans[pinning[0]] if pinning else self.plan
        try:
            verify_roles_approval(approval, plan.plan.signatures.role_administrator_fingerprint)
        except RolesApprovalRefused as refusal:
            self.refuse(approval.administrator, "roles", "roles_approval_refused", str(refusal))
            raise ActionRefused("roles_approval_refused", f"roles approval refused: {refusal}") from refusal
        self.registry.add_roles_approval(approval.to_dict())
        self.audit.append(
            approval.administrator,
            "roles_approval",
            "roles",
            {"roles_sha256": approval.roles_sha256, "key_fingerprint": approval.key_fingerprint,
             "reason": approval.reason, "users": [user["user_id"] for user in approval.roles["users"]],
             "use_cases": pinning},
        )  # fmt: skip

    def _verify_or_refuse(self, model: ModelVersion, signature: Signature) -> None:
        """Verify a newly presented signature under the model's own plan: the system's clock, the roles file in force
        (approved by that plan's role administrator), and every check of an approval (no signature id may be used
        twice); audit and re-raise a refusal."""
        plan = self.model_plan(model, signature.user_id, signature.signature_id)
        used = {stored["signature_id"] for stored in self.registry.signatures()}
        tolerance = timedelta(minutes=plan.plan.signatures.time_tolerance_minutes)
        try:
            check_signing_time(signature, datetime.now(UTC), tolerance)
            in_force = self.roles.digest()
            if signature.roles_sha256 is not None and signature.roles_sha256 != in_force:
                raise SignatureRefused(
                    Refusal.OTHER_ROLES,
                    f"Signature {signature.signature_id} was made under roles file {signature.roles_sha256[:12]}, "
                    f"but the roles file in force is {in_force[:12]}.",
                )
            check_signature(plan.plan, model, signature, self.approved_roles(plan), used)
        except SignatureRefused as refusal:
            self.refuse(signature.user_id, model.version, str(refusal.code), str(refusal), signature.signature_id)
            raise

    def _audit_signature(self, version: str, signature: Signature) -> None:
        self.audit.append(
            signature.user_id,
            "signature",
            version,
            {
                "signature_id": signature.signature_id,
                "meaning": signature.meaning.value,
                "record_hash": signature.record_hash,
                "roles_sha256": signature.roles_sha256,
                "signed_at_claimed": signature.signed_at,
                "manifestation": signature.manifestation(),
            },
        )

    def submit_signature(self, version: str, signature: Signature) -> ModelVersion:
        """Verify and record a signature, then make the transition it completes (approval or rejection)."""
        model = self._require(version)
        expected = {Meaning.APPROVAL: State.PENDING_APPROVAL, Meaning.REJECTION: State.PENDING_APPROVAL}
        wanted_state = expected.get(signature.meaning)
        if wanted_state is not None and model.state != wanted_state:
            message = f"model {version} is {model.state}; a {signature.meaning} signature needs it {wanted_state}"
            self.refuse(signature.user_id, version, "wrong_state", message, signature.signature_id)
            raise ActionRefused("wrong_state", message)
        self._verify_or_refuse(model, signature)
        self.registry.add_signature(version, signature.to_dict())
        self._audit_signature(version, signature)
        if signature.meaning == Meaning.REJECTION:
            self._transition(version, State.REJECTED, signature.user_id, f"rejected: {signature.reason}")
        elif signature.meaning == Meaning.APPROVAL and self.approval_status(version).complete:
            self._transition(version, State.APPROVED, signature.user_id, "required signatures present and valid")
        return self._require(version)

    def approval_status(self, version: str) -> ApprovalStatus:
        """Re-verify every stored approval of ``version`` and compare them with what its own plan requires; without
        that plan nothing counts (a read: not audited; promotion and verification audit it)."""
        model = self._require(version)
        try:
            plan = recorded_plan(model, self.plans)
        except PlanNotAvailable as missing:
            return ApprovalStatus(complete=False, valid=[], missing=[str(missing)], refused={})
        return approval_status(plan.plan, model, self.registry.signatures(version), self.approved_roles(plan))

    # Verification at the point of use ----------------------------------------------------------------------------

    def audit_anchors(self) -> list[Anchor]:
        """Audit heads recorded in model records and signatures: a deleted tail cannot hide behind them."""
        found: list[Anchor] = []
        for model in self.registry.versions():
            if model.record.get("audit_head"):
                found.append((model.record["audit_head"]["seq"], model.record["audit_head"]["hash"]))
        for stored in self.registry.signatures():
            if stored.get("audit_head"):
                found.append((stored["audit_head"]["seq"], stored["audit_head"]["hash"]))
        return found

    def load_model_artifacts(self, model: ModelVersion) -> dict[str, object]:
        """The classifier, conformal record and drift reference the record names (or why each cannot be read)."""
        found: dict[str, object] = {}
        for asset, _ in MODEL_ARTIFACTS:
            stored, data_version = recorded_asset(model.record, asset)
            if data_version is None or self.load_artifact is None:
                continue
            try:
                found[asset] = self.load_artifact(stored, data_version)
            except Exception as error:
                found[asset] = error
        return found

    def verify(self, version: str, artifacts: dict[str, object] | None = None) -> Verdict:
        """The whole chain of ``version``, as it stands now (see governance/verification.py)."""
        model = self._require(version)
        entries = self.audit.entries()
        try:
            roles = self.approved_roles(recorded_plan(model, self.plans))
        except PlanNotAvailable:
            roles = {}  # the verdict names the missing plan
        evidence = ChainEvidence(
            model=model,
            plans=self.plans,
            history=self.registry.history(version),
            signatures=self.registry.signatures(version),
            audit_entries=entries,
            audit_problems=self.audit.verify(self.audit_anchors()),
            approved_roles=roles,
            artifacts=artifacts if artifacts is not None else self.load_model_artifacts(model),
        )
        return verify_model_chain(evidence)

    def alarm(self, actor: str, verdict: Verdict, purpose: str) -> None:
        """A failed verification at the point of use: an alarm in the audit trail, and people are told."""
        self.audit.append(actor, "alarm", verdict.version, {"kind": "verification_failed", "purpose": purpose,
                                                            **verdict.to_dict()})  # fmt: skip
        if self.send_alarm is not None:
            self.send_alarm("verification_failed", f"refused to {purpose}: model {verdict.version} failed "
                            f"verification ({', '.join(sorted({f.check for f in verdict.failures}))})",
                            verdict.to_dict())  # fmt: skip

    def require_verified(self, version: str, actor: str, purpose: str, artifacts: dict | None = None) -> Verdict:
        """Verify, and on any failure audit an alarm, notify and raise VerificationFailed."""
        verdict = self.verify(version, artifacts)
        if not verdict.ok:
            self.alarm(actor, verdict, purpose)
            raise VerificationFailed(verdict, purpose)
        return verdict

    # Promotion ---------------------------------------------------------------------------------------------------

    def promote(self, version: str, actor: str) -> ModelVersion:
        """APPROVED -> ACTIVE (the previous ACTIVE version retires), after verifying every approval again."""
        model = self._require(version)
        if model.state != State.APPROVED:
            message = f"model {version} is {model.state}; only an APPROVED version can be promoted"
            self.refuse(actor, version, "wrong_state", message)
            raise ActionRefused("wrong_state", message)
        try:
            recorded_plan(model, self.plans)
        except PlanNotAvailable:  # an edited or foreign plan is an alarm (audited, notified), not only a refusal
            self.require_verified(version, actor, f"promote model {version}")
        status = self.approval_status(version)
        if not status.complete:
            message = f"model {version} lacks valid approvals: {', '.join(status.missing)}"
            self.refuse(actor, version, "approvals_missing", message)
            raise ActionRefused("approvals_missing", message)
        self.require_verified(version, actor, f"promote model {version}")
        self._transition(version, State.ACTIVE, actor, "promoted with approvals " + ", ".join(
            s.signature_id for s in status.valid))  # fmt: skip
        return self._require(version)

    def rollback(self, version: str, signature: Signature) -> ModelVersion:
        """A signed return to an earlier version that was approved and active, now RETIRED."""
        model = self._require(version)
        if model.state != State.RETIRED:
            message = f"model {version} is {model.state}; a rollback returns to a RETIRED (once approved) version"
            self.refuse(signature.user_id, version, "wrong_state", message, signature.signature_id)
            raise ActionRefused("wrong_state", message)
        self._verify_or_refuse(model, signature)
        if signature.meaning != Meaning.APPROVAL:
            message = f"a rollback needs an approval signature, not {signature.meaning.value}"
            self.refuse(signature.user_id, version, "wrong_meaning", message, signature.signature_id)
            raise ActionRefused("wrong_meaning", message)
        self.registry.add_signature(version, signature.to_dict())
        self._audit_signature(version, signature)
        self._transition(version, State.ACTIVE, signature.user_id, f"rollback: {signature.reason}")
        return self._require(version)
