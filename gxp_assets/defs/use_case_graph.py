"""The asset-graph factory: one declared use case's assets, checks, jobs, sensors and schedules, under its key prefix
and group (``ae_triage/validated_reports``), with its own partitions, landing folder and plan."""

from __future__ import annotations

from dagster import Definitions

from gxp_assets.defs.data_assets import data_assets
from gxp_assets.defs.data_checks import data_checks
from gxp_assets.defs.governance_assets import governance_assets
from gxp_assets.defs.inference_assets import inference_assets
from gxp_assets.defs.jobs import use_case_jobs
from gxp_assets.defs.model_assets import model_assets
from gxp_assets.defs.monitoring_assets import monitoring_assets
from gxp_assets.defs.monitoring_summary import monitoring_summary
from gxp_assets.defs.retraining import retraining_schedules, retraining_sensor
from gxp_assets.defs.sensors import use_case_sensors
from gxp_assets.defs.use_case_scope import UseCaseScope


def use_case_definitions(scope: UseCaseScope) -> Definitions:
    """Everything Dagster runs for ``scope``'s use case; resources are added once, for all use cases."""
    jobs = use_case_jobs(scope)
    return Definitions(
        assets=[
            *data_assets(scope),
            *model_assets(scope),
            *monitoring_assets(scope),
            *governance_assets(scope),
            *inference_assets(scope),
            *monitoring_summary(scope),
        ],
        asset_checks=data_checks(scope),
        jobs=jobs.all(),
        sensors=[*use_case_sensors(scope, jobs), retraining_sensor(scope, jobs)],
        schedules=retraining_schedules(scope, jobs),
    )
