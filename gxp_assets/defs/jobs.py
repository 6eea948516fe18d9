"""One job per stage of a use case, named for what it does (``<id>__train_model``); the UI lists them so."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetSelection, JobDefinition, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from gxp_assets.defs.landing_refusals import landing_refusals_job
from gxp_assets.defs.use_case_scope import DATA, MODEL, STAGE, UseCaseScope


@dataclass(frozen=True)
class UseCaseJobs:
    prepare_training_data: UnresolvedAssetJobDefinition
    train_model: UnresolvedAssetJobDefinition  # what `gxp run` runs, and what retraining requests
    promote_model: UnresolvedAssetJobDefinition
    score_batch: UnresolvedAssetJobDefinition
    monitor_performance: UnresolvedAssetJobDefinition
    landing_refusals: JobDefinition

    def all(self) -> list[UnresolvedAssetJobDefinition | JobDefinition]:
        return [self.prepare_training_data, self.train_model, self.promote_model, self.score_batch,
                self.monitor_performance, self.landing_refusals]  # fmt: skip


def use_case_jobs(scope: UseCaseScope) -> UseCaseJobs:
    """``scope``'s jobs, selecting only its own assets."""
    group = AssetSelection.groups(scope.id)
    data = group & AssetSelection.tag(STAGE, DATA)
    return UseCaseJobs(
        prepare_training_data=define_asset_job(
            scope.name("prepare_training_data"),
            selection=data,
            description="Load the adjudicated corpus, validate and quarantine, featurize and split.",
        ),
        train_model=define_asset_job(
            scope.name("train_model"),
            selection=data
            | (group & AssetSelection.tag(STAGE, MODEL))
            | AssetSelection.assets(scope.key("model_candidate")),
            description="Prepare the data, train, conformalize, evaluate, and register the model as a candidate "
            "under the change control plan. Retraining (drift sensor, routine schedule) runs this job too.",
        ),
        promote_model=define_asset_job(
            scope.name("promote_model"),
            selection=AssetSelection.assets(scope.key("active_model")),
            description="Promote an APPROVED model version to ACTIVE after verifying its signed approvals again.",
        ),
        score_batch=define_asset_job(
            scope.name("score_batch"),
            selection=AssetSelection.assets(
                *(scope.key(name) for name in ("incoming_reports", "scored_reports", "drift_report"))
            ),
            partitions_def=scope.batches,
            description="Score one landed batch with the ACTIVE model (every record scored or quarantined), notify "
            "PRIORITY reports, and measure the batch's drift against the model's reference.",
        ),
        monitor_performance=define_asset_job(
            scope.name("monitor_performance"),
            selection=AssetSelection.assets(
                *(scope.key(name) for name in ("adjudications", "realized_performance", "monitoring_summary"))
            ),
            description="Take adjudicated labels from the landing zone, measure realized performance against the "
            "change control plan, and update the monitoring trends.",
        ),
        landing_refusals=landing_refusals_job(scope.name("landing_refusals")),
    )
