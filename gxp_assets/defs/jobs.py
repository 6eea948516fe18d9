"""One job per stage of a use case, named for what it does (``<id>__train_model``); the UI lists them so.

A graph built with the first stages only (``use_case_definitions(scope, stages)``) gets the jobs of those stages;
the others are None.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetSelection, JobDefinition, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from gxp_assets.defs.landing_refusals import landing_refusals_job
from gxp_assets.defs.use_case_scope import (
    ALL_STAGES,
    DATA,
    GOVERNANCE,
    INFERENCE,
    MODEL,
    MONITORING,
    STAGE,
    UseCaseScope,
)


@dataclass(frozen=True)
class UseCaseJobs:
    prepare_training_data: UnresolvedAssetJobDefinition
    train_model: UnresolvedAssetJobDefinition | None = None  # what `gxp run` runs, and what retraining requests
    promote_model: UnresolvedAssetJobDefinition | None = None
    score_batch: UnresolvedAssetJobDefinition | None = None
    monitor_performance: UnresolvedAssetJobDefinition | None = None
    landing_refusals: JobDefinition | None = None

    def all(self) -> list[UnresolvedAssetJobDefinition | JobDefinition]:
        return [job for job in (self.prepare_training_data, self.train_model, self.promote_model, self.score_batch,
                                self.monitor_performance, self.landing_refusals) if job is not None]  # fmt: skip


def use_case_jobs(scope: UseCaseScope, stages: tuple[str, ...] = ALL_STAGES) -> UseCaseJobs:
    """``scope``'s jobs for the stages built (a prefix of ALL_STAGES), selecting only its own assets."""
    group = AssetSelection.groups(scope.id)
    data = group & AssetSelection.tag(STAGE, DATA)
    declared = scope.declaration()
    reads = "Load the adjudicated corpus" if declared.features.text else "Read the declared records"
    jobs: dict[str, UnresolvedAssetJobDefinition | JobDefinition] = {}
    if MODEL in stages:
        training = data | (group & AssetSelection.tag(STAGE, MODEL))
        registers = GOVERNANCE in stages
        jobs["train_model"] = define_asset_job(
            scope.name("train_model"),
            selection=training | AssetSelection.assets(scope.key("model_candidate")) if registers else training,
            description="Prepare the data, train, conformalize, evaluate"
            + (", and register the model as a candidate under the change control plan" if registers else "")
            + ". Retraining (drift sensor, routine schedule) runs this job too.",
        )
    if GOVERNANCE in stages:
        jobs["promote_model"] = define_asset_job(
            scope.name("promote_model"),
            selection=AssetSelection.assets(scope.key("active_model")),
            description="Promote an APPROVED model version to ACTIVE after verifying its signed approvals again.",
        )
    if INFERENCE in stages:
        scored = ("incoming_reports", "scored_reports", *(("drift_report",) if MONITORING in stages else ()))
        jobs["score_batch"] = define_asset_job(
            scope.name("score_batch"),
            selection=AssetSelection.assets(*(scope.key(name) for name in scored)),
            partitions_def=scope.batches,
            description="Score one landed batch with the ACTIVE model (every record scored or quarantined), notify "
            f"{declared.triage.positive.name} records, and measure the batch's drift against the model's reference.",
        )
        jobs["landing_refusals"] = landing_refusals_job(scope.name("landing_refusals"))
    if MONITORING in stages:
        jobs["monitor_performance"] = define_asset_job(
            scope.name("monitor_performance"),
            selection=AssetSelection.assets(
                *(scope.key(name) for name in ("adjudications", "realized_performance", "monitoring_summary"))
            ),
            description="Take adjudicated labels from the landing zone, measure realized performance against the "
            "change control plan, and update the monitoring trends.",
        )
    prepare = define_asset_job(
        scope.name("prepare_training_data"),
        selection=data,
        description=f"{reads}, validate and quarantine, featurize and split.",
    )
    return UseCaseJobs(prepare_training_data=prepare, **jobs)  # type: ignore[arg-type]
