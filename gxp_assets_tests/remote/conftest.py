"""Fixtures of the remote entry points: one small trained model (its stored JSON form), one local Spark, and the
prepared training data of the SageMaker entry point (the data group, run once per module).

The model is trained once per session by the real ``train_model`` job (data and model groups), so the bundle the
remote jobs receive is exactly what the artifact store holds. Spark tests need pyspark and Java; without either
they skip saying which is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from dagster import AssetSelection, DagsterInstance

from gxp_assets.core.drift import DriftReference
from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.training import CalibrationNeeds, TrainingData
from gxp_assets.definitions import defs
from gxp_assets.defs.model_assets import plan_guarantee
from gxp_assets.defs.scoring_place import GLUE_SCRIPT, ScoringPlace
from gxp_assets.defs.use_case_scope import DATA, MODEL, STAGE
from gxp_assets.remote.job_inputs import ModelBundle
from gxp_assets.stores import codecs, current_plan
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.aws_server import REGION, aws_env, aws_stack, moto_endpoint
from gxp_assets_tests.conftest import AE, PAC_FOR_SMALL_MODELS, ae_scope, fresh_home
from gxp_assets_tests.remote.fake_glue import LocalGlue, job_environment

__all__ = ["aws_env", "aws_stack", "moto_endpoint"]
FAST_MODEL = {"max_rounds": 60, "early_stopping_rounds": 15, "num_leaves": 15, "min_data_in_leaf": 3, "num_threads": 1}
#: Sources of the demo data; all of them may be auto-closed by the test model, so triage takes all three values.
DEMO_SOURCES = ("call_centre", "literature", "social_media")


def spark_missing() -> str | None:
    """Why local Spark cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (scripts/setup.sh installs the [spark] extra)"
    if shutil.which("java") is None:
        return "Java is not installed (apt-get install default-jre-headless; .ci/run does it)"
    return None


@dataclass(frozen=True)
class TrainedModel:
    bundle: ModelBundle
    reference: DriftReference


def run_stages(instance: DagsterInstance, stages: tuple[str, ...], config: dict) -> Callable[[str], Any]:
    """Materialize ae_triage's assets of these stages through its real train_model job; returns a reader of their
    latest artifacts."""
    scope = ae_scope()
    tagged = AssetSelection.tag(STAGE, stages[0])
    for stage in stages[1:]:
        tagged = tagged | AssetSelection.tag(STAGE, stage)
    selection = (AssetSelection.groups(scope.id) & tagged).resolve(defs.resolve_asset_graph())
    result = defs.resolve_job_def(scope.name("train_model")).execute_in_process(
        instance=instance, run_config=scope.run_config(config), asset_selection=list(selection)
    )
    assert result.success
    store = LocalArtifactStore(Path(os.environ["GXP_HOME"]))

    def latest(name: str) -> Any:
        ref = store.latest(scope.key(name).to_user_string())
        return codecs.decode(store.read(ref), ref.suffix)

    return latest


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory):
    """A small model trained by the real job, as the JSON bundle a remote job receives."""
    root = tmp_path_factory.mktemp("remote_model")
    monkeypatch = fresh_home(root, PAC_FOR_SMALL_MODELS)
    config = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 600}},
                      "ae_classifier": {"config": FAST_MODEL}}}  # fmt: skip
    with DagsterInstance.get() as instance:
        latest = run_stages(instance, (DATA, MODEL), config)
    monkeypatch.undo()
    return TrainedModel(
        ModelBundle(latest("ae_classifier"), latest("conformal_model"), DEMO_SOURCES),
        DriftReference.from_dict(latest("drift_reference")),
    )


@pytest.fixture(scope="session")
def spark() -> Iterator:
    """One local[2] SparkSession for the session's in-process Spark tests (start-up costs 15-30 s here)."""
    if (missing := spark_missing()) is not None:
        pytest.skip(missing)
    from gxp_assets.remote.spark_scoring import scoring_session

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only
    session = scoring_session("local[2]", "gxp-tests")
    yield session
    session.stop()


BUCKET = "gxp-glue-exchange"
JOB = "gxp-score-batch"
DOUBLES: dict[str, LocalGlue] = {}  # the double a test's resource hands out, by test


class LocalGluePlace(ScoringPlace):
    """ScoringPlace as configured for Glue, whose Glue client is the double (S3 is moto's, for real)."""

    double: str

    def aws_client(self, service: str) -> Any:
        return DOUBLES[self.double] if service == "glue" else super().aws_client(service)


@pytest.fixture
def glue(aws_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalGlue]:
    if (missing := spark_missing()) is not None:
        pytest.skip(missing)
    s3, client = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.upload_file(str(GLUE_SCRIPT), BUCKET, "scripts/glue_scoring.py")
    script = f"s3://{BUCKET}/scripts/glue_scoring.py"
    client.create_job(Name=JOB, Role="arn:aws:iam::123456789012:role/gxp-glue",
                      Command={"Name": "glueetl", "ScriptLocation": script})  # fmt: skip
    double = LocalGlue(client, s3, tmp_path / "glue-runs", job_environment(aws_env))
    DOUBLES[request.node.name] = double
    yield double
    double.close()
    DOUBLES.pop(request.node.name)
    client.delete_job(JobName=JOB)
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


DATA_CONFIG = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 300}}}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The data group materialized in a fresh GXP_HOME under a relaxed plan: what ae_classifier reads."""
    root = tmp_path_factory.mktemp("prepared")
    monkeypatch = fresh_home(root)
    with DagsterInstance.get() as instance:
        load = run_stages(instance, (DATA,), DATA_CONFIG)
        store = LocalArtifactStore(root / "gxp")
        data = TrainingData.from_splits(FeatureMatrix.from_arrays(load("report_features")), load("dataset_splits"))
        plan = current_plan(AE).plan
        needs = CalibrationNeeds(plan_guarantee(plan), plan.conformal.negative_confidence)
        yield {"data": data, "needs": needs, "instance": instance, "root": root, "store": store, "load": load}
    monkeypatch.undo()


def lay_out(root: Path, files: dict[str, dict[str, bytes]], hyperparameters: dict[str, str]) -> Path:
    """``/opt/ml`` as SageMaker lays it out, under ``root``."""
    import json

    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    for channel, named in files.items():
        (root / "input" / "data" / channel).mkdir(parents=True)
        for name, payload in named.items():
            (root / "input" / "data" / channel / name).write_bytes(payload)
    return root
