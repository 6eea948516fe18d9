"""What a retraining run records about why it was started: an audit entry and a notification, written by the run.

Sensors and schedules only ask (a RunRequest with the trigger and its evidence in tags); evaluating them, also under
``dagster sensor preview`` or a skipped tick, writes nothing. The run that actually starts records the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from dagster import AssetExecutionContext

from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.governance.service import Governance
from gxp_assets.stores import notifier
from gxp_assets.stores.notifier import Notification

SENSOR_ACTOR = "sensor:retraining_triggers"
SCHEDULE_ACTOR = "schedule:routine_retraining"  # the same actors in every use case: the entry names the use case
TRIGGER_TAG, EVIDENCE_TAG = "gxp/trigger", "gxp/trigger_evidence"


def _evidence(raw: str) -> list | str:
    try:
        return json.loads(raw)
    except ValueError:  # a schedule's evidence is a sentence; a truncated tag is kept as written
        return raw


def record_retraining_request(context: AssetExecutionContext, open_governance: Callable[[], Governance]) -> None:
    """In a run started by a retraining trigger: audit it and notify, once per run (its first asset calls this);
    ``open_governance()`` gives the governance of the run's use case, opened only in such a run."""
    tags = context.run.tags
    if TRIGGER_TAG not in tags:
        return
    governance = open_governance()
    triggers = tags[TRIGGER_TAG].split(",")
    evidence = _evidence(tags.get(EVIDENCE_TAG, ""))
    details = {"triggers": triggers, "evidence": evidence, "plan_sha256": governance.plan.sha256,
               "run_id": context.run_id}  # fmt: skip
    actor = tags.get(LAUNCHED_BY_TAG) or SENSOR_ACTOR
    governance.audit.append(actor, "retraining_requested", governance.plan.plan.use_case, details)
    subject = f"Retraining started: {', '.join(triggers)} trigger(s) of the change control plan"
    lines = [f"- {e.get('kind')} {e.get('batch') or ''} (model {e.get('model_version') or '-'}): "
             f"{'; '.join(e.get('alarms') or [])}" for e in evidence if isinstance(e, dict)] if isinstance(
        evidence, list) else [str(evidence)]  # fmt: skip
    notifier().send(
        Notification(
            kind="retraining_requested",
            subject=subject,
            body=f"{subject} (run {context.run_id}).\n"
            + "\n".join(lines)
            + "\nThe new candidate will need the plan's signed approvals.",
            payload=details,
            created_at=datetime.now(UTC),
        )
    )
    context.log.warning(subject)
