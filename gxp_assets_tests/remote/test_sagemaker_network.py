"""SageMaker jobs and the endpoint in the estate's private network and under its key (deploy/network.yaml,
deploy/identity.yaml): the training job's volume and output and the endpoint's volume are encrypted with the stack's
KMS key, both run in the private subnets when GXP_SAGEMAKER_SUBNETS and GXP_SAGEMAKER_SECURITY_GROUPS are set, and the
endpoint runs with its own role. Checked on what moto's SageMaker keeps of the real requests."""

from __future__ import annotations

import pytest

from gxp_assets.stores.aws_endpoint import EndpointSettings, SageMakerEndpoint
from gxp_assets.stores.aws_sagemaker_training import TrainingJobSpec, training_job_request
from gxp_assets.stores.aws_session import AwsContext

NETWORK = {"GXP_SAGEMAKER_SUBNETS": "subnet-0a, subnet-0b", "GXP_SAGEMAKER_SECURITY_GROUPS": "sg-0c"}
ROLE = "arn:aws:iam::123456789012:role/gxp-sagemaker"


def test_the_training_job_is_encrypted_and_placed_in_the_private_subnets(
    aws_stack: AwsContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TrainingJobSpec("123456789012.dkr.ecr.eu-west-1.amazonaws.com/gxp:1", ROLE)
    channels = {"train": f"s3://{aws_stack.resources.ArtifactBucket}/sagemaker/training/job/input/train/"}
    outside = training_job_request(aws_stack, "gxp-train-outside", spec, channels, {}, {})
    assert "VpcConfig" not in outside  # unset: SageMaker's own network, as on a developer's account
    for name, value in NETWORK.items():
        monkeypatch.setenv(name, value)
    request = training_job_request(aws_stack, "gxp-train-private", spec, channels, {}, {})
    sagemaker = aws_stack.client("sagemaker")
    sagemaker.create_training_job(**request)
    job = sagemaker.describe_training_job(TrainingJobName="gxp-train-private")
    assert job["VpcConfig"] == {"Subnets": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-0c"]}
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == aws_stack.resources.KmsKeyArn
    assert job["OutputDataConfig"]["KmsKeyId"] == aws_stack.resources.KmsKeyArn


def test_the_endpoint_runs_with_its_own_role_in_the_private_subnets_under_the_key(
    aws_stack: AwsContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GXP_ENDPOINT_NAME", "gxp-triage")
    monkeypatch.setenv("GXP_SAGEMAKER_IMAGE", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/gxp:1")
    monkeypatch.setenv("GXP_SAGEMAKER_ROLE_ARN", ROLE)
    assert EndpointSettings.from_env().role_arn == ROLE  # type: ignore[union-attr]
    endpoint_role = "arn:aws:iam::123456789012:role/gxp-sagemaker-endpoint"
    monkeypatch.setenv("GXP_ENDPOINT_ROLE_ARN", endpoint_role)
    monkeypatch.delenv("GXP_SAGEMAKER_ROLE_ARN")
    settings = EndpointSettings.from_env()
    assert settings is not None and settings.role_arn == endpoint_role
    for name, value in NETWORK.items():
        monkeypatch.setenv(name, value)
    deployment = SageMakerEndpoint(aws_stack, settings).deploy("v1", {"deployment.json": b"{}"}, {})
    sagemaker = aws_stack.client("sagemaker")
    model = sagemaker.describe_model(ModelName=deployment.model_name)
    assert model["ExecutionRoleArn"] == endpoint_role
    assert model["VpcConfig"] == {"Subnets": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-0c"]}
    config = sagemaker.describe_endpoint_config(EndpointConfigName=deployment.endpoint_config)
    assert config["KmsKeyId"] == aws_stack.resources.KmsKeyArn
