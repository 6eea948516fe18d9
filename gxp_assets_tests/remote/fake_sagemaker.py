"""A double of the SageMaker service for tests, the way dagster-aws tests its Glue client (``fake_glue.py``).

Every call goes to moto's real SageMaker API on loopback where moto has it (the job is created and described there);
what moto cannot do, running the container, is done here: ``create_training_job`` lays out ``/opt/ml`` under a
temporary folder, downloads each channel from (moto's) S3, and starts the job's entry point in a subprocess with the
job's ``Environment``; ``describe_training_job`` reports the process's state, and when it ends well packs
``/opt/ml/model`` into ``model.tar.gz`` at the job's output path, as SageMaker does; a failed process's
``/opt/ml/output/failure`` becomes ``FailureReason``. moto has no ``stop_training_job``: the double stops the
process (recorded in ``calls`` and beside the job's folder).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class SimulatedJob:
    process: subprocess.Popen
    root: Path
    artifacts: str
    stopped: bool = False
    packed: bool = False


class LocalSageMaker:
    def __init__(self, sagemaker: Any, s3: Any, workdir: Path, command: list[str] | None = None) -> None:
        """``command`` replaces the image's entry point (a test of the client alone, e.g. a job that sleeps)."""
        self.sagemaker, self.s3, self.workdir, self.command = sagemaker, s3, workdir, command
        self.jobs: dict[str, SimulatedJob] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def meta(self) -> Any:
        return self.sagemaker.meta

    def __getattr__(self, name: str) -> Any:  # every other call: moto's real API
        return getattr(self.sagemaker, name)

    # Training ----------------------------------------------------------------------------------------------------

    def create_training_job(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("create_training_job", params))
        response = self.sagemaker.create_training_job(**params)
        name = params["TrainingJobName"]
        root = self.workdir / name / "opt_ml"
        config = root / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(params.get("HyperParameters", {})))
        channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in params["InputDataConfig"]}
        (config / "inputdataconfig.json").write_text(json.dumps({channel: {} for channel in channels}))
        for channel, uri in channels.items():
            self._download(uri, root / "input" / "data" / channel)
        (root / "model").mkdir()
        (root / "output").mkdir()
        entry = self.command or params["AlgorithmSpecification"]["ContainerEntrypoint"]
        command = [sys.executable if part == "python" else part for part in entry]
        env = {**os.environ, **params.get("Environment", {}), "GXP_SAGEMAKER_ROOT": str(root)}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        (root.parent / "pid").write_text(str(process.pid))  # for a test that outlives this object (termination)
        artifacts = self.sagemaker.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"]
        self.jobs[name] = SimulatedJob(process, root, artifacts)
        return response

    def _download(self, uri: str, folder: Path) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        folder.mkdir(parents=True)
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        for item in listed:
            target = folder / item["Key"][len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        response: dict[str, Any] = self.sagemaker.describe_training_job(TrainingJobName=TrainingJobName)
        job = self.jobs[TrainingJobName]
        code = job.process.poll()
        if job.stopped:
            response["TrainingJobStatus"] = "Stopped"
        elif code is None:
            response["TrainingJobStatus"] = "InProgress"
        elif code == 0:
            if not job.packed:
                self._upload_model(job)
            response["TrainingJobStatus"] = "Completed"
        else:
            failure = job.root / "output" / "failure"
            response["TrainingJobStatus"] = "Failed"
            response["FailureReason"] = failure.read_text() if failure.is_file() else f"exit code {code}"
        return response

    def _upload_model(self, job: SimulatedJob) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted((job.root / "model").rglob("*")):
                tar.add(path, arcname=str(path.relative_to(job.root / "model")), recursive=False)
        bucket, _, key = job.artifacts.removeprefix("s3://").partition("/")
        self.s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        job.packed = True

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append(("stop_training_job", {"TrainingJobName": TrainingJobName}))
        job = self.jobs[TrainingJobName]
        (job.root.parent / "stop_requested").write_text("stop_training_job")
        job.process.terminate()
        job.process.wait(timeout=30)
        job.stopped = True
        return {}
