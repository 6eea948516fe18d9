"""Where the training step runs, as a resource chosen per environment: in-process (default) or a SageMaker job.

Both run :func:`gxp_assets.core.training.train_model` on the same inputs, so the model text (and its hash, the
data version of ``ae_classifier``) is the same; SageMaker's log lines and the materialization it reports come back
into the run through Dagster Pipes.
"""

from __future__ import annotations

from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource, MaterializeResult
from pydantic import Field

from gxp_assets.core.model import TrainedModel, TrainingParams
from gxp_assets.core.training import CalibrationNeeds, TrainingData, check_calibration, train_model


class ModelTrainer(ConfigurableResource):
    """Where ``ae_classifier`` trains; each place returns the trained model and metadata saying where it ran."""

    def train(
        self, context: AssetExecutionContext, data: TrainingData, params: TrainingParams, needs: CalibrationNeeds
    ) -> tuple[TrainedModel, dict[str, Any]]:
        raise NotImplementedError


class InProcessTraining(ModelTrainer):
    """Train in the run's own process (the default everywhere)."""

    def train(
        self, context: AssetExecutionContext, data: TrainingData, params: TrainingParams, needs: CalibrationNeeds
    ) -> tuple[TrainedModel, dict[str, Any]]:
        return train_model(data, params, needs, log=context.log.info), {"trained_on": "in_process"}


class SageMakerTraining(ModelTrainer):
    """Train in a SageMaker training job running the project's image (``gxp_assets.remote.sagemaker_training``)."""

    image_uri: str = Field(description="ECR URI of the project's image (deploy/Dockerfile)")
    role_arn: str = Field(description="execution role SageMaker assumes: reads the channels, writes the model")
    aws_stack: str | None = None  # GXP_AWS_STACK when unset
    instance_type: str = "ml.m5.xlarge"
    volume_gb: int = 30
    max_runtime_seconds: int = 86_400
    poll_seconds: float = 30.0
    message_interval_seconds: float = 10.0

    def sagemaker_client(self, aws: Any) -> Any:
        """The SageMaker client jobs are created with (tests put a double of the service here)."""
        return aws.client("sagemaker")

    def train(
        self, context: AssetExecutionContext, data: TrainingData, params: TrainingParams, needs: CalibrationNeeds
    ) -> tuple[TrainedModel, dict[str, Any]]:
        from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader

        from gxp_assets.remote.pipes_sagemaker import PipesSageMakerTrainingClient
        from gxp_assets.remote.sagemaker_training import INTERVAL_ENV, hyperparameters_of
        from gxp_assets.stores.aws_sagemaker_training import (
            TrainingJobSpec,
            download_model,
            job_prefix,
            training_job_request,
            upload_channels,
        )
        from gxp_assets.stores.aws_session import aws_context

        check_calibration(data, needs)  # checked again inside the job; here before a job is paid for
        aws = aws_context(self.aws_stack)
        job = f"gxp-train-{context.run_id}-{context.retry_number}"[:63]
        channels = upload_channels(aws, job, data)
        spec = TrainingJobSpec(self.image_uri, self.role_arn, self.instance_type, self.volume_gb,
                               self.max_runtime_seconds)  # fmt: skip
        request = training_job_request(aws, job, spec, channels, hyperparameters_of(params, needs),
                                       {INTERVAL_ENV: str(self.message_interval_seconds)})  # fmt: skip
        s3, bucket = aws.client("s3"), aws.resources.ArtifactBucket
        client = PipesSageMakerTrainingClient(
            context_injector=PipesS3ContextInjector(bucket=bucket, client=s3, key_prefix=f"{job_prefix(job)}/pipes/"),
            message_reader=PipesS3MessageReader(bucket=bucket, client=s3, interval=self.message_interval_seconds),
            client=self.sagemaker_client(aws),
            poll_interval=self.poll_seconds,
        )
        invocation = client.run(context=context, create_training_job_params=request)
        reported = [result for result in invocation.get_results() if isinstance(result, MaterializeResult)]
        data_version = reported[0].data_version.value if reported and reported[0].data_version else None
        artifacts = str(invocation.metadata["SageMaker model artifacts"].value)
        trained, _ = download_model(aws, artifacts, data_version)
        metadata = {name: value for name, value in invocation.metadata.items()}
        metadata |= dict(reported[0].metadata or {}) if reported else {}
        return trained, {"trained_on": "sagemaker", **metadata}

