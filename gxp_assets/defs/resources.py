"""The Dagster resources of each environment, from one mapping (hooli-data-eng-pipelines' pattern): the code location
takes the set of GXP_ENV, so the UI shows which backend and stack runs write to, and tests inject another set."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar

from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.defs.scoring_place import ScoringPlace
from gxp_assets.defs.training_runner import InProcessTraining, ModelTrainer, SageMakerTraining
from gxp_assets.stores import environment

#: Where training runs on aws: ``in_process`` (default) or ``sagemaker`` (then GXP_SAGEMAKER_IMAGE and
#: GXP_SAGEMAKER_ROLE_ARN are read when a run starts).
TRAINING_ON_ENV = "GXP_TRAINING_ON"
TRAINING_PLACES = ("in_process", "sagemaker")


def aws_trainer() -> ModelTrainer:
    where = os.environ.get(TRAINING_ON_ENV) or "in_process"
    if where not in TRAINING_PLACES:
        raise ValueError(f"{TRAINING_ON_ENV}={where!r} is not available; choose one of {TRAINING_PLACES}")
    if where == "in_process":
        return InProcessTraining()
    return SageMakerTraining(
        image_uri=EnvVar("GXP_SAGEMAKER_IMAGE"),
        role_arn=EnvVar("GXP_SAGEMAKER_ROLE_ARN"),
        aws_stack=EnvVar("GXP_AWS_STACK"),
    )


def resources_by_environment() -> dict[str, dict[str, Any]]:
    """Every environment's resources; the aws stack is read when a run starts (EnvVar), never stored in config.
    Training and scoring run in-process unless the aws environment names SageMaker (GXP_TRAINING_ON) or a Glue job
    (GXP_GLUE_SCORING_JOB)."""
    return {
        "local": {
            "io_manager": ArtifactIOManager(environment="local"),
            "model_trainer": InProcessTraining(),
            "scoring": ScoringPlace(),
        },
        "aws": {
            "io_manager": ArtifactIOManager(environment="aws", aws_stack=EnvVar("GXP_AWS_STACK")),
            "model_trainer": aws_trainer(),
            "scoring": ScoringPlace.from_environment(),  # in-process unless GXP_GLUE_SCORING_JOB names a Glue job
        },
    }


def resources(name: str | None = None) -> dict[str, Any]:
    """The resources of environment ``name`` (default GXP_ENV)."""
    return resources_by_environment()[environment(name)]
