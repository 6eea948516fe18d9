"""Inference: each batch file that lands becomes a partition, is scored by the ACTIVE model and reconciled."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from gxp_assets.core.batch_scoring import DEFAULT_CHUNK_RECORDS, BatchOutcome, BatchTally, ScoringStamp
from gxp_assets.core.conformal import Triage
from gxp_assets.core.validation import ValidationRules
from gxp_assets.defs.batch_reading import batch_reader, regulatory_clock
from gxp_assets.defs.deployed import deployed_model
from gxp_assets.defs.evidence import attach
from gxp_assets.defs.fail_safe import record_outcome, watch
from gxp_assets.defs.metadata import count_table
from gxp_assets.defs.scoring_place import BatchToScore, Publishing, ScoringPlace, stored_bundle
from gxp_assets.defs.use_case_scope import INFERENCE, UseCaseScope
from gxp_assets.stores import artifact_store, audit_trail, notifier, results_store
from gxp_assets.stores.landing import batch_key
from gxp_assets.stores.local import default_home
from gxp_assets.stores.notifier import Notification
from gxp_assets.stores.results_integrity import RESULTS_ACTION
from gxp_assets.stores.scratch import Scratch

PRIORITY_LISTED = 100
PRIORITY_COLUMNS = ["report_id", "p_ae", "due_at", "source", "text"]


class ScoringConfig(Config):
    chunk_records: int = Field(default=DEFAULT_CHUNK_RECORDS, gt=0, description="records read and scored at once")
    explain_top_k: int = Field(default=3, ge=0, description="top contributing features kept per report")
    encoding: str | None = Field(default=None, description="the batch files' encoding when not UTF-8 and no BOM")
    max_text_chars: int = Field(default=20_000, gt=0)
    future_tolerance_seconds: int = Field(default=300, ge=0)
    regulatory_clock_days: int | None = Field(
        default=None, gt=0, description="days from receipt to due date; default: the use case's declared regulatory "
        "clock (none declared: due_at stays empty)"
    )  # fmt: skip

    def rules(self) -> ValidationRules:
        """Training's rules, except that incoming reports carry no label yet and must carry their receipt time."""
        return ValidationRules(
            max_text_chars=self.max_text_chars,
            require_label=False,
            require_received_at=True,
            future_tolerance=timedelta(seconds=self.future_tolerance_seconds),
        )


PRIORITY_SHOWN = 20


def _due(value: object) -> str:
    return "-" if pd.isna(value) else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _priority_table(queue: pd.DataFrame, full_table: str, outcome: str) -> str:
    """The first rows of the batch's positive-outcome queue (``outcome``: its declared name), saying how many there
    are and where the full table is."""
    if queue.empty:
        return f"no {outcome} records"
    rows = [
        f"| {row.report_id} | {_due(row.due_at)} | {row.p_ae:.3f} | {row.source} | "
        f"{str(row.text)[:80].replace('|', '/')} |"
        for row in queue.head(PRIORITY_SHOWN).itertuples()
    ]
    shown = min(PRIORITY_SHOWN, len(queue))
    note = f"\n\nshowing {shown} of {len(queue)}; the full table: `{full_table}` (priority_queue_file)"
    return "| record | due | p | subgroup | text |\n|---|---|---|---|---|\n" + "\n".join(rows) + note


def _notify_priority(
    context: AssetExecutionContext, batch: str, priority: pd.DataFrame, model_version: str, outcome: str
) -> str | None:
    """Tell people positive-outcome records (``outcome``: the declared name of PRIORITY) arrived; ``priority`` is
    sorted earliest due date first."""
    if priority.empty:
        return None
    first_due = priority["due_at"].iloc[0]
    due = f"; first due {first_due:%Y-%m-%d %H:%M} UTC" if not pd.isna(first_due) else ""
    subject = f"{len(priority)} {outcome} record(s) in batch {batch}{due}"
    listed = priority.head(PRIORITY_LISTED)
    message = Notification(
        kind="priority_reports",
        subject=subject,
        body=f"{subject}. Open the queue with `gxp queue`.",
        payload={
            "batch": batch,
            "outcome": outcome,
            "priority_reports": len(priority),
            "reports": [
                {"report_id": row.report_id, "due_at": None if pd.isna(row.due_at) else row.due_at.isoformat(),
                 "p_ae": round(float(row.p_ae), 4)}
                for row in listed.itertuples()
            ],
        },
        created_at=datetime.now(UTC),
        dedupe_key=f"priority_reports:{batch}:{model_version}",  # scored twice at once: one message
    )
    where = notifier().send(message)
    context.log.warning(f"{subject} (notified: {where})")
    return where


def _reconciliation_problems(tally: BatchTally, summary) -> list[str]:
    """Received = scored + quarantined, by record: every intake position exactly once across the stored files."""
    scored = pq.read_table(summary.predictions_path, columns=["intake_seq"])["intake_seq"].to_numpy()
    held = pq.read_table(summary.quarantine_path, columns=["intake_seq"])["intake_seq"].to_numpy()
    problems = []
    if len(scored) + len(held) != tally.received:
        problems.append(f"{tally.received} records in, {len(scored)} scored + {len(held)} quarantined")
    if (summary.scored, summary.quarantined) != (len(scored), len(held)):
        problems.append(
            f"the results index counts {summary.scored} + {summary.quarantined}, the files {len(scored)} + {len(held)}"
        )
    seen = np.sort(np.concatenate([scored, held]))
    if (duplicated := int((np.diff(seen) == 0).sum())) > 0:
        problems.append(f"{duplicated} records both scored and quarantined, or stored twice")
    if missing := np.setdiff1d(np.arange(tally.received), seen)[:5].tolist():
        problems.append(f"records neither scored nor quarantined, e.g. intake positions {missing}")
    return problems


def inference_assets(scope: UseCaseScope) -> list[AssetsDefinition]:
    """``scope``'s batches: each landed file kept byte for byte, then scored by the use case's ACTIVE model."""
    batch_files = f"{scope.key('incoming_reports').to_user_string()}/files"  # the kept copies, in the store

    @asset(
        **scope.asset_args(INFERENCE),
        partitions_def=scope.batches,
        description="A batch file from the landing zone, kept byte for byte: the evidence of what was received.",
    )
    def incoming_reports(context: AssetExecutionContext) -> Output[dict]:
        batch = context.partition_key
        path = scope.landing().locate(batch)
        ref = artifact_store().put_file(batch_files, batch, path, path.suffix.lower(), context.run_id)
        if batch != batch_key(path.name, ref.sha256):
            raise ValueError(f"{path} changed while it was taken (its copy hashes to {ref.sha256}): land it again")
        context.log.info(f"batch {batch}: kept {path.name} ({ref.size:,} bytes, SHA-256 {ref.sha256[:12]})")
        manifest = {
            "batch": batch,
            "file_name": path.name,
            "landing_path": str(path),
            "sha256": ref.sha256,
            "bytes": ref.size,
            "suffix": ref.suffix,
            "taken_at": datetime.now(UTC).isoformat(),
        }
        return Output(
            manifest,
            metadata={"file": MetadataValue.path(str(path)), "file_sha256": ref.sha256, "file_bytes": ref.size},
        )

    @asset(
        **scope.asset_args(INFERENCE),
        partitions_def=scope.batches,
        deps=[
            scope.key("active_model")
        ],  # lineage as drawn in DESIGN.md; the version used is read from the registry at run time
        check_specs=[
            AssetCheckSpec(
                "batch_reconciled",
                asset=scope.key("scored_reports"),
                blocking=True,
                description="Every record received is either scored or quarantined, exactly once, in the stored files "
                "and in the results index.",
            )
        ],
        description="Every record of the batch scored by the ACTIVE model (p_ae, conformal set, triage, explanation) "
        "or quarantined with a reason; results in the results store, replacing any earlier run of the batch.",
    )
    def scored_reports(
        context: AssetExecutionContext, config: ScoringConfig, scoring: ScoringPlace, incoming_reports: dict
    ):
        batch, declaration = incoming_reports["batch"], scope.declaration()
        store, governance = artifact_store(), scope.governance()
        deployed = deployed_model(governance, store)
        path = store.local_path(store.find(batch_files, incoming_reports["sha256"]))
        stamp = ScoringStamp(
            batch=batch,
            model_version=deployed.version,
            plan_version=deployed.plan_version,
            run_id=context.run_id,
            scored_at=datetime.now(UTC),
            regulatory_clock=regulatory_clock(declaration, config.regulatory_clock_days),
        )
        context.log.info(f"scoring batch {batch} with ACTIVE model {deployed.version} ({deployed.plan_version})")
        fail_safe = watch(deployed.version, deployed.reference, governance.plan.plan)
        if fail_safe.standing_suspension:
            context.log.warning(
                f"auto-close is suspended for model {deployed.version}: {fail_safe.standing_suspension}"
            )

        def progress(tally: BatchTally) -> None:
            context.log.info(f"  {tally.received:,} read: {tally.scored:,} scored, {tally.quarantined:,} quarantined")

        def before_publishing(outcome: BatchOutcome) -> None:
            negative = declaration.outcome_name(Triage.AUTO_CLOSE)
            for where in record_outcome(
                batch, deployed.version, context.run_id, fail_safe, outcome, governance.plan.plan, negative
            ):
                context.log.warning(f"fail-safe notification: {where}")
            if outcome.suspension:
                context.log.warning(f"batch {batch}: {outcome.suspension}")

        results, trail = results_store(), audit_trail()

        def record(facts: dict) -> None:  # the batch's file and row hashes, in the trail that readers verify against
            trail.append("system", RESULTS_ACTION, batch, facts)

        scratch = Scratch(default_home() / "scratch" / "scoring")
        scratch.sweep()  # staged chunks of a killed run
        with (
            scratch.claim() as claim,
            # rows carry the scoring model's registered use case, never one guessed from where they ran
            results.writer(batch, context.run_id, on_commit=record, use_case=deployed.record["use_case"]) as writer,
        ):
            staged = claim.path("staged")
            staged.mkdir()
            batch_to_score = BatchToScore(
                path,
                deployed.model,
                batch_reader(declaration, deployed.spec, config.rules(), config.encoding, stamp.scored_at),
                lambda: stored_bundle(governance, deployed),
                config.rules(),
                stamp,
                config.encoding,
                config.chunk_records,
                config.explain_top_k,
            )
            outcome, where = scoring.score(
                context, batch_to_score, Publishing(writer, fail_safe, before_publishing, progress, staged)
            )
        tally = outcome.tally
        summary = results.batch_summary(batch)
        problems = _reconciliation_problems(tally, summary)
        yield AssetCheckResult(
            check_name="batch_reconciled",
            passed=not problems,
            metadata={
                "received": tally.received,
                "scored": summary.scored,
                "quarantined": summary.quarantined,
                "problems": "; ".join(problems) or "none",
            },
        )
        priority = pq.read_table(
            summary.predictions_path, columns=PRIORITY_COLUMNS, filters=[("triage", "=", "PRIORITY")]
        ).to_pandas()
        priority = priority.sort_values(["due_at", "p_ae"], ascending=[True, False], na_position="last")
        positive = declaration.outcome_name(Triage.PRIORITY)
        notified = _notify_priority(context, batch, priority, deployed.version, positive)
        full = attach(context, "priority_queue", priority.to_csv(index=False, lineterminator="\n").encode(), ".csv")
        full_path = full.uri.removeprefix("file://")
        yield Output(
            {
                "batch": batch,
                "file_sha256": incoming_reports["sha256"],
                "model_version": deployed.version,
                "plan_version": deployed.plan_version,
                "run_id": context.run_id,
                "scored_at": stamp.scored_at.isoformat(),
                "tally": tally.to_dict(),
                "auto_close_suspension": outcome.suspension,
                "drift": outcome.drift.to_dict() if outcome.drift is not None else None,
                "predictions_sha256": summary.predictions_sha256,
                "quarantine_sha256": summary.quarantine_sha256,
                "notification": notified,
            },
            metadata={
                "model_version": deployed.version,
                "plan_version": deployed.plan_version,
                "received": tally.received,
                "scored": tally.scored,
                "quarantined": tally.quarantined,
                "triage": MetadataValue.json(declaration.outcome_counts(tally.triage)),  # as people read them
                "auto_close_suspension": outcome.suspension or "none",
                "auto_close_suspended_reports": tally.suspended,
                "sources_not_covered": MetadataValue.json(tally.to_dict()["sources_not_covered"]),
                "quarantine_reasons": count_table(pd.Series(list(tally.reasons.elements()), dtype=object), "reason"),
                "quarantine_reason_counts": MetadataValue.json(tally.to_dict()["quarantine_reasons"]),
                "priority_reports": len(priority),
                "priority_queue": MetadataValue.md(_priority_table(priority, full_path, positive)),
                "priority_queue_file": MetadataValue.path(full_path),
                "priority_queue_sha256": full.sha256,
                "predictions_file": MetadataValue.path(str(summary.predictions_path)),
                **where,  # in-process, or the Glue job run that scored it
            },
        )

    return [incoming_reports, scored_reports]
