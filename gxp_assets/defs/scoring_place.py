"""Where ``scored_reports`` featurizes and scores a batch: in this process (the default) or in an AWS Glue (Spark)
job through Dagster Pipes. Resource configuration, not code: ``ScoringPlace(glue_job_name=...)`` moves the heavy
step; what reaches the results store, and how it is counted, measured for drift and suspended, does not change
(core.staged_scoring publishes the job's staged chunks exactly as score_batch publishes its own). The Glue job
reads reports only; declared records are scored in-process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource
from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader
from pydantic import Field

from gxp_assets.core.batch_scoring import (
    BatchOutcome,
    BatchReader,
    BatchTally,
    ChunkSink,
    ReportReader,
    ScoringStamp,
    score_batch,
)
from gxp_assets.core.fail_safe import FailSafe
from gxp_assets.core.hashing import sha256_file, sha256_hex
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.staged_scoring import StagedChunk, publish_staged
from gxp_assets.core.validation import ValidationRules
from gxp_assets.defs.deployed import DeployedModel, NoActiveModel
from gxp_assets.governance.service import Governance
from gxp_assets.remote import glue_scoring
from gxp_assets.remote.job_inputs import ModelBundle, rules_to_dict, stamp_to_dict
from gxp_assets.stores.aws_exchange import S3Exchange

GLUE_JOB_ENV = "GXP_GLUE_SCORING_JOB"
GLUE_BUCKET_ENV = "GXP_GLUE_SCORING_BUCKET"


@dataclass(frozen=True)
class BatchToScore:
    """One batch and how to score it, wherever that happens."""

    path: Path
    model: TriageModel
    reader: BatchReader  # how its records are read, validated and scored (defs.batch_reading)
    bundle: Callable[[], ModelBundle]  # the model's stored form, read only when a remote job needs it
    rules: ValidationRules  # a remote job's validation of reports
    stamp: ScoringStamp
    encoding: str | None
    chunk_records: int
    explain_top_k: int


@dataclass(frozen=True)
class Publishing:
    """Where the scored batch goes and what watches it (as score_batch takes them)."""

    sink: ChunkSink
    fail_safe: FailSafe | None
    before_publishing: Callable[[BatchOutcome], None] | None
    progress: Callable[[BatchTally], None] | None
    staging_dir: Path


class ScoringPlace(ConfigurableResource):
    """Where featurize + score of a batch runs. Without ``glue_job_name``: in the Dagster run's process. With it:
    the Glue job of that name runs gxp_assets/remote/glue_scoring.py on Spark, with its inputs, outputs and the
    Pipes context and messages under ``s3://glue_bucket/glue_prefix/``."""

    glue_job_name: str | None = Field(default=None, description="the Glue job that scores batches; none: in-process")
    glue_bucket: str | None = Field(
        default=None, description="bucket for the job's inputs, outputs and Pipes messages (default: the stack's "
        "artifact bucket)"
    )  # fmt: skip
    glue_prefix: str = Field(default="glue-scoring", description="key prefix under the bucket")
    forward_termination: bool = Field(default=True, description="stop the Glue run when the Dagster run is stopped")

    @classmethod
    def from_environment(cls) -> ScoringPlace:
        """The aws environment's choice: GXP_GLUE_SCORING_JOB (and GXP_GLUE_SCORING_BUCKET) when set."""
        return cls(glue_job_name=os.environ.get(GLUE_JOB_ENV) or None,
                   glue_bucket=os.environ.get(GLUE_BUCKET_ENV) or None)  # fmt: skip

    @property
    def where(self) -> str:
        return f"AWS Glue job {self.glue_job_name}" if self.glue_job_name else "in-process"

    def aws_client(self, service: str) -> Any:
        """boto3 clients with the project's retry settings (AWS_ENDPOINT_URL and profiles honoured)."""
        import boto3

        from gxp_assets.stores.aws_session import RETRIES

        return boto3.client(service, config=RETRIES)

    def bucket(self) -> str:
        if self.glue_bucket:
            return self.glue_bucket
        from gxp_assets.stores.aws_session import aws_context

        return aws_context().resources.ArtifactBucket

    def score(
        self, context: AssetExecutionContext, batch: BatchToScore, publishing: Publishing
    ) -> tuple[BatchOutcome, dict[str, Any]]:
        """Score ``batch`` here or on Glue; the outcome, and metadata saying where it ran."""
        if not self.glue_job_name:
            outcome = score_batch(
                batch.path, batch.reader, batch.model, batch.stamp, publishing.sink,
                fail_safe=publishing.fail_safe, before_publishing=publishing.before_publishing,
                chunk_records=batch.chunk_records, explain_top_k=batch.explain_top_k,
                progress=publishing.progress, staging_dir=publishing.staging_dir,
            )  # fmt: skip
            return outcome, {"scored_where": self.where}
        if not isinstance(batch.reader, ReportReader):
            raise ValueError(f"{self.where} scores reports only: score a use case without text in-process (a "
                             "ScoringPlace without glue_job_name)")  # fmt: skip
        return self._score_on_glue(context, batch, publishing)

    def _score_on_glue(
        self, context: AssetExecutionContext, batch: BatchToScore, publishing: Publishing
    ) -> tuple[BatchOutcome, dict[str, Any]]:
        s3, bucket = self.aws_client("s3"), self.bucket()
        exchange = S3Exchange(s3, bucket, f"{self.glue_prefix}/{batch.stamp.batch}/{context.run_id}")
        bundle = batch.bundle().to_json().encode()
        extras = {
            "input_uri": exchange.put_file("input" + batch.path.suffix.lower(), batch.path),
            "input_sha256": sha256_file(batch.path),
            "bundle_uri": exchange.put_bytes("model_bundle.json", bundle),
            "bundle_sha256": sha256_hex(bundle),
            "output_uri": exchange.uri("output/"),
            "source_name": str(batch.path),
            "stamp": stamp_to_dict(batch.stamp),
            "rules": rules_to_dict(batch.rules),
            "encoding": batch.encoding,
            "chunk_records": batch.chunk_records,
            "explain_top_k": batch.explain_top_k,
        }
        client = PipesGlueClient(
            context_injector=PipesS3ContextInjector(bucket=bucket, client=s3),
            message_reader=PipesS3MessageReader(bucket=bucket, client=s3, interval=1),
            client=self.aws_client("glue"),
            forward_termination=self.forward_termination,
        )
        context.log.info(f"scoring batch {batch.stamp.batch} on {self.where}")
        invocation = client.run(context=context, start_job_run_params={"JobName": self.glue_job_name,
                                                                         "Arguments": {}}, extras=extras)  # fmt: skip
        reported = {key: value.value for result in invocation.get_results()
                    for key, value in (result.metadata or {}).items()}  # fmt: skip
        manifest_sha256 = str(reported.get("manifest_sha256", ""))
        manifest = json.loads(exchange.get_bytes("output/manifest.json", manifest_sha256 or None))
        staged = []
        for chunk in manifest["chunks"]:
            files = [exchange.get_file(f"output/{chunk[kind]}", publishing.staging_dir / chunk[kind],
                                       chunk[f"{kind}_sha256"]) for kind in ("predictions", "quarantine")]  # fmt: skip
            staged.append(StagedChunk(files[0], files[1], chunk["received"]))
        outcome = publish_staged(staged, batch.model, publishing.sink, fail_safe=publishing.fail_safe,
                                 before_publishing=publishing.before_publishing,
                                 progress=publishing.progress)  # fmt: skip
        metadata = {
            "scored_where": self.where,
            "glue_job_run_id": str(reported.get("AWS Glue Job Run ID", "")),
            "glue_manifest_sha256": manifest_sha256,
            "glue_seconds": float(reported.get("spark_seconds", 0.0)),
        }
        return outcome, metadata


def stored_bundle(governance: Governance, deployed: DeployedModel) -> ModelBundle:
    """The deployed version's classifier text and conformal record as stored (hash-checked on read), for a remote
    job to load the model exactly as defs.deployed does."""
    registered = governance.registry.get(deployed.version)
    if registered is None:
        raise NoActiveModel(f"model {deployed.version} is not in the registry")
    artifacts = governance.load_model_artifacts(registered)
    model_text, conformal = artifacts.get("ae_classifier"), artifacts.get("conformal_model")
    if not isinstance(model_text, str) or not isinstance(conformal, dict):
        raise NoActiveModel(f"the stored artifacts of {deployed.version} are not a classifier and a record")
    return ModelBundle(model_text, conformal, tuple(sorted(deployed.model.judged_sources or ())))


#: The module the Glue job runs, to upload as its script.
GLUE_SCRIPT = Path(glue_scoring.__file__)
