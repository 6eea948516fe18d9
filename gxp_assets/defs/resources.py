"""The Dagster resources of each environment, from one mapping (hooli-data-eng-pipelines' pattern): the code location
takes the set of GXP_ENV, so the UI shows which backend and stack runs write to, and tests inject another set."""

from __future__ import annotations

from typing import Any

from dagster import EnvVar

from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.defs.scoring_place import ScoringPlace
from gxp_assets.stores import environment


def resources_by_environment() -> dict[str, dict[str, Any]]:
    """Every environment's resources; the aws stack is read when a run starts (EnvVar), never stored in config.
    Scoring runs in-process unless the aws environment names a Glue job (defs.scoring_place)."""
    return {
        "local": {"io_manager": ArtifactIOManager(environment="local"), "scoring": ScoringPlace()},
        "aws": {
            "io_manager": ArtifactIOManager(environment="aws", aws_stack=EnvVar("GXP_AWS_STACK")),
            "scoring": ScoringPlace.from_environment(),  # in-process unless GXP_GLUE_SCORING_JOB names a Glue job
        },
    }


def resources(name: str | None = None) -> dict[str, Any]:
    """The resources of environment ``name`` (default GXP_ENV)."""
    return resources_by_environment()[environment(name)]
