"""The SageMaker training entry point and PipesSageMakerTrainingClient: same model bytes as in-process, the run's
materialization and log lines back in Dagster, failures and interruptions forwarded (moto on loopback, the entry
point in a real subprocess with /opt/ml under a temporary folder)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, asset, instance_for_test, materialize
from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model import TrainingParams
from gxp_assets.core.training import CalibrationNeeds, train_model
from gxp_assets.defs.data_assets import data_assets
from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.defs.model_assets import model_assets
from gxp_assets.defs.training_runner import SageMakerTraining
from gxp_assets.remote.model_bundle import bundle_archive
from gxp_assets.remote.pipes_sagemaker import PipesSageMakerTrainingClient
from gxp_assets.remote.sagemaker_training import channel_files, hyperparameters_of
from gxp_assets.stores.aws_sagemaker_training import (
    ModelOutputError,
    TrainingJobSpec,
    download_model,
    put_in_bucket,
    training_job_request,
    upload_channels,
)
from gxp_assets.stores.aws_session import aws_context
from gxp_assets_tests.conftest import ae_scope
from gxp_assets_tests.remote.conftest import FAST_MODEL, lay_out
from gxp_assets_tests.remote.fake_sagemaker import LocalSageMaker

PARAMS = TrainingParams(**{**TrainingParams().to_dict(), **FAST_MODEL})
ENTRY_POINT = [sys.executable, "-m", "gxp_assets.remote", "train"]
DOUBLES: dict[str, LocalSageMaker] = {}


def run_entry_point(root: Path) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DAGSTER_PIPES")}
    return subprocess.run(ENTRY_POINT, env={**env, "GXP_SAGEMAKER_ROOT": str(root)}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_the_entry_point_trains_the_in_process_model_byte_for_byte(prepared: dict, tmp_path: Path) -> None:
    data, needs = prepared["data"], prepared["needs"]
    root = lay_out(tmp_path / "opt_ml", channel_files(data), hyperparameters_of(PARAMS, needs))
    assert all(
        isinstance(value, str)
        for value in json.loads((root / "input/config/hyperparameters.json").read_text()).values()
    )

    done = run_entry_point(root)

    assert done.returncode == 0, done.stdout + done.stderr
    in_process = train_model(data, PARAMS, needs).model_text
    written = (root / "model" / "model.json").read_bytes()
    assert written == in_process.encode()  # the same bytes, so the same model hash and data version
    facts = json.loads((root / "model" / "training.json").read_text())
    assert facts["model_sha256"] == sha256_hex(in_process.encode())
    assert "early stopping chose" in done.stdout  # its log, where SageMaker sends it (CloudWatch)
    assert not (root / "output" / "failure").exists()
    usage = subprocess.run(ENTRY_POINT[:-1], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "train|serve" in usage.stderr


def test_a_failing_job_writes_its_reason_and_exits_non_zero(prepared: dict, tmp_path: Path) -> None:
    data, needs = prepared["data"], prepared["needs"]
    strict = CalibrationNeeds(replace(needs.guarantee, type="marginal", miss_rate=0.0005), needs.no_ae_confidence)
    root = lay_out(tmp_path / "opt_ml", channel_files(data), hyperparameters_of(PARAMS, strict))

    done = run_entry_point(root)

    assert done.returncode == 1
    reason = (root / "output" / "failure").read_text()
    assert reason.startswith("CalibrationTooSmall: the calibration split holds") and "needs at least 2000" in reason
    assert not (root / "model" / "model.json").exists()

    unknown = lay_out(tmp_path / "typo", channel_files(data), {**hyperparameters_of(PARAMS, None), "learning_rat": "1"})
    assert run_entry_point(unknown).returncode == 1
    assert "unknown hyperparameters ['learning_rat']" in (unknown / "output" / "failure").read_text()


class DoubledSageMakerTraining(SageMakerTraining):
    """The production resource, with the SageMaker service replaced by the moto-backed double."""

    workdir: str

    def sagemaker_client(self, aws: Any) -> Any:
        double = LocalSageMaker(aws.client("sagemaker"), aws.client("s3"), Path(self.workdir))
        DOUBLES[self.workdir] = double
        return double


def doubled(tmp_path: Path) -> DoubledSageMakerTraining:
    return DoubledSageMakerTraining(image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/gxp:test",
                                    role_arn="arn:aws:iam::123456789012:role/gxp-sagemaker", workdir=str(tmp_path),
                                    poll_seconds=0.2, message_interval_seconds=0.2)  # fmt: skip


def test_a_sagemaker_run_reports_its_materialization_and_logs_into_dagster(
    prepared: dict, aws_stack: Any, tmp_path: Path
) -> None:
    trainer = doubled(tmp_path / "jobs")
    scope = ae_scope()
    classifier = next(a for a in model_assets(scope) if a.key == scope.key("ae_classifier"))
    result = materialize(
        [*data_assets(scope), classifier],
        selection=[classifier.key],
        instance=prepared["instance"],
        resources={"io_manager": ArtifactIOManager(environment="local"), "model_trainer": trainer},
        run_config=scope.run_config({"ops": {"ae_classifier": {"config": FAST_MODEL}}}),
    )

    assert result.success
    [materialization] = [event.materialization for event in result.get_asset_materialization_events()]
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    in_process = train_model(prepared["data"], PARAMS, prepared["needs"]).model_text
    assert metadata["sha256"] == sha256_hex(in_process.encode())  # the stored model is the in-process model
    assert metadata["trained_on"] == "sagemaker"
    assert metadata["model_sha256"] == metadata["sha256"]  # reported from inside the job through Pipes
    assert metadata["SageMaker training job"] == f"gxp-train-{result.run_id}-0"
    assert str(metadata["SageMaker model artifacts"]).endswith("/output/model.tar.gz")
    messages = [entry.user_message for entry in prepared["instance"].all_logs(result.run_id)]
    assert any("early stopping chose" in message for message in messages)  # a log line from inside the job
    created = dict(DOUBLES[str(tmp_path / "jobs")].calls)["create_training_job"]
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"} <= set(created["Environment"])
    assert json.loads(created["HyperParameters"]["max_rounds"]) == FAST_MODEL["max_rounds"]


def client_asset(request: dict, double_of: Any, name: str = "remote_model"):
    @asset(name=name)
    def remote_model(context):
        aws = aws_context()
        s3, bucket = aws.client("s3"), aws.resources.ArtifactBucket
        client = PipesSageMakerTrainingClient(
            context_injector=PipesS3ContextInjector(bucket=bucket, client=s3),
            message_reader=PipesS3MessageReader(bucket=bucket, client=s3, interval=0.2),
            client=double_of(aws),
            poll_interval=0.2,
        )
        return client.run(context=context, create_training_job_params=request).get_results()

    return remote_model


def job_request(prepared: dict, job: str, channels: tuple[str, ...] = ("train", "calibration")) -> dict:
    aws = aws_context()
    uris = upload_channels(aws, job, prepared["data"])
    spec = TrainingJobSpec("image:test", "arn:aws:iam::123456789012:role/gxp-sagemaker")
    hyperparameters = hyperparameters_of(PARAMS, prepared["needs"])
    chosen = {name: uris[name] for name in channels}
    return training_job_request(aws, job, spec, chosen, hyperparameters, {"GXP_PIPES_MESSAGE_INTERVAL": "0.2"})


def test_a_failed_job_fails_the_step_with_sagemakers_failure_reason(
    prepared: dict, aws_stack: Any, tmp_path: Path
) -> None:
    request = job_request(prepared, "gxp-train-no-train-channel", channels=("calibration",))
    remote_model = client_asset(
        request, lambda aws: LocalSageMaker(aws.client("sagemaker"), aws.client("s3"), tmp_path)
    )

    with instance_for_test() as instance:
        result = materialize([remote_model], instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
        message = failure.step_failure_data.error.to_string()
        assert "gxp-train-no-train-channel ended Failed" in message
        assert "TrainingInputError: channel 'train' has no features.npz" in message


def _interrupted_run(request: dict, workdir: str) -> None:
    """In a child process (Dagster turns SIGTERM into an interruption of the step, as when a run is terminated)."""
    sleeping = [sys.executable, "-c", "import time; time.sleep(120)"]
    remote_model = client_asset(
        request, lambda aws: LocalSageMaker(aws.client("sagemaker"), aws.client("s3"), Path(workdir), sleeping)
    )
    with instance_for_test() as instance:
        materialize([remote_model], instance=instance, raise_on_error=False)


def test_terminating_the_run_stops_the_training_job(prepared: dict, aws_stack: Any, tmp_path: Path) -> None:
    job = "gxp-train-interrupted"
    request = job_request(prepared, job)
    child = multiprocessing.get_context("fork").Process(target=_interrupted_run, args=(request, str(tmp_path)))
    child.start()
    pid_file = tmp_path / job / "pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), "the training job never started"
    time.sleep(1)  # the client is polling describe_training_job now
    child.terminate()
    child.join(timeout=120)

    assert (tmp_path / job / "stop_requested").read_text() == "stop_training_job"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # the job's process is gone


def test_a_model_that_is_not_the_one_the_job_reported_is_refused(aws_stack: Any) -> None:
    text = '{"format": "gxp-classifier/1"}'
    facts = {"model_sha256": sha256_hex(text.encode()), "best_iteration": 1, "inner_fold_auroc_trees": 0.5,
             "training_seconds": 1.0}  # fmt: skip
    archive = bundle_archive({"model.json": text.encode(), "training.json": json.dumps(facts).encode()})
    uri = put_in_bucket(aws_stack, "sagemaker/training/job/output/model.tar.gz", archive)

    trained, _ = download_model(aws_stack, uri, facts["model_sha256"])
    assert trained.model_text == text
    with pytest.raises(ModelOutputError, match="but the job reported"):
        download_model(aws_stack, uri, sha256_hex(b"another model"))  # replaced on its way back
    with pytest.raises(ModelOutputError, match="cannot be read"):
        download_model(aws_stack, uri.replace("job", "no-such-job"), None)
