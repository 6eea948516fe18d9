"""The ACTIVE model behind a SageMaker real-time endpoint: a model and a new endpoint config per version, then a switch.

Each version deployed gets its own SageMaker model (the project's image serving ``gxp_assets.remote.serving`` with
the version's model folder from the artifact bucket) and its own endpoint config, named after the version and the
bundle's hash. Promotion creates them and points the endpoint at the new config (``create_endpoint`` the first
time, ``update_endpoint`` after); a rollback to an earlier version finds that version's config and switches back to
it. Configured by environment variables (what a person sets, see the README): ``GXP_ENDPOINT_NAME`` turns it on.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.remote.model_bundle import bundle_archive
from gxp_assets.stores.aws_sagemaker_training import put_in_bucket, vpc_config
from gxp_assets.stores.aws_session import AwsContext

ENDPOINT_ENV, IMAGE_ENV, ROLE_ENV, INSTANCE_ENV = (
    "GXP_ENDPOINT_NAME", "GXP_SAGEMAKER_IMAGE", "GXP_SAGEMAKER_ROLE_ARN", "GXP_ENDPOINT_INSTANCE_TYPE"
)  # fmt: skip
#: The endpoint's own role (deploy/identity.yaml's SageMakerEndpointRole); GXP_SAGEMAKER_ROLE_ARN when unset.
ENDPOINT_ROLE_ENV = "GXP_ENDPOINT_ROLE_ARN"
_NAME_LIMIT = 63
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


class EndpointSetupError(RuntimeError):
    """The endpoint is asked for but not configured completely; the message names the variable."""


@dataclass(frozen=True)
class EndpointSettings:
    endpoint_name: str
    image_uri: str
    role_arn: str
    instance_type: str = "ml.m5.large"

    @classmethod
    def from_env(cls) -> EndpointSettings | None:
        """None when GXP_ENDPOINT_NAME is not set (no endpoint: promotion changes the registry only)."""
        name = os.environ.get(ENDPOINT_ENV, "").strip()
        if not name:
            return None
        image = os.environ.get(IMAGE_ENV, "").strip()
        role = os.environ.get(ENDPOINT_ROLE_ENV, "").strip() or os.environ.get(ROLE_ENV, "").strip()
        missing = [variable for variable, value in ((IMAGE_ENV, image), (ROLE_ENV, role)) if not value]
        if missing:
            raise EndpointSetupError(f"{ENDPOINT_ENV}={name} needs {' and '.join(missing)} (the serving image and "
                                     "the role SageMaker runs it with)")  # fmt: skip
        instance = os.environ.get(INSTANCE_ENV, "").strip() or cls.instance_type
        return cls(name, image, role, instance)


@dataclass(frozen=True)
class Deployment:
    """What one switch did, for the audit trail and the message to people."""

    endpoint: str
    version: str
    model_name: str
    endpoint_config: str
    previous_config: str | None
    model_data: str
    action: str  # "created", "switched" or "unchanged"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sagemaker_name(*parts: str) -> str:
    """A valid SageMaker name (letters, digits, hyphens, at most 63), still unique when it had to be cut."""
    name = _UNSAFE.sub("-", "-".join(parts)).strip("-")
    if len(name) <= _NAME_LIMIT:
        return name
    return f"{name[: _NAME_LIMIT - 9].rstrip('-')}-{sha256_hex(name.encode())[:8]}"


def _missing(error: ClientError) -> bool:
    """SageMaker answers a describe of something that does not exist with a ValidationException."""
    message = error.response.get("Error", {}).get("Message", "")
    return error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound") and (
        "not find" in message or "does not exist" in message or "not found" in message.lower()
    )


class SageMakerEndpoint:
    """Deploys a version's model folder behind the configured endpoint."""

    def __init__(self, aws: AwsContext, settings: EndpointSettings, client: Any = None) -> None:
        self.aws, self.settings = aws, settings
        self.sagemaker = client or aws.client("sagemaker")

    def _exists(self, describe: Any, **name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = describe(**name)
            return found
        except ClientError as error:
            if _missing(error):
                return None
            raise

    def upload(self, version: str, files: dict[str, bytes]) -> tuple[str, str]:
        """The model.tar.gz in the artifact bucket under its hash; returns (S3 URI, hash)."""
        archive = bundle_archive(files)
        digest = sha256_hex(archive)
        key = f"sagemaker/models/{sagemaker_name(version)}/{digest}/model.tar.gz"
        return put_in_bucket(self.aws, key, archive), digest

    def deploy(self, version: str, files: dict[str, bytes], environment: dict[str, str]) -> Deployment:
        """Model and endpoint config for ``version`` (made once), then the endpoint switched to that config."""
        settings = self.settings
        model_data, digest = self.upload(version, files)
        model_name = sagemaker_name("gxp", version, digest[:8])
        if self._exists(self.sagemaker.describe_model, ModelName=model_name) is None:
            network = vpc_config()
            self.sagemaker.create_model(
                ModelName=model_name,
                PrimaryContainer={"Image": settings.image_uri, "ModelDataUrl": model_data, "Environment": environment},
                ExecutionRoleArn=settings.role_arn,
                **({} if network is None else {"VpcConfig": network}),
            )
        config = sagemaker_name(settings.endpoint_name, version, digest[:8])
        if self._exists(self.sagemaker.describe_endpoint_config, EndpointConfigName=config) is None:
            self.sagemaker.create_endpoint_config(
                EndpointConfigName=config,
                KmsKeyId=self.aws.resources.KmsKeyArn,  # the serving instance's volume, under the stack's key
                ProductionVariants=[{"VariantName": "active", "ModelName": model_name, "InitialInstanceCount": 1,
                                     "InstanceType": settings.instance_type, "InitialVariantWeight": 1.0}],
            )  # fmt: skip
        endpoint = self._exists(self.sagemaker.describe_endpoint, EndpointName=settings.endpoint_name)
        previous = endpoint.get("EndpointConfigName") if endpoint else None
        if endpoint is None:
            self.sagemaker.create_endpoint(EndpointName=settings.endpoint_name, EndpointConfigName=config)
            action = "created"
        elif previous != config:
            self.sagemaker.update_endpoint(EndpointName=settings.endpoint_name, EndpointConfigName=config)
            action = "switched"
        else:
            action = "unchanged"
        return Deployment(settings.endpoint_name, version, model_name, config, previous, model_data, action)
