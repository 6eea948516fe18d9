"""The Dagster resources of each environment, from one mapping (hooli-data-eng-pipelines' pattern): the code location
takes the set of GXP_ENV, so the UI shows which backend and stack runs write to, and tests inject another set."""

from __future__ import annotations

from typing import Any

from dagster import EnvVar

from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.stores import environment


def resources_by_environment() -> dict[str, dict[str, Any]]:
    """Every environment's resources; the aws stack is read when a run starts (EnvVar), never stored in config."""
    return {
        "local": {"io_manager": ArtifactIOManager(environment="local")},
        "aws": {"io_manager": ArtifactIOManager(environment="aws", aws_stack=EnvVar("GXP_AWS_STACK"))},
    }


def resources(name: str | None = None) -> dict[str, Any]:
    """The resources of environment ``name`` (default GXP_ENV)."""
    return resources_by_environment()[environment(name)]
