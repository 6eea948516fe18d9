"""One job per stage, named for what it does; the UI lists them under these names."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from gxp_assets.defs.data_assets import DATA_GROUP
from gxp_assets.defs.inference_assets import batches
from gxp_assets.defs.landing_refusals import landing_refusals
from gxp_assets.defs.model_assets import MODEL_GROUP

prepare_training_data = define_asset_job(
    "prepare_training_data",
    selection=AssetSelection.groups(DATA_GROUP),
    description="Load the adjudicated corpus, validate and quarantine, featurize and split.",
)

train_model = define_asset_job(
    "train_model",
    selection=AssetSelection.groups(DATA_GROUP, MODEL_GROUP) | AssetSelection.assets("model_candidate"),
    description="Prepare the data, train, conformalize, evaluate, and register the model as a candidate under the "
    "change control plan. Retraining (drift sensor, routine schedule) runs this job too.",
)

promote_model = define_asset_job(
    "promote_model",
    selection=AssetSelection.assets("active_model"),
    description="Promote an APPROVED model version to ACTIVE after verifying its signed approvals again.",
)

score_batch = define_asset_job(
    "score_batch",
    selection=AssetSelection.assets("incoming_reports", "scored_reports", "drift_report"),
    partitions_def=batches,
    description="Score one landed batch with the ACTIVE model (every record scored or quarantined), notify PRIORITY "
    "reports, and measure the batch's drift against the model's reference.",
)

monitor_performance = define_asset_job(
    "monitor_performance",
    selection=AssetSelection.assets("adjudications", "realized_performance", "monitoring_summary"),
    description="Take adjudicated labels from the landing zone, measure realized AE recall and PRIORITY "
    "precision against the change control plan, and update the monitoring trends.",
)

#: What `gxp run` runs.
MAIN_JOB = train_model
JOBS = [prepare_training_data, train_model, promote_model, score_batch, monitor_performance, landing_refusals]
