"""Sensors: promotion once approvals are complete (nothing promotes itself), and the landing zone."""

import json

from dagster import (
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from gxp_assets.core.hashing import sha256_file, sha256_hex
from gxp_assets.defs.jobs import UseCaseJobs
from gxp_assets.defs.landing_refusals import REFUSALS_OP
from gxp_assets.defs.use_case_scope import UseCaseScope
from gxp_assets.governance.registry import State
from gxp_assets.stores.landing import ADJUDICATIONS, REFUSED, REPORTS, LandedFile, batch_key


def _new_content(cursor: dict, kind: str, files: list[LandedFile]) -> list[tuple[LandedFile, str]]:
    """Files with content not taken before, each with its SHA-256; a file is hashed once per (size, mtime)."""
    stats, taken = cursor.setdefault(f"{kind}_files", {}), cursor.setdefault(f"{kind}_hashes", {})
    new = []
    for file in files:
        known = stats.get(str(file.path))
        if known and known[:2] == [file.size, file.mtime_ns]:
            continue
        sha256 = sha256_file(file.path)
        stats[str(file.path)] = [file.size, file.mtime_ns, sha256]
        if sha256 in taken:
            continue  # the same content again, under this or another name: taken once
        taken[sha256] = file.name
        new.append((file, sha256))
    return new


def _report_waiting(
    context: SensorEvaluationContext, cursor: dict, waiting: dict[str, dict[str, str]]
) -> dict[str, str]:
    """Log why each entry was left alone; return the refusals (link, sub-folder, device) not asked about before, for
    a ``landing_refusals`` run to audit (the sensor itself writes nothing outside a run)."""
    asked, new = cursor.setdefault("refused", {}), {}
    for kind, reasons in waiting.items():
        for name, why in reasons.items():
            if not why.startswith(REFUSED):
                context.log.info(f"not taken yet: {name}: {why}")
                continue
            context.log.warning(f"{kind}/{name}: {why}")
            if asked.get(f"{kind}/{name}") != why:
                new[f"{kind}/{name}"] = asked[f"{kind}/{name}"] = why
    return new


def _refusals_request(refusals: dict[str, str], job_name: str) -> RunRequest:
    digest = sha256_hex(json.dumps(refusals, sort_keys=True).encode())
    return RunRequest(
        run_key=f"refused-{digest[:16]}",
        job_name=job_name,
        run_config={"ops": {REFUSALS_OP: {"config": {"refusals": refusals}}}},
    )


def use_case_sensors(scope: UseCaseScope, jobs: UseCaseJobs) -> list[SensorDefinition]:
    """``scope``'s promotion sensor (with the governance stage's job) and the sensor on its landing folder (with
    the scoring and monitoring jobs)."""
    built = []
    if jobs.promote_model is not None:
        built.append(_approved_models(scope, jobs.promote_model))
    if jobs.score_batch is not None and jobs.monitor_performance is not None and jobs.landing_refusals is not None:
        built.append(_landing_files(scope, jobs.score_batch, jobs.monitor_performance, jobs.landing_refusals))
    return built


def _approved_models(scope: UseCaseScope, promote_model: UnresolvedAssetJobDefinition) -> SensorDefinition:

    @sensor(
        name=scope.name("approved_models"),
        job=promote_model,
        minimum_interval_seconds=30,
        description="Promotes APPROVED model versions of this use case to ACTIVE.",
    )
    def approved_models(context: SensorEvaluationContext):
        governance = scope.governance()
        requested = set(json.loads(context.cursor)) if context.cursor else set()
        approved = [model.version for model in governance.registry.versions()
                    if model.state == State.APPROVED and model.use_case == scope.id]  # fmt: skip
        new = [version for version in approved if version not in requested]
        if not new:
            return SkipReason(f"no newly approved model version ({len(approved)} approved, all requested before)")
        context.update_cursor(json.dumps(sorted(requested | set(new))))
        return [
            RunRequest(
                run_key=f"promote-{version}",
                run_config=scope.run_config({"ops": {"active_model": {"config": {"version": version}}}}),
                tags={"gxp/model_version": version},
            )
            for version in new
        ]

    return approved_models


def _landing_files(
    scope: UseCaseScope,
    score_batch: UnresolvedAssetJobDefinition,
    monitor_performance: UnresolvedAssetJobDefinition,
    landing_refusals: JobDefinition,
) -> SensorDefinition:
    @sensor(
        name=scope.name("landing_files"),
        jobs=[score_batch, monitor_performance, landing_refusals],
        minimum_interval_seconds=30,
        description="Registers each settled batch file in the landing zone as a partition and scores it once (run "
        "key = the file's SHA-256); new adjudication files start the realized-performance check; refused entries "
        "(links, sub-folders, devices) are audited by a landing_refusals run.",
    )
    def landing_files(context: SensorEvaluationContext):
        zone = scope.landing()
        receipts = zone.pull()  # aws: objects the Records queue announced, copied into the zone's folder
        cursor = json.loads(context.cursor) if context.cursor else {}
        reports, waiting = zone.scan(REPORTS)
        labels, waiting_labels = zone.scan(ADJUDICATIONS)
        refused = _report_waiting(context, cursor, {REPORTS: waiting, ADJUDICATIONS: waiting_labels})
        requests, keys = ([_refusals_request(refused, landing_refusals.name)] if refused else []), []
        for file, sha256 in _new_content(cursor, REPORTS, reports):
            key = batch_key(file.name, sha256)
            if context.instance.has_dynamic_partition(scope.batches.name, key):
                context.log.info(f"{file.name}: batch {key} is registered already (scored by `gxp score` or earlier)")
                continue
            keys.append(key)
            requests.append(
                RunRequest(
                    run_key=sha256,
                    partition_key=key,
                    job_name=score_batch.name,
                    tags={"gxp/batch_file": file.name, "gxp/batch_sha256": sha256},
                )
            )
        new_labels = _new_content(cursor, ADJUDICATIONS, labels)
        if new_labels:
            names = ", ".join(file.name for file, _ in new_labels)
            requests.append(
                RunRequest(
                    run_key="adjudications-" + "-".join(sha256[:12] for _, sha256 in new_labels),
                    job_name=monitor_performance.name,
                    tags={"gxp/adjudication_files": names[:1000]},
                )
            )
        zone.acknowledge(receipts)  # the run requests are made: their announcements may go
        if not requests:
            return SensorResult(
                skip_reason=f"no new file ({len(waiting) + len(waiting_labels)} waiting)", cursor=json.dumps(cursor)
            )
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[scope.batches.build_add_request(keys)] if keys else [],
            cursor=json.dumps(cursor),
        )

    return landing_files
