"""The one place where governance events happen: registration, signatures, refusals, transitions, promotion.

Every event here is written to the audit trail as it happens, so the Dagster assets and the ``gxp`` command share
one implementation and cannot drift apart. Backends come in as protocols (a registry, an audit trail), so this stays
plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gxp_assets.governance.audit import AuditEntry
from gxp_assets.governance.plan import LoadedPlan
from gxp_assets.governance.registry import ModelVersion, State, Transition
from gxp_assets.governance.roles import Roles
from gxp_assets.governance.signatures import AuditHead, Meaning, Signature, SignatureRefused, verify_signature


class RegistryStore(Protocol):
    def register(self, version: str, use_case: str, record: dict, actor: str) -> ModelVersion: ...
    def get(self, version: str) -> ModelVersion | None: ...
    def active(self, use_case: str) -> ModelVersion | None: ...
    def transition(self, version: str, target: State, actor: str, reason: str) -> list[Transition]: ...
    def add_signature(self, version: str, signature: dict) -> None: ...
    def signatures(self, version: str | None = None) -> list[dict]: ...


class AuditLog(Protocol):
    def append(self, actor: str, action: str, subject: str, details: dict, now: object = None) -> AuditEntry: ...
    def head(self) -> AuditEntry | None: ...


class ActionRefused(Exception):
    """A governance action that the state of the record does not allow; ``code`` is stable, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ApprovalStatus:
    complete: bool
    valid: list[Signature]
    missing: list[str]


class Governance:
    def __init__(self, registry: RegistryStore, audit: AuditLog, plan: LoadedPlan, roles: Roles) -> None:
        self.registry, self.audit, self.plan, self.roles = registry, audit, plan, roles

    def audit_head(self) -> AuditHead | None:
        head = self.audit.head()
        return AuditHead(head.seq, head.entry_hash) if head else None

    def _require(self, version: str) -> ModelVersion:
        found = self.registry.get(version)
        if found is None:
            raise LookupError(f"no model version {version} in the registry")
        return found

    def _transition(self, version: str, target: State, actor: str, reason: str) -> list[Transition]:
        made = self.registry.transition(version, target, actor, reason)
        for transition in made:
            self.audit.append(
                actor,
                "transition",
                transition.version,
                {"from": transition.from_state, "to": transition.to_state, "reason": transition.reason},
            )
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

    def _approver_roles(self) -> list[str]:
        return [required.role for required in self.plan.plan.approvals.required]

    def _verify(self, model: ModelVersion, signature: Signature, used: set[str]) -> None:
        """Raises SignatureRefused; checks key, integrity, record, replay, role and separation of duties."""
        required_role = None
        if signature.meaning in (Meaning.APPROVAL, Meaning.REJECTION):
            approvers = self._approver_roles()
            held = [role for role in approvers if self._holds(signature.user_id, role)]
            required_role = held[0] if held else approvers[0]
        trainer = model.record.get("lineage", {}).get("trained_by")
        verify_signature(
            signature,
            model.record_hash,
            self.roles,
            required_role=required_role,
            trainer_user_id=trainer if self.plan.plan.approvals.separation_of_duties else None,
            used_signature_ids=used,
        )

    def _verify_or_refuse(self, model: ModelVersion, signature: Signature) -> None:
        """Verify a newly presented signature (no signature id may be used twice); audit and re-raise a refusal."""
        used = {stored["signature_id"] for stored in self.registry.signatures()}
        try:
            self._verify(model, signature, used)
        except SignatureRefused as refusal:
            self.refuse(signature.user_id, model.version, str(refusal.code), str(refusal), signature.signature_id)
            raise

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
        self.audit.append(
            signature.user_id,
            "signature",
            version,
            {
                "signature_id": signature.signature_id,
                "meaning": signature.meaning.value,
                "record_hash": signature.record_hash,
                "manifestation": signature.manifestation(),
            },
        )
        if signature.meaning == Meaning.REJECTION:
            self._transition(version, State.REJECTED, signature.user_id, f"rejected: {signature.reason}")
        elif signature.meaning == Meaning.APPROVAL and self.approval_status(version).complete:
            self._transition(version, State.APPROVED, signature.user_id, "required signatures present and valid")
        return self._require(version)

    def _holds(self, user_id: str, role: str) -> bool:
        user = self.roles.user(user_id)
        return user is not None and user.has_role(role)

    def approval_status(self, version: str) -> ApprovalStatus:
        """Re-verify every stored approval of ``version`` and compare them with what the plan requires."""
        model = self._require(version)
        valid: list[Signature] = []
        for stored in self.registry.signatures(version):
            signature = Signature.from_dict(stored)
            if signature.meaning != Meaning.APPROVAL:
                continue
            try:
                self._verify(model, signature, used=set())
            except SignatureRefused:
                continue
            valid.append(signature)
        missing = []
        signers: set[str] = set()
        for required in self.plan.plan.approvals.required:
            match = [
                s
                for s in valid
                if s.meaning.value == required.meaning
                and s.user_id not in signers
                and self._holds(s.user_id, required.role)
            ]
            if match:
                signers.add(match[0].user_id)
            else:
                missing.append(f"{required.meaning} by a {required.role}")
        distinct = len({s.user_id for s in valid})
        if distinct < self.plan.plan.approvals.min_signatures:
            missing.append(f"{self.plan.plan.approvals.min_signatures - distinct} more signer(s)")
        return ApprovalStatus(complete=not missing, valid=valid, missing=missing)

    # Promotion ---------------------------------------------------------------------------------------------------

    def promote(self, version: str, actor: str) -> ModelVersion:
        """APPROVED -> ACTIVE (the previous ACTIVE version retires), after verifying every approval again."""
        model = self._require(version)
        if model.state != State.APPROVED:
            message = f"model {version} is {model.state}; only an APPROVED version can be promoted"
            self.refuse(actor, version, "wrong_state", message)
            raise ActionRefused("wrong_state", message)
        status = self.approval_status(version)
        if not status.complete:
            message = f"model {version} lacks valid approvals: {', '.join(status.missing)}"
            self.refuse(actor, version, "approvals_missing", message)
            raise ActionRefused("approvals_missing", message)
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
        self.audit.append(
            signature.user_id,
            "signature",
            version,
            {"signature_id": signature.signature_id, "meaning": "approval", "manifestation": signature.manifestation()},
        )
        self._transition(version, State.ACTIVE, signature.user_id, f"rollback: {signature.reason}")
        return self._require(version)
