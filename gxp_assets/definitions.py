"""The one Definitions object."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from gxp_assets.defs import data_assets, model_assets
from gxp_assets.defs.data_checks import DATA_CHECKS
from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.defs.jobs import JOBS

defs = Definitions(
    assets=load_assets_from_modules([data_assets, model_assets]),
    asset_checks=DATA_CHECKS,
    jobs=JOBS,
    resources={"io_manager": ArtifactIOManager()},
)
