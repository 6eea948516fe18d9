"""A Dagster Pipes client for SageMaker training jobs (dagster-aws has none), modelled on its ``PipesGlueClient``.

It opens a Pipes session (context and messages through the injector and reader given, S3 in practice), passes the
bootstrap in the training job's ``Environment``, creates the job, polls ``describe_training_job`` until it ends,
stops the job when the Dagster step is interrupted, and raises with SageMaker's ``FailureReason`` when the job
fails. What the job reports (log lines, materializations) comes back as the session's results. Nothing here is
specific to this project, so it could go upstream.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.exceptions import ClientError
from dagster import MetadataValue, PipesClient
from dagster._core.definitions.resource_annotation import TreatAsResourceParam
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.execution.context.asset_execution_context import AssetExecutionContext
from dagster._core.execution.context.compute import OpExecutionContext
from dagster._core.pipes.client import PipesClientCompletedInvocation, PipesContextInjector, PipesMessageReader
from dagster._core.pipes.utils import open_pipes_session

#: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html
TERMINAL_STATES = frozenset({"Completed", "Failed", "Stopped"})


class SageMakerTrainingFailed(RuntimeError):
    """The training job ended in another state than Completed; the message carries SageMaker's FailureReason."""


class PipesSageMakerTrainingClient(PipesClient, TreatAsResourceParam):
    """Run a SageMaker training job as a Dagster Pipes process.

    Args:
        context_injector: where the job finds the Dagster context, e.g. ``PipesS3ContextInjector``.
        message_reader: where the job's messages are read, e.g. ``PipesS3MessageReader``.
        client: a boto3 SageMaker client (default: a new one from the standard AWS configuration).
        forward_termination: stop the training job when the Dagster step is interrupted.
        poll_interval: seconds between ``describe_training_job`` calls.
    """

    def __init__(
        self,
        context_injector: PipesContextInjector,
        message_reader: PipesMessageReader,
        client: Any = None,
        forward_termination: bool = True,
        poll_interval: float = 10.0,
    ) -> None:
        self._client = client or boto3.client("sagemaker")
        self._context_injector = context_injector
        self._message_reader = message_reader
        self.forward_termination = forward_termination
        self.poll_interval = poll_interval

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def run(  # type: ignore[override]
        self,
        *,
        context: OpExecutionContext | AssetExecutionContext,
        create_training_job_params: dict[str, Any],
        extras: dict[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Create the training job (``create_training_job_params`` as boto3 takes them), wait for it, and return
        what it reported through Pipes."""
        params = dict(create_training_job_params)
        name = params["TrainingJobName"]
        with open_pipes_session(
            context=context,
            message_reader=self._message_reader,
            context_injector=self._context_injector,
            extras=extras,
        ) as session:
            params["Environment"] = {**(params.get("Environment") or {}), **session.get_bootstrap_env_vars()}
            try:
                self._client.create_training_job(**params)
            except ClientError as error:
                found = error.response["Error"]
                context.log.error(f"could not create training job {name}: {found['Code']}: {found['Message']}")
                raise
            context.log.info(f"started SageMaker training job {name}")
            try:
                response = self._wait(name)
            except DagsterExecutionInterruptedError:
                if self.forward_termination:
                    self._stop(context, name)
                raise
            status = response["TrainingJobStatus"]
            if status != "Completed":
                reason = response.get("FailureReason") or "no reason given"
                raise SageMakerTrainingFailed(f"SageMaker training job {name} ended {status}: {reason}")
            context.log.info(f"SageMaker training job {name} completed")
        return PipesClientCompletedInvocation(session, metadata=self._metadata(response))

    def _wait(self, name: str) -> dict[str, Any]:
        while True:
            response: dict[str, Any] = self._client.describe_training_job(TrainingJobName=name)
            if response["TrainingJobStatus"] in TERMINAL_STATES:
                return response
            time.sleep(self.poll_interval)

    def _stop(self, context: OpExecutionContext | AssetExecutionContext, name: str) -> None:
        context.log.warning(f"[pipes] execution interrupted, stopping SageMaker training job {name}")
        try:
            self._client.stop_training_job(TrainingJobName=name)
        except ClientError as error:  # already ended: nothing to stop, and the interruption goes on regardless
            context.log.warning(f"could not stop SageMaker training job {name}: {error}")

    def _metadata(self, response: dict[str, Any]) -> dict[str, Any]:
        region = self._client.meta.region_name
        name = response["TrainingJobName"]
        metadata: dict[str, Any] = {
            "SageMaker training job": name,
            "SageMaker training job URL": MetadataValue.url(
                f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{name}"
            ),
        }
        if artifacts := (response.get("ModelArtifacts") or {}).get("S3ModelArtifacts"):
            metadata["SageMaker model artifacts"] = artifacts
        return metadata
