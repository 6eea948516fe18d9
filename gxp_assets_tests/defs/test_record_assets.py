"""dissolution_risk's data stage through the same factory and asset names as ae_triage: a semicolon-separated
batch-record file with decimal commas, read, validated, featurized and split as its declaration says."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import DagsterInstance

from gxp_assets.core.batch_records import generate_batch_records, write_batch_records
from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.splits import SPLITS
from gxp_assets.definitions import SCOPES, defs
from gxp_assets.stores import codecs
from gxp_assets.stores.local import LocalArtifactStore

SCOPE = SCOPES["dissolution_risk"]
BATCHES, SPOILT = 400, 6


def test_batch_records_are_read_validated_featurized_and_split_as_declared(
    tmp_path: Path, gxp_home: Path, dagster_instance: DagsterInstance
) -> None:
    path = tmp_path / "batch_records.csv"
    spoilt = write_batch_records(path, generate_batch_records(BATCHES, seed=3), bad_rows=SPOILT, seed=3)
    assert b";" in path.read_bytes().splitlines()[0]  # the declared delimiter, as European exports write it
    job = defs.resolve_job_def(SCOPE.name("prepare_training_data"))
    config = SCOPE.run_config({"ops": {"labelled_reports": {"config": {"path": str(path)}}}})
    result = job.execute_in_process(instance=dagster_instance, run_config=config)

    assert result.success
    checks = {check.check_name: check.passed for check in result.get_asset_check_evaluations()}
    assert checks == {"records_reconciled": True, "no_document_on_two_sides": True}  # no text declared: no text check
    store = LocalArtifactStore(gxp_home)

    def stored(name: str) -> object:
        ref = store.latest(SCOPE.key(name).to_user_string())  # under the use case's own key path
        return codecs.decode(store.read(ref), ref.suffix)

    valid, quarantined = stored("validated_reports"), stored("quarantined_reports")
    assert isinstance(valid, pd.DataFrame) and isinstance(quarantined, pd.DataFrame)
    assert len(valid) + len(quarantined) == BATCHES and len(quarantined) == len(spoilt)
    assert valid["api_d50_um"].dtype == "float64" and valid["api_d50_um"].between(1.0, 250.0).all()  # typed
    dissolved = valid["dissolution_pct"].str.replace(",", ".").astype(float)  # the label as written: decimal comma
    assert (valid["label"].astype(int) == (dissolved < 80.0)).all()  # positive_when: below 80 % dissolved
    assert set(valid["label"].astype(int)) == {0, 1}
    [made] = [m for m in result.asset_materializations_for_node(SCOPE.name("validated_reports"))
              if m.asset_key == SCOPE.key("validated_reports")]  # fmt: skip
    metadata = made.metadata
    assert metadata["label_balance"].value["dissolution below specification (1)"] == int(valid["label"].sum())

    declared = SCOPE.declaration()
    features = FeatureMatrix.from_arrays(stored("report_features"))
    assert features.spec.sha256 == declared.feature_spec().sha256
    assert features.matrix.shape == (len(valid), declared.feature_spec().n_features)
    assert list(features.report_ids) == valid["batch_id"].astype(str).tolist()

    splits = stored("dataset_splits")
    assert splits.groupby("split_group")["split"].nunique().max() == 1  # a product stays on one side
    assert all(int(splits.loc[splits["split"] == name, "label"].sum()) > 0 for name in SPLITS)
    assert set(splits["source"].dropna()) == set(valid["site"])  # the declared subgroup, per record
