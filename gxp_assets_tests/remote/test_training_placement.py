"""Where training runs is resource configuration per environment: in-process unless aws is told otherwise."""

from __future__ import annotations

import pytest
from dagster import EnvVar

from gxp_assets.defs.resources import resources
from gxp_assets.defs.training_runner import InProcessTraining, SageMakerTraining


def test_training_runs_in_process_unless_aws_is_told_sagemaker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GXP_TRAINING_ON", raising=False)
    assert type(resources("local")["model_trainer"]) is InProcessTraining
    assert type(resources("aws")["model_trainer"]) is InProcessTraining
    monkeypatch.setenv("GXP_TRAINING_ON", "sagemaker")
    assert type(resources("local")["model_trainer"]) is InProcessTraining  # the embedded default never leaves
    trainer = resources("aws")["model_trainer"]
    assert isinstance(trainer, SageMakerTraining)
    # Image, role and stack are read when a run starts, never stored in the code location's config.
    deferred = {name: getattr(trainer, name) for name in ("image_uri", "role_arn", "aws_stack")}
    assert all(isinstance(value, EnvVar) for value in deferred.values())
    assert {value.env_var_name for value in deferred.values()} == {
        "GXP_SAGEMAKER_IMAGE", "GXP_SAGEMAKER_ROLE_ARN", "GXP_AWS_STACK"
    }  # fmt: skip
    monkeypatch.setenv("GXP_TRAINING_ON", "glue")
    with pytest.raises(ValueError, match="GXP_TRAINING_ON='glue' is not available"):
        resources("aws")
