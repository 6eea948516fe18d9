"""Which signatures count for a model version: each checked against the approved roles file it carries.

Pure logic shared by the service (a signature being submitted) and the point-of-use verification (every signature
stored), so "valid" means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gxp_assets.governance.plan import ChangeControlPlan
from gxp_assets.governance.registry import ModelVersion
from gxp_assets.governance.roles import Roles
from gxp_assets.governance.signatures import Meaning, Signature, SignatureRefused, roles_for, verify_signature


@dataclass(frozen=True)
class ApprovalStatus:
    complete: bool
    valid: list[Signature]
    missing: list[str]
    refused: dict[str, str]  # signature id -> why it does not count


def check_signature(
    plan: ChangeControlPlan,
    model: ModelVersion,
    signature: Signature,
    approved: Mapping[str, Roles],
    used: Iterable[str] = (),
) -> Roles:
    """Verify one signature for ``model`` against its own approved roles file; returns that file or raises
    SignatureRefused (key, integrity, record, replay, role, separation of duties, roles file)."""
    roles = roles_for(signature, approved)
    required_role = None
    if signature.meaning in (Meaning.APPROVAL, Meaning.REJECTION):
        approvers = [required.role for required in plan.approvals.required]
        user = roles.user(signature.user_id)
        held = [role for role in approvers if user is not None and user.has_role(role)]
        required_role = held[0] if held else approvers[0]
    trainer = model.record.get("lineage", {}).get("trained_by")
    verify_signature(
        signature,
        model.record_hash,
        roles,
        required_role=required_role,
        trainer_user_id=trainer if plan.approvals.separation_of_duties else None,
        used_signature_ids=set(used),
    )
    return roles


def approval_status(
    plan: ChangeControlPlan, model: ModelVersion, stored: Iterable[Mapping[str, Any]], approved: Mapping[str, Roles]
) -> ApprovalStatus:
    """Re-verify every stored approval of ``model`` and compare them with what the plan requires."""
    valid: list[tuple[Signature, Roles]] = []
    refused: dict[str, str] = {}
    for body in stored:
        try:
            signature = Signature.from_dict(dict(body))
        except ValueError as error:
            refused[str(body.get("signature_id", "?"))] = f"unreadable: {error}"
            continue
        if signature.meaning != Meaning.APPROVAL:
            continue
        try:
            roles = check_signature(plan, model, signature, approved)
        except SignatureRefused as refusal:
            refused[signature.signature_id] = str(refusal)
            continue
        valid.append((signature, roles))
    missing = []
    signers: set[str] = set()
    for required in plan.approvals.required:
        match = [
            s
            for s, roles in valid
            if s.meaning.value == required.meaning
            and s.user_id not in signers
            and (user := roles.user(s.user_id)) is not None
            and user.has_role(required.role)
        ]
        if match:
            signers.add(match[0].user_id)
        else:
            missing.append(f"{required.meaning} by a {required.role}")
    distinct = len({s.user_id for s, _ in valid})
    if distinct < plan.approvals.min_signatures:
        missing.append(f"{plan.approvals.min_signatures - distinct} more signer(s)")
    return ApprovalStatus(complete=not missing, valid=[s for s, _ in valid], missing=missing, refused=refused)
