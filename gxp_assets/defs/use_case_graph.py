"""The asset-graph factory: one declared use case's assets, checks, jobs, sensors and schedules, under its key prefix
and group (``ae_triage/validated_reports``), with its own partitions, landing folder and plan."""

from __future__ import annotations

from collections.abc import Callable

from dagster import AssetsDefinition, Definitions

from gxp_assets.defs.data_assets import data_assets
from gxp_assets.defs.data_checks import data_checks
from gxp_assets.defs.governance_assets import governance_assets
from gxp_assets.defs.inference_assets import inference_assets
from gxp_assets.defs.jobs import use_case_jobs
from gxp_assets.defs.model_assets import model_assets
from gxp_assets.defs.monitoring_assets import drift_reference_assets, monitoring_assets
from gxp_assets.defs.monitoring_summary import monitoring_summary
from gxp_assets.defs.record_assets import record_data_assets
from gxp_assets.defs.retraining import retraining_schedules, retraining_sensor
from gxp_assets.defs.sensors import use_case_sensors
from gxp_assets.defs.use_case_scope import (
    ALL_STAGES,
    DATA,
    GOVERNANCE,
    INFERENCE,
    MODEL,
    MONITORING,
    UseCaseScope,
)

__all__ = ["ALL_STAGES", "use_case_definitions"]


def _data(scope: UseCaseScope) -> list[AssetsDefinition]:
    """A use case that declares a text feature reads reports (the report contract's path); any other reads its
    declared records."""
    return data_assets(scope) if scope.declaration().features.text else record_data_assets(scope)


#: Each stage's assets (the drift reference is built with the model and registered with it).
STAGE_ASSETS: dict[str, Callable[[UseCaseScope], list[AssetsDefinition]]] = {
    DATA: _data,
    MODEL: lambda scope: [*model_assets(scope), *drift_reference_assets(scope)],
    GOVERNANCE: governance_assets,
    INFERENCE: inference_assets,
    MONITORING: lambda scope: [*monitoring_assets(scope), *monitoring_summary(scope)],
}


def use_case_definitions(scope: UseCaseScope, stages: tuple[str, ...] = ALL_STAGES) -> Definitions:
    """Everything Dagster runs for ``scope``'s use case in ``stages``, a prefix of ALL_STAGES (each stage needs the
    ones before it): their assets, checks and jobs, the promotion sensor with the governance stage, the landing
    sensor with scoring and monitoring, retraining with monitoring. Resources are added once, for all use cases."""
    stages = tuple(stages)
    if not stages or stages != ALL_STAGES[: len(stages)]:
        raise ValueError(f"{scope.id}: a graph is built for a prefix of {ALL_STAGES}, not {stages}")
    jobs = use_case_jobs(scope, stages)
    monitored = MONITORING in stages
    return Definitions(
        assets=[asset for stage in stages for asset in STAGE_ASSETS[stage](scope)],
        asset_checks=data_checks(scope),
        jobs=jobs.all(),
        sensors=[*use_case_sensors(scope, jobs), *([retraining_sensor(scope, jobs)] if monitored else [])],
        schedules=retraining_schedules(scope, jobs) if monitored else [],
    )
