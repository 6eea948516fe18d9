"""One job per stage, named for what it produces."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from gxp_assets.defs.data_assets import DATA_GROUP
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
    "change control plan.",
)

promote_model = define_asset_job(
    "promote_model",
    selection=AssetSelection.assets("active_model"),
    description="Promote an APPROVED model version to ACTIVE after verifying its signed approvals again.",
)

#: What the README's main command runs.
MAIN_JOB = train_model
JOBS = [prepare_training_data, train_model, promote_model]
