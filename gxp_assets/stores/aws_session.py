"""AWS clients for the aws environment, and the stack whose resources they use.

Standard AWS configuration only (profiles, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` for a local endpoint):
nothing here reads or writes a credential. Throttling and transient errors are retried by botocore's ``standard``
retry mode, never by a loop of ours. Every API call is counted (``AwsContext.calls``), so a run can say how many
calls it made. ``GXP_AWS_STACK`` names the CloudFormation stack whose outputs say which bucket, tables and queues to
use; a missing or half-created stack is a one-line ``AwsSetupError`` naming the resource and the permission.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections import Counter
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

RETRIES = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60)
STACK_ENV = "GXP_AWS_STACK"


class AwsSetupError(RuntimeError):
    """The aws environment cannot be used as configured; the message is one line a person can act on."""


@dataclass(frozen=True)
class StackResources:
    """What a gxp stack provides, read from its outputs (deploy/gxp_stack.yaml names them the same)."""

    KmsKeyArn: str
    ArtifactBucket: str
    LandingBucket: str
    ArtifactIndexTable: str
    RegistryTable: str
    AuditTable: str
    ResultsTable: str
    RecordsQueueUrl: str
    RecordsDeadLetterQueueUrl: str
    TrainModelQueueUrl: str
    ResultsQueueUrl: str
    TrainingResultsQueueUrl: str
    SenderEmail: str
    NotifyEmail: str
    RetentionDays: str

    @classmethod
    def from_outputs(cls, stack: str, outputs: dict[str, str]) -> StackResources:
        missing = [field.name for field in fields(cls) if field.name not in outputs]
        if missing:
            raise AwsSetupError(
                f"stack {stack} has no output {missing[0]} (and {len(missing) - 1} more): it is half-created or not "
                f"a gxp stack; run `gxp aws provision --stack {stack}`"
            )
        return cls(**{field.name: outputs[field.name] for field in fields(cls)})


def problem(error: Exception, resource: str) -> str:
    """One line naming the resource, the AWS operation (the permission it needs) and AWS's reason."""
    if isinstance(error, ClientError):
        operation = error.operation_name
        service = error.response.get("ResponseMetadata", {}).get("ServiceName") or ""
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        action = f"{service}:{operation}" if service else operation
        return f"{resource}: {code} on {action} ({message}); check the permission {action} and the region"
    if isinstance(error, NoRegionError):
        return f"{resource}: no AWS region configured; set AWS_DEFAULT_REGION or a profile with a region"
    if isinstance(error, NoCredentialsError):
        return f"{resource}: no AWS credentials found; configure a profile or the standard AWS_* variables"
    return f"{resource}: {error}"


def name_the_service(parsed: Any = None, model: Any = None, **_: Any) -> None:
    """botocore hook: an error response carries the service name, so ``problem`` can name the permission
    (``s3:PutObject``) and not only the operation."""
    if isinstance(parsed, dict) and "Error" in parsed and model is not None:
        parsed.setdefault("ResponseMetadata", {})["ServiceName"] = model.service_model.service_name


class AwsContext:
    """One boto3 session, its clients (created once, retried by botocore) and the stack's resources."""

    def __init__(self, stack: str, session: boto3.Session | None = None) -> None:
        self.stack = stack
        self.session = session or boto3.Session()
        self.calls: Counter[str] = Counter()
        self.session.events.register("before-call", self._count)
        self.session.events.register("after-call", name_the_service)
        self._clients: dict[str, Any] = {}
        self.resources = self._resources()
        if os.environ.get("GXP_AWS_CALLS"):  # how many AWS calls a command made, on stderr when it ends
            atexit.register(self.report_calls)

    def report_calls(self) -> None:
        top = ", ".join(f"{name} {count}" for name, count in self.calls.most_common(6))
        print(f"gxp: {self.total_calls()} AWS calls to stack {self.stack} ({top})", file=sys.stderr)

    def _count(self, model: Any = None, **_: Any) -> None:
        if model is not None:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def client(self, service: str) -> Any:
        """A client for ``service`` with the retry configuration; AWS_ENDPOINT_URL is honoured by botocore."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=RETRIES)
        return self._clients[service]

    def _resources(self) -> StackResources:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
        except ClientError as error:
            if "does not exist" in error.response.get("Error", {}).get("Message", ""):
                raise AwsSetupError(
                    f"stack {self.stack} does not exist in region {self.region}: run `gxp aws provision --stack "
                    f"{self.stack}` or set AWS_DEFAULT_REGION"
                ) from None
            raise AwsSetupError(problem(error, f"stack {self.stack}")) from None
        except (BotoCoreError, NoCredentialsError) as error:
            raise AwsSetupError(problem(error, f"stack {self.stack}")) from None
        status = stacks[0]["StackStatus"]
        if not status.endswith("_COMPLETE") or "ROLLBACK" in status or "DELETE" in status:
            raise AwsSetupError(f"stack {self.stack} is {status}, not usable: provision it again")
        outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
        return StackResources.from_outputs(self.stack, outputs)

    def total_calls(self) -> int:
        return sum(self.calls.values())


def stack_name() -> str:
    name = os.environ.get(STACK_ENV, "").strip()
    if not name:
        raise AwsSetupError(f"GXP_ENV=aws needs {STACK_ENV}=NAME, the stack made by `gxp aws provision --stack NAME`")
    return name


@lru_cache(maxsize=8)
def _context(stack: str, region: str, endpoint: str, profile: str) -> AwsContext:
    return AwsContext(stack)


def aws_context(stack: str | None = None) -> AwsContext:
    """The process's context for ``stack``, else GXP_AWS_STACK (one per stack, region, endpoint and profile)."""
    return _context(
        stack or stack_name(),
        os.environ.get("AWS_DEFAULT_REGION", ""),
        os.environ.get("AWS_ENDPOINT_URL", ""),
        os.environ.get("AWS_PROFILE", ""),
    )


def reset_contexts() -> None:
    """Forget cached contexts (tests that switch stacks or endpoints)."""
    _context.cache_clear()
