"""Retraining within the change control plan: on a crossed trigger (drift sensor) or on the plan's schedule.

A retraining run is the ``train_model`` job on the ACTIVE model's own data configuration plus the adjudications
collected since. It ends at a new CANDIDATE: the plan's signed approvals are still needed to promote it. The sensor
and the schedule only ask; the run records the request (audit entry, notification) when it starts
(``retraining_request.py``), so a preview or an evaluation without a launched run leaves no trace.
"""

import copy
import json

from dagster import (
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from gxp_assets.defs.io_manager import LAUNCHED_BY_TAG
from gxp_assets.defs.jobs import UseCaseJobs
from gxp_assets.defs.retraining_request import EVIDENCE_TAG, SCHEDULE_ACTOR, SENSOR_ACTOR, TRIGGER_TAG
from gxp_assets.defs.use_case_scope import UseCaseScope
from gxp_assets.governance.service import Governance
from gxp_assets.stores import verified_results

__all__ = ["EVIDENCE_TAG", "TRIGGER_TAG", "retraining_schedules", "retraining_sensor"]
MAX_TAG_CHARS = 4000
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def retraining_run_config(scope: UseCaseScope, governance: Governance) -> dict | None:
    """The ACTIVE model's data configuration, now including the adjudicated reports; None without an ACTIVE model."""
    active = governance.registry.active(scope.id)
    if active is None:
        return None
    lineage = active.record["lineage"]
    run_id = (lineage["assets"].get("labelled_reports") or {}).get("run_id")
    run_config = scope.run_config(copy.deepcopy((lineage["runs"].get(run_id) or {}).get("run_config") or {}))
    run_config.pop("loggers", None)
    ops = run_config.setdefault("ops", {})
    source = ops.setdefault(scope.name("labelled_reports"), {}).setdefault("config", {})
    source["include_adjudicated"] = True
    return run_config


def retraining_sensor(scope: UseCaseScope, jobs: UseCaseJobs) -> SensorDefinition:
    """``scope``'s retraining trigger: its models' drift reports and realized performance against its plan."""

    @sensor(
        name=scope.name("retraining_triggers"),
        job=jobs.train_model,
        minimum_interval_seconds=60,
        description="Requests a retraining run (within the change control plan) when a drift report or the realized "
        "performance crosses a trigger of the plan; the run, once started, audits and notifies. The new candidate "
        "still needs approvals.",
    )
    def retraining_triggers(context: SensorEvaluationContext):
        after = int(context.cursor or 0)
        events = verified_results().monitoring_since(after)  # raises (a failed tick) when the index is untrusted
        if not events:
            return SkipReason("no new monitoring event")
        cursor = str(events[-1].id)  # past every use case's events: the others are their own sensors' business
        governance = scope.governance()
        crossed = [event for event in events if event.use_case == scope.id and event.alarms]
        if not crossed:
            return SensorResult(skip_reason=f"{len(events)} monitoring event(s), no trigger crossed", cursor=cursor)
        in_flight = context.instance.get_runs(
            filters=RunsFilter(
                job_name=jobs.train_model.name, statuses=IN_FLIGHT, tags={LAUNCHED_BY_TAG: SENSOR_ACTOR}
            ),
            limit=1,
        )
        if in_flight:  # the alarms are audited by their reports; one retraining at a time is enough
            return SensorResult(
                skip_reason=f"triggers crossed in {len(crossed)} event(s), but retraining run {in_flight[0].run_id} "
                "is still in progress",
                cursor=cursor,
            )
        run_config = retraining_run_config(scope, governance)
        if run_config is None:
            return SensorResult(skip_reason="a trigger was crossed but no model is ACTIVE to retrain", cursor=cursor)
        triggers = sorted({event.kind for event in crossed})
        evidence = [
            {"event": e.id, "kind": e.kind, "batch": e.batch, "model_version": e.model_version, "alarms": e.alarms}
            for e in crossed
        ]
        context.log.warning(f"retraining requested: {', '.join(triggers)} trigger(s) crossed")
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"retrain-after-event-{crossed[-1].id}",
                    run_config=run_config,
                    tags={
                        TRIGGER_TAG: ",".join(triggers),
                        EVIDENCE_TAG: json.dumps(evidence)[:MAX_TAG_CHARS],
                        LAUNCHED_BY_TAG: SENSOR_ACTOR,
                    },
                )
            ],
            cursor=cursor,
        )

    return retraining_triggers


def retraining_schedules(scope: UseCaseScope, jobs: UseCaseJobs) -> list[ScheduleDefinition]:
    """The routine retraining of ``scope``'s plan, when it asks for one (cron in UTC)."""
    cron = scope.plan().plan.retraining_triggers.schedule
    if cron is None:
        return []

    @schedule(
        name=scope.name("routine_retraining"),
        cron_schedule=cron,
        job=jobs.train_model,
        execution_timezone="UTC",
        description="Routine retraining on the change control plan's schedule; the candidate still needs approvals.",
    )
    def routine_retraining(context: ScheduleEvaluationContext):
        run_config = retraining_run_config(scope, scope.governance())
        if run_config is None:
            return SkipReason("no ACTIVE model to retrain")
        when = context.scheduled_execution_time.isoformat()
        return RunRequest(
            run_key=f"routine-{when}",
            run_config=run_config,
            tags={TRIGGER_TAG: "schedule", EVIDENCE_TAG: f"cron {cron} at {when}", LAUNCHED_BY_TAG: SCHEDULE_ACTOR},
        )

    return [routine_retraining]
