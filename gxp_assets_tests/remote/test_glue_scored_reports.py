"""The real ``scored_reports`` asset with its scoring resource set to Glue: the ACTIVE model's bundle goes to the
job, the results store receives the rows an in-process run of the same batch gives, and the check reconciles."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from dagster import materialize

from gxp_assets.core.demo_data import demo_batch
from gxp_assets.core.hashing import sha256_file
from gxp_assets.defs.inference_assets import inference_assets
from gxp_assets.defs.io_manager import ArtifactIOManager
from gxp_assets.stores import results_store
from gxp_assets.stores.landing import batch_key
from gxp_assets_tests.conftest import ae_scope
from gxp_assets_tests.remote.conftest import BUCKET, JOB, LocalGluePlace
from gxp_assets_tests.remote.fake_glue import LocalGlue
from gxp_assets_tests.test_inference_flow import hostile_rows, land, score, world

__all__ = ["world"]
#: What differs between two runs of one batch by design: which run, and when it ran.
PER_RUN = ["run_id", "scored_at"]
SCOPE = ae_scope()


def stored_predictions(batch: str) -> pd.DataFrame:
    return pd.read_parquet(results_store().batch_summary(batch).predictions_path).drop(columns=PER_RUN)


@pytest.mark.spark
def test_scored_reports_on_glue_stores_what_in_process_stores(
    world: dict, glue: LocalGlue, request: pytest.FixtureRequest
) -> None:
    instance = world["instance"]
    now = datetime.now(UTC)
    good = demo_batch(30, 41, channels=("literature",), received_until=now)
    frame = pd.concat([good, hostile_rows(now.strftime("%Y-%m-%dT%H:%M:%SZ"), good["report_id"].iloc[0])])
    path = land(frame.reset_index(drop=True), "glue-41.csv")
    key = batch_key(path.name, sha256_file(path))
    instance.add_dynamic_partitions(SCOPE.batches.name, [key])
    assert score(instance, key).success  # in-process, as configured by default
    expected = stored_predictions(key)
    expected_quarantine = pd.read_parquet(results_store().batch_summary(key).quarantine_path)

    place = LocalGluePlace(glue_job_name=JOB, glue_bucket=BUCKET, double=request.node.name)
    resources = {"io_manager": ArtifactIOManager(environment="local"), "scoring": place}
    result = materialize(inference_assets(SCOPE), instance=instance, partition_key=key, resources=resources)

    assert result.success
    [run] = glue.runs.values()
    assert run.popen.returncode == 0
    metadata = result.asset_materializations_for_node(SCOPE.name("scored_reports"))[0].metadata
    assert metadata["scored_where"].value == f"AWS Glue job {JOB}"
    [check] = result.get_asset_check_evaluations()
    assert check.asset_key == SCOPE.key("scored_reports") and check.passed  # received = scored + quarantined
    pd.testing.assert_frame_equal(stored_predictions(key), expected, check_exact=True)
    quarantine = pd.read_parquet(results_store().batch_summary(key).quarantine_path)
    pd.testing.assert_frame_equal(quarantine.drop(columns=["run_id"], errors="ignore"),
                                  expected_quarantine.drop(columns=["run_id"], errors="ignore"))  # fmt: skip
    assert metadata["quarantined"].value == 3 and metadata["received"].value == len(frame)


def test_without_a_glue_job_scoring_stays_in_process(tmp_path: Path) -> None:
    from gxp_assets.defs.resources import resources_by_environment
    from gxp_assets.defs.scoring_place import GLUE_JOB_ENV, ScoringPlace

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv(GLUE_JOB_ENV, raising=False)
    assert all(env["scoring"].where == "in-process" for env in resources_by_environment().values())
    monkeypatch.setenv(GLUE_JOB_ENV, "gxp-score-batch")
    assert resources_by_environment()["aws"]["scoring"].where == "AWS Glue job gxp-score-batch"
    assert ScoringPlace.from_environment().glue_job_name == "gxp-score-batch"
    assert resources_by_environment()["local"]["scoring"].where == "in-process"  # local has no Glue
    monkeypatch.undo()
