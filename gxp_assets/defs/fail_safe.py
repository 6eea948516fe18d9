"""The fail-safe's wiring: the plan's limits, the standing suspension of a model, and what a suspension writes.

Scoring calls :func:`watch` before it reads the batch and :func:`record_outcome` after measuring it and before
publishing any result, so a suspension is in the audit trail and in people's inboxes before a result could be read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gxp_assets.core.batch_scoring import BatchOutcome
from gxp_assets.core.conformal import Triage
from gxp_assets.core.drift import DriftLimits, DriftReference
from gxp_assets.core.fail_safe import FailSafe, is_standing
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.governance.plan import ChangeControlPlan
from gxp_assets.governance.suspension import NOT_COVERED, SUSPENDED, WITHHELD, standing_suspension
from gxp_assets.stores import audit_trail, notifier
from gxp_assets.stores.notifier import Notification


def drift_limits(plan: ChangeControlPlan) -> DriftLimits:
    """The plan's drift triggers, field for field."""
    return plan.retraining_triggers.drift.core()


def watch(version: str, reference: DriftReference | None, plan: ChangeControlPlan) -> FailSafe:
    """What a scoring run by ``version`` watches under its use case's ``plan``, with the suspension in force for it
    (from the audit trail)."""
    standing = standing_suspension(audit_trail().entries(), version)
    return FailSafe(
        reference=reference,
        limits=drift_limits(plan),
        suspend_on_drift=plan.fail_safe.suspend_on_drift,
        standing_suspension=standing.reason if standing else None,
    )


def record_outcome(
    batch: str,
    version: str,
    run_id: str,
    fail_safe: FailSafe,
    outcome: BatchOutcome,
    plan: ChangeControlPlan,
    negative: str = Triage.AUTO_CLOSE.value,
) -> list[str]:
    """Audit and notify a suspension (new or standing) and records no guarantee covers; returns what was sent.
    ``negative`` is the declared name of the fast route (the negative outcome) that people read in the messages."""
    lift_role = plan.fail_safe.lift_role
    sent = []
    drift = outcome.drift.to_dict() if outcome.drift is not None else None
    if outcome.suspension is not None and not is_standing(outcome.suspension):
        audit_trail().append(
            "system", WITHHELD, version, {"batch": batch, "run_id": run_id, "reason": outcome.suspension}
        )
    elif outcome.suspension is not None:
        new = fail_safe.standing_suspension is None
        details = {
            "batch": batch,
            "run_id": run_id,
            "reason": outcome.suspension,
            "new": new,
            "drift_alarms": outcome.drift.alarms if outcome.drift is not None else None,
            "drift_sha256": sha256_hex(canonical_json(drift)) if drift is not None else None,
            "lift": f"gxp suspension lift {version} --user ID --reason TEXT (role {lift_role})",
        }
        audit_trail().append("system", SUSPENDED, version, details)
        if new:
            sent.append(
                _notify(
                    "auto_close_suspended",
                    f"{_route(negative)} SUSPENDED for model {version} (batch {batch})",
                    f"{outcome.suspension}. Every record that would have been {negative} goes to REVIEW until a "
                    f"{lift_role} lifts the suspension with a signed decision (`gxp suspension lift {version}`) "
                    "or another model is ACTIVE.",
                    details,
                )
            )
    if outcome.tally.not_covered:
        counts = dict(sorted(outcome.tally.not_covered.items()))
        details = {"batch": batch, "run_id": run_id, "reports_by_source": counts}
        audit_trail().append("system", NOT_COVERED, version, details)
        sources = ", ".join(f"{source} ({count})" for source, count in counts.items())
        sent.append(
            _notify(
                "auto_close_not_covered",
                f"Records from subgroups the guarantee does not cover in batch {batch}",
                f"Model {version} was not calibrated on (or not judged for) these subgroups, so none of their records "
                f"is {negative}: {sources}.",
                details,
            )
        )
    return sent


def _route(negative: str) -> str:
    """AE triage's "Auto-close" as it always read; any other declared fast route by its name."""
    return "Auto-close" if negative == Triage.AUTO_CLOSE.value else negative


def _notify(kind: str, subject: str, body: str, payload: dict) -> str:
    return notifier().send(
        Notification(kind=kind, subject=subject, body=body, payload=payload, created_at=datetime.now(UTC))
    )
