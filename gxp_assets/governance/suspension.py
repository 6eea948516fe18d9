"""Suspensions of auto-close: started by the fail-safe, kept in the audit trail, lifted only by a signed decision.

The audit trail is the record of truth: a model's suspension stands from the first ``auto_close_suspended`` entry
after its last ``auto_close_suspension_lifted`` entry. Nothing else can lift it, so deleting a row of some other
table cannot resume auto-closing, and a new ACTIVE model starts without one (suspensions are per model version).
A lift is an electronic signature over the hash of a decision that names the model and the suspension entry, by a
person holding the plan's ``fail_safe.lift_role``; it cannot be moved to another suspension or used twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.governance.audit import AuditEntry
from gxp_assets.governance.service import ActionRefused, Governance
from gxp_assets.governance.signatures import (
    Meaning,
    Refusal,
    Signature,
    SignatureRefused,
    check_signing_time,
    roles_for,
    verify_signature,
)

SUSPENDED = "auto_close_suspended"
LIFTED = "auto_close_suspension_lifted"
WITHHELD = "auto_close_withheld"  # one batch that nothing could watch (too small, no reference): not standing
NOT_COVERED = "auto_close_not_covered"  # reports from sources the guarantee does not cover: recorded, not standing


@dataclass(frozen=True)
class Suspension:
    model_version: str
    seq: int  # the audit entry that started it
    reason: str
    batch: str | None
    at: str


def standing_suspension(entries: Iterable[AuditEntry], version: str) -> Suspension | None:
    """The suspension in force for ``version``, or None."""
    standing: Suspension | None = None
    for entry in entries:
        if entry.subject != version:
            continue
        if entry.action == SUSPENDED and standing is None:
            details = entry.details
            standing = Suspension(
                version, entry.seq, str(details.get("reason")), details.get("batch"), entry.recorded_at
            )
        elif entry.action == LIFTED:
            standing = None
    return standing


def lift_decision_hash(suspension: Suspension) -> str:
    """What a lift signs: this model, this suspension entry and its reason."""
    decision = {
        "decision": "lift the suspension of auto-close",
        "model_version": suspension.model_version,
        "suspension_entry": suspension.seq,
        "suspension_reason": suspension.reason,
    }
    return sha256_hex(canonical_json(decision))


def lift_suspension(
    governance: Governance, entries: list[AuditEntry], version: str, signature: Signature
) -> AuditEntry:
    """Verify a signed lift and record it; refusals are audited and raised."""
    suspension = standing_suspension(entries, version)
    if suspension is None:
        message = f"auto-close is not suspended for model {version}: there is nothing to lift"
        governance.refuse(signature.user_id, version, "not_suspended", message, signature.signature_id)
        raise ActionRefused("not_suspended", message)
    if signature.meaning != Meaning.APPROVAL:
        message = f"lifting a suspension needs an approval signature, not {signature.meaning.value}"
        governance.refuse(signature.user_id, version, "wrong_meaning", message, signature.signature_id)
        raise ActionRefused("wrong_meaning", message)
    used = {str(entry.details.get("signature", {}).get("signature_id")) for entry in entries if entry.action == LIFTED}
    model = governance.registry.get(version)  # judged under the model's own plan: its lift role, its administrator
    plan = governance.model_plan(model, signature.user_id, signature.signature_id) if model else governance.plan
    try:  # the controls of every other signature: the system's clock, an approved roles file in force
        tolerance = timedelta(minutes=plan.plan.signatures.time_tolerance_minutes)
        check_signing_time(signature, datetime.now(UTC), tolerance)
        verify_signature(
            signature,
            lift_decision_hash(suspension),
            roles_for(signature, governance.approved_roles(plan)),
            required_role=plan.plan.fail_safe.lift_role,
            trainer_user_id=None,
            used_signature_ids=used,
        )
        if signature.roles_sha256 != governance.roles.digest():
            raise SignatureRefused(
                Refusal.OTHER_ROLES, f"the lift was signed under roles file {str(signature.roles_sha256)[:12]}, "
                f"not under the roles file in force ({governance.roles.digest()[:12]})",
            )  # fmt: skip
    except SignatureRefused as refusal:
        governance.refuse(signature.user_id, version, str(refusal.code), str(refusal), signature.signature_id)
        raise
    return governance.audit.append(
        signature.user_id,
        LIFTED,
        version,
        {
            "suspension_entry": suspension.seq,
            "suspension_reason": suspension.reason,
            "signature": signature.to_dict(),
            "roles_sha256": signature.roles_sha256,
            "manifestation": signature.manifestation(),
        },
    )
