"""The monitoring page's content: drift and realized performance over time beside the plan's limits, and the
auto-close suspensions with who lifted them; read from the results store's monitoring events and the audit trail.
A suspension is lifted here through the CLI's path (governance.signing_as + governance.suspension.lift_suspension):
the person's key signs the lift decision once the passphrase typed for it unlocks the key, and the plan's lift role,
the roles file in force and every other control are checked and audited there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gxp_assets.console.auth import private_key_pem
from gxp_assets.governance.audit import AuditEntry
from gxp_assets.governance.service import ActionRefused, Governance
from gxp_assets.governance.signatures import Meaning, Signature
from gxp_assets.governance.signing_as import sign_as
from gxp_assets.governance.suspension import (
    LIFTED,
    SUSPENDED,
    Suspension,
    lift_decision_hash,
    lift_suspension,
    standing_suspension,
)
from gxp_assets.stores.results_protocol import ResultsStore

#: Measures shown per event kind, in the order people read them, with the plan limit that judges each.
DRIFT_MEASURES = (("score_psi", "score_psi_max"), ("unseen_ngram_share", "unseen_ngram_share_max"),
                  ("review_share", "review_share_increase_max"), ("domain_auc", "domain_auc_max"))  # fmt: skip
PERFORMANCE_MEASURES = (("ae_recall", "realized_positive_recall_min"),
                        ("priority_precision", "realized_positive_precision_min"))  # fmt: skip


@dataclass(frozen=True)
class Row:
    at: object
    kind: str
    batch: str | None
    model_version: str | None
    values: list[object]
    alarms: tuple[str, ...]


@dataclass(frozen=True)
class SuspensionEvent:
    """One suspension or lift as the page lists it: who (printed name and user id) and why."""

    at: str
    model_version: str
    lifted: bool
    actor: str
    printed_name: str
    reason: str
    manifestation: str


def _value(evidence: dict, name: str) -> object:
    found = evidence.get(name)
    if found is None and isinstance(evidence.get("measures"), dict):
        found = evidence["measures"].get(name)
    return found


def _event(governance: Governance, entry: AuditEntry) -> SuspensionEvent:
    person = governance.roles.user(entry.actor)
    lifted = entry.action == LIFTED
    signature = entry.details.get("signature") or {}
    reason = signature.get("reason") if lifted else entry.details.get("reason")
    return SuspensionEvent(entry.recorded_at, entry.subject, lifted, entry.actor,
                           person.printed_name if person else entry.actor, str(reason or ""),
                           str(entry.details.get("manifestation", "")))  # fmt: skip


def monitoring_view(results: ResultsStore, governance: Governance, user_id: str) -> dict:
    """Events (newest first) with their measures, the plan's limits, every suspension and lift with its actor, and
    the suspensions standing now (which ``user_id`` may lift if they hold the plan's lift role)."""
    triggers = governance.plan.plan.retraining_triggers
    limits = {**triggers.drift.model_dump(), **triggers.model_dump(exclude={"drift"})}
    drift, performance = [], []
    for event in reversed(results.monitoring_since(0, use_case=governance.plan.plan.use_case)):
        measures = DRIFT_MEASURES if event.kind == "drift" else PERFORMANCE_MEASURES
        row = Row(event.created_at, event.kind, event.batch, event.model_version,
                  [_value(event.evidence, name) for name, _ in measures], event.alarms)  # fmt: skip
        (drift if event.kind == "drift" else performance).append(row)
    entries = governance.audit.entries()
    marks = [entry for entry in entries if entry.action in (SUSPENDED, LIFTED)]
    versions = dict.fromkeys(entry.subject for entry in marks)
    standing = [found for version in versions if (found := standing_suspension(entries, version)) is not None]
    lift_role = governance.plan.plan.fail_safe.lift_role
    person = governance.roles.user(user_id)
    return {
        "drift": drift, "performance": performance, "suspensions": [_event(governance, e) for e in reversed(marks)],
        "standing": standing, "lift_role": lift_role, "may_lift": bool(person and lift_role in person.roles),
        "drift_heads": [(name, limits.get(limit)) for name, limit in DRIFT_MEASURES],
        "performance_heads": [(name, limits.get(limit)) for name, limit in PERFORMANCE_MEASURES],
    }  # fmt: skip


def lift(
    governance: Governance, version: str, user_id: str, key_folder: Path, secret: str, reason: str
) -> tuple[Suspension, Signature]:
    """``user_id`` lifts the standing suspension of ``version`` with a signature made here; refusals (nothing to
    lift, wrong passphrase, missing role, ...) are audited and raised as SignatureRefused / ActionRefused."""
    entries = governance.audit.entries()
    suspension = standing_suspension(entries, version)
    if suspension is None:
        message = f"auto-close is not suspended for model {version}: there is nothing to lift"
        governance.refuse(user_id, version, "not_suspended", message)
        raise ActionRefused("not_suspended", message)
    signature = sign_as(governance, user_id, private_key_pem(key_folder, user_id), secret, version,
                        lift_decision_hash(suspension), Meaning.APPROVAL, reason)  # fmt: skip
    lift_suspension(governance, entries, version, signature)
    return suspension, signature
