"""One job per stage, named for what it produces."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from gxp_assets.defs.data_assets import DATA_GROUP

prepare_training_data = define_asset_job(
    "prepare_training_data",
    selection=AssetSelection.groups(DATA_GROUP),
    description="Load the adjudicated corpus, validate and quarantine, featurize and split.",
)

#: What the README's main command runs.
MAIN_JOB = prepare_training_data
JOBS = [prepare_training_data]
