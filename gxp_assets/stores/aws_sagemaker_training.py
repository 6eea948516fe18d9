"""The S3 side of a SageMaker training job: its channels, its request, and the model it leaves behind.

Channels and output live in the stack's artifact bucket under ``sagemaker/training/<job>/`` (SSE-KMS with the
stack's key, kept like every other record). The model comes back as SageMaker packs ``/opt/ml/model``: a
``model.tar.gz`` under the job's output path; it is checked against the hash the job reported before anyone uses it.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from typing import Any

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model import TrainedModel
from gxp_assets.core.training import TrainingData
from gxp_assets.remote.sagemaker_training import FACTS_FILE, MODEL_FILE, channel_files
from gxp_assets.stores.aws_session import AwsContext

#: How the project's image starts training (the image is built from deploy/Dockerfile).
TRAINING_ENTRYPOINT = ["python", "-m", "gxp_assets.remote", "train"]
#: The private subnets and security group SageMaker places jobs and endpoints in (deploy/network.yaml's outputs).
SUBNETS_ENV, SECURITY_GROUPS_ENV = "GXP_SAGEMAKER_SUBNETS", "GXP_SAGEMAKER_SECURITY_GROUPS"


@dataclass(frozen=True)
class TrainingJobSpec:
    """What a person configures about where training runs (the image, the role, the machine)."""

    image_uri: str
    role_arn: str
    instance_type: str = "ml.m5.xlarge"
    volume_gb: int = 30
    max_runtime_seconds: int = 86_400


def job_prefix(job: str) -> str:
    return f"sagemaker/training/{job}"


def vpc_config() -> dict[str, list[str]] | None:
    """SageMaker's ``VpcConfig`` from GXP_SAGEMAKER_SUBNETS and GXP_SAGEMAKER_SECURITY_GROUPS (comma-separated), so
    that training jobs and the endpoint run in the estate's private subnets and reach AWS only through its VPC
    endpoints; None when either is unset (SageMaker's own network, as on a developer's account)."""
    subnets, groups = ([item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
                       for name in (SUBNETS_ENV, SECURITY_GROUPS_ENV))  # fmt: skip
    if not subnets or not groups:
        return None
    return {"Subnets": subnets, "SecurityGroupIds": groups}


def put_in_bucket(aws: AwsContext, key: str, payload: bytes) -> str:
    """An object in the stack's artifact bucket, encrypted with the stack's key; returns its S3 URI."""
    bucket = aws.resources.ArtifactBucket
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=payload, ServerSideEncryption="aws:kms",
                                SSEKMSKeyId=aws.resources.KmsKeyArn)  # fmt: skip
    return f"s3://{bucket}/{key}"


def upload_channels(aws: AwsContext, job: str, data: TrainingData) -> dict[str, str]:
    """Each channel's files under the job's prefix; returns channel -> S3 prefix URI."""
    uris = {}
    for channel, files in channel_files(data).items():
        prefix = f"{job_prefix(job)}/input/{channel}/"
        for name, payload in files.items():
            put_in_bucket(aws, prefix + name, payload)
        uris[channel] = f"s3://{aws.resources.ArtifactBucket}/{prefix}"
    return uris


def training_job_request(
    aws: AwsContext, job: str, spec: TrainingJobSpec, channels: dict[str, str], hyperparameters: dict[str, str],
    environment: dict[str, str],
) -> dict[str, Any]:
    """``create_training_job`` parameters for the project's image running the training entry point: the volume and
    the output encrypted with the stack's key, in the private subnets when they are configured."""
    request = {
        "TrainingJobName": job,
        "AlgorithmSpecification": {
            "TrainingImage": spec.image_uri,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": TRAINING_ENTRYPOINT,
        },
        "RoleArn": spec.role_arn,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel, uri in sorted(channels.items())
        ],
        "OutputDataConfig": {
            "S3OutputPath": f"s3://{aws.resources.ArtifactBucket}/{job_prefix(job)}/output",
            "KmsKeyId": aws.resources.KmsKeyArn,
        },
        "ResourceConfig": {
            "InstanceType": spec.instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": spec.volume_gb,
            "VolumeKmsKeyId": aws.resources.KmsKeyArn,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
        "Environment": environment,
    }
    network = vpc_config()
    return request if network is None else {**request, "VpcConfig": network}


class ModelOutputError(RuntimeError):
    """The job's model.tar.gz is missing, malformed, or not the model the job reported."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def model_files(archive: bytes) -> dict[str, bytes]:
    """The regular files of a model.tar.gz by name (SageMaker packs ``/opt/ml/model`` this way); nothing is
    extracted to disk, so a crafted path cannot escape."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    found[member.name.removeprefix("./")] = handle.read()
    return found


def download_model(aws: AwsContext, artifacts_uri: str, reported_sha256: str | None) -> tuple[TrainedModel, dict]:
    """The classifier text and training facts the job left, once its text hashes to what the job reported."""
    bucket, key = split_s3_uri(artifacts_uri)
    try:
        archive = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        files = model_files(archive)
        model_text, facts = files[MODEL_FILE].decode("utf-8"), json.loads(files[FACTS_FILE])
    except Exception as error:
        raise ModelOutputError(f"the training job's model at {artifacts_uri} cannot be read: {error}") from error
    actual = sha256_hex(model_text.encode())
    if actual != facts.get("model_sha256") or (reported_sha256 is not None and actual != reported_sha256):
        raise ModelOutputError(
            f"the model at {artifacts_uri} hashes to {actual[:12]}, but the job reported "
            f"{str(reported_sha256 or facts.get('model_sha256'))[:12]}: refused"
        )
    trained = TrainedModel(model_text, int(facts["best_iteration"]), float(facts["inner_fold_auroc_trees"]),
                           float(facts["training_seconds"]))  # fmt: skip
    return trained, facts
