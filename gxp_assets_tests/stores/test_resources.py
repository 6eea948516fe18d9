"""The Dagster resources of each environment come from one mapping; a run given the aws set writes its artifacts and
their audit entries to the stack, whatever GXP_ENV says, so tests and deployments inject the backend they mean."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import asset, materialize

from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.defs.resources import resources, resources_by_environment
from gxp_assets.stores.aws_artifacts import AwsArtifactStore
from gxp_assets.stores.aws_audit import AwsAuditTrail
from gxp_assets.stores.aws_session import AwsContext


@asset
def tiny_record() -> dict:
    return {"n": 1}


def test_each_environment_has_its_resources_and_gxp_env_picks_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(resources_by_environment()) == {"local", "aws"}
    monkeypatch.setenv("GXP_ENV", "local")
    manager = resources()["io_manager"]
    assert isinstance(manager, ArtifactIOManager) and manager.environment == "local"
    with pytest.raises(ValueError, match="GXP_ENV='gcp' is not available"):
        resources("gcp")


def test_a_run_given_the_aws_resources_writes_to_the_stack(
    aws_stack: AwsContext, gxp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GXP_ENV", "local")  # the injected resources decide, not the variable
    result = materialize([tiny_record], resources=resources("aws"))
    assert result.success
    [ref] = AwsArtifactStore(aws_stack).versions("tiny_record")
    assert ref.uri.startswith(f"s3://{aws_stack.resources.ArtifactBucket}/")
    assert AwsAuditTrail(aws_stack).head().subject == "tiny_record"
