"""The one Definitions object."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from gxp_assets.defs import (
    data_assets,
    governance_assets,
    inference_assets,
    model_assets,
    monitoring_assets,
    monitoring_summary,
)
from gxp_assets.defs.data_checks import DATA_CHECKS
from gxp_assets.defs.jobs import JOBS
from gxp_assets.defs.resources import resources
from gxp_assets.defs.retraining import retraining_triggers, routine_retraining_schedules
from gxp_assets.defs.sensors import approved_models, landing_files

defs = Definitions(
    assets=load_assets_from_modules(
        [data_assets, model_assets, governance_assets, inference_assets, monitoring_assets, monitoring_summary]
    ),
    asset_checks=DATA_CHECKS,
    jobs=JOBS,
    sensors=[approved_models, landing_files, retraining_triggers],
    schedules=routine_retraining_schedules(),
    resources=resources(),  # chosen by GXP_ENV from one mapping (gxp_assets.defs.resources)
)
