"""Scoring on AWS Glue through Dagster Pipes: dagster-aws's PipesGlueClient against moto on loopback, the job
script run for real on local pyspark by the Glue double (fake_glue.py), its results published as in-process ones.
"""

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from dagster import AssetExecutionContext, DagsterInstance, MaterializeResult, asset, materialize

from gxp_assets.core.batch_scoring import ReportReader
from gxp_assets.core.demo_data import demo_batch
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.defs.scoring_place import BatchToScore, Publishing, ScoringPlace
from gxp_assets_tests import hostile_files
from gxp_assets_tests.aws_server import REGION
from gxp_assets_tests.remote.conftest import BUCKET, JOB, LocalGluePlace, TrainedModel
from gxp_assets_tests.remote.fake_glue import LocalGlue
from gxp_assets_tests.remote.test_spark_scoring import RULES, STAMP, KeptChunks, assert_same_chunks, in_process

pytestmark = pytest.mark.spark
def scoring_asset(path: Path, trained: TrainedModel, sink: KeptChunks, staging: Path):
    """An asset that scores ``path`` wherever its ScoringPlace says, as scored_reports does."""
    model, spec = trained.bundle.load()

    @asset(name="scored_batch")
    def scored_batch(context: AssetExecutionContext, scoring: ScoringPlace) -> MaterializeResult:
        reader = ReportReader(spec, RULES, STAMP.scored_at)
        batch = BatchToScore(path, model, reader, lambda: trained.bundle, RULES, STAMP, None, 40, 3)
        staging.mkdir(exist_ok=True)
        outcome, where = scoring.score(context, batch, Publishing(sink, None, None, None, staging))
        return MaterializeResult(metadata={**where, **{f"tally_{k}": v for k, v in outcome.tally.to_dict().items()
                                                      if isinstance(v, int)}})  # fmt: skip

    return scored_batch


def hostile_batch(path: Path) -> Path:
    rows = [hostile_files.good_row("glue", n) for n in range(3)]
    rows += [hostile_files.row("glue", "formula", "=1+1")]
    rows += [hostile_files.row("glue", "nozone", "no zone", received_at="2026-03-01T10:00:00")]
    demo = demo_batch(40, seed=17, received_until=datetime(2026, 12, 4, 11, 0, tzinfo=UTC))
    rows += demo.reindex(columns=list(hostile_files.HEADER)).fillna("").to_numpy().tolist()
    rows.append(rows[1])  # a duplicate id, chunks later
    path.write_text(hostile_files.csv_text(rows))
    return path


def test_a_glue_run_scores_as_in_process_and_reports_back(
    glue: LocalGlue, trained_model: TrainedModel, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = hostile_batch(tmp_path / "batch.csv")
    _, expected = in_process(path, trained_model, None, 40, tmp_path)
    sink = KeptChunks()
    place = LocalGluePlace(glue_job_name=JOB, glue_bucket=BUCKET, double=request.node.name)
    instance = DagsterInstance.ephemeral()
    result = materialize([scoring_asset(path, trained_model, sink, tmp_path / "staging")], instance=instance,
                         resources={"scoring": place})  # fmt: skip

    assert result.success
    assert_same_chunks(sink, expected)  # every prediction and quarantine row, as in-process
    [run_id] = glue.runs
    assert glue.runs[run_id].popen.returncode == 0
    metadata = result.asset_materializations_for_node("scored_batch")[0].metadata
    assert metadata["scored_where"].value == f"AWS Glue job {JOB}"
    assert metadata["glue_job_run_id"].value == run_id
    manifest_key = f"glue-scoring/{STAMP.batch}/{result.run_id}/output/manifest.json"
    manifest = boto3.client("s3").get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read()
    assert metadata["glue_manifest_sha256"].value == sha256_hex(manifest)  # reported by the job through Pipes
    received = metadata["tally_received"].value
    assert received == metadata["tally_scored"].value + metadata["tally_quarantined"].value > 0
    assert metadata["tally_quarantined"].value >= 3
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(message.startswith(f"scored {metadata['tally_scored'].value:,}, quarantined") for message in logged)
    assert any(f"Glue job {JOB} run {run_id} completed successfully" in message for message in logged)


def test_stopping_the_dagster_run_stops_the_glue_run(
    glue: LocalGlue, trained_model: TrainedModel, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    glue.interrupt_on_poll = 2  # the first poll after start: the job is still starting Spark
    path = hostile_batch(tmp_path / "batch.csv")
    sink = KeptChunks()
    place = LocalGluePlace(glue_job_name=JOB, glue_bucket=BUCKET, double=request.node.name)
    result = materialize([scoring_asset(path, trained_model, sink, tmp_path / "staging")],
                         resources={"scoring": place}, raise_on_error=False)  # fmt: skip

    assert not result.success
    [run] = glue.runs.values()
    assert run.stopped and run.popen.returncode is not None and run.popen.returncode != 0  # terminated
    assert sink.chunks == []  # nothing published from a stopped run


def test_the_job_refuses_a_batch_that_is_not_the_one_sent(aws_env: dict[str, str], tmp_path: Path) -> None:
    """The job checks the batch file against the SHA-256 the Dagster run sent before it starts Spark."""
    from gxp_assets.remote.glue_scoring import run_job

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gxp-tampered", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="gxp-tampered", Key="input.csv", Body=b"report_id,text\nr1,altered after sending\n")
    extras = {"input_uri": "s3://gxp-tampered/input.csv", "input_sha256": sha256_hex(b"what was sent"),
              "stamp": {"batch": "b"}}  # fmt: skip
    with pytest.raises(ValueError, match="refusing to score it"):
        run_job(extras, s3, None, tmp_path)
