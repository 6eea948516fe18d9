"""The asset-graph factory: one declared use case's assets, checks, jobs, sensors and schedules, under its key prefix
and group (``ae_triage/validated_reports``), with its own partitions, landing folder and plan."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job

from gxp_assets.defs.data_assets import data_assets
from gxp_assets.defs.data_checks import data_checks
from gxp_assets.defs.governance_assets import governance_assets
from gxp_assets.defs.inference_assets import inference_assets
from gxp_assets.defs.jobs import use_case_jobs
from gxp_assets.defs.model_assets import model_assets
from gxp_assets.defs.monitoring_assets import monitoring_assets
from gxp_assets.defs.monitoring_summary import monitoring_summary
from gxp_assets.defs.record_assets import record_data_assets
from gxp_assets.defs.retraining import retraining_schedules, retraining_sensor
from gxp_assets.defs.sensors import use_case_sensors
from gxp_assets.defs.use_case_scope import DATA, GOVERNANCE, INFERENCE, MODEL, MONITORING, STAGE, UseCaseScope

#: The stages a use case's graph can have; a use case is wired stage by stage (definitions.WIRED_USE_CASES).
ALL_STAGES = (DATA, MODEL, GOVERNANCE, INFERENCE, MONITORING)


def use_case_definitions(scope: UseCaseScope, stages: tuple[str, ...] = ALL_STAGES) -> Definitions:
    """Everything Dagster runs for ``scope``'s use case; resources are added once, for all use cases. A use case
    that declares a text feature reads reports (the report contract's path); any other reads its declared records.
    With ``(DATA,)`` only the data stage, its checks and ``prepare_training_data`` are built."""
    data = data_assets(scope) if scope.declaration().features.text else record_data_assets(scope)
    if stages == (DATA,):
        prepare = define_asset_job(
            scope.name("prepare_training_data"),
            selection=AssetSelection.groups(scope.id) & AssetSelection.tag(STAGE, DATA),
            description="Read the declared records, validate and quarantine, featurize and split.",
        )
        return Definitions(assets=data, asset_checks=data_checks(scope), jobs=[prepare])
    if stages != ALL_STAGES:
        raise ValueError(f"{scope.id}: a graph is built with the data stage alone or with every stage, not {stages}")
    jobs = use_case_jobs(scope)
    return Definitions(
        assets=[
            *data,
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
