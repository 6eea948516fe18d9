"""The data assets through Dagster for real: persistent SQLite instance, real artifact store, real checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, build_input_context

from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, FeatureMatrix
from gxp_assets.definitions import defs
from gxp_assets.defs.io_manager import MEMBERS, PIN, ArtifactIOManager
from gxp_assets.defs.loaded_inputs import LOADED_INPUTS
from gxp_assets.defs.resources import resources
from gxp_assets.defs.use_case_graph import use_case_definitions
from gxp_assets.defs.use_case_scope import UseCaseScope
from gxp_assets.governance.use_case import USE_CASES_ROOT
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets.stores.protocols import IntegrityError
from gxp_assets_tests.conftest import ae_scope

DATA_ASSETS = ["labelled_reports", "validated_reports", "quarantined_reports", "report_features", "dataset_splits"]
SCOPE = ae_scope()


def stored(name: str) -> str:
    """Where the IO manager keeps ae_triage's ``name``: under its full key path."""
    return SCOPE.key(name).to_user_string()


def run_data_job(instance: DagsterInstance, documents: int = 60, seed: int = 7, raise_on_error: bool = True):
    config = {
        "ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": documents, "demo_seed": seed}}}
    }
    return defs.resolve_job_def(SCOPE.name("prepare_training_data")).execute_in_process(
        instance=instance, run_config=SCOPE.run_config(config), raise_on_error=raise_on_error
    )


def materializations(result) -> dict[str, object]:
    """By name within the use case; every key is the use case's own."""
    found = {}
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key
        assert key == SCOPE.key(key.path[-1])
        found[key.path[-1]] = event.materialization
    return found


def test_the_data_graph_materializes_with_hash_data_versions(gxp_home: Path, dagster_instance: DagsterInstance) -> None:
    result = run_data_job(dagster_instance)
    assert result.success
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert checks == {"records_reconciled": True, "no_document_on_two_sides": True, "no_text_on_two_sides": True}

    store = LocalArtifactStore(gxp_home)
    found = materializations(result)
    assert sorted(found) == sorted(DATA_ASSETS)
    for name, materialization in found.items():
        sha = materialization.metadata["sha256"].value
        assert materialization.tags["dagster/data_version"] == sha  # the stored bytes' hash is the data version
        assert store.latest(stored(name)).sha256 == sha  # stored under the full key path
    assert found["report_features"].tags["dagster/code_version"] == DEFAULT_FEATURE_SPEC.sha256

    labelled = found["labelled_reports"].metadata["records"].value
    valid = found["validated_reports"].metadata["records"].value
    quarantined = found["quarantined_reports"].metadata["records"].value
    assert labelled == valid + quarantined and valid > 100
    balance = found["validated_reports"].metadata["label_balance"].value
    assert 0 < balance["adverse event (1)"] < valid  # the classes as ae_triage declares them
    splits = found["dataset_splits"].metadata
    assert sum(splits[f"{name}_records"].value for name in ("train", "calibration", "test")) == valid

    # Lineage: the instance records which data version of each input a materialization used.
    record = dagster_instance.get_latest_materialization_event(SCOPE.key("dataset_splits"))
    input_version = record.asset_materialization.tags["dagster/input_data_version/ae_triage/validated_reports"]
    assert input_version == found["validated_reports"].metadata["sha256"].value


def test_run_history_survives_a_new_instance(gxp_home: Path, dagster_instance: DagsterInstance) -> None:
    run_id = run_data_job(dagster_instance).run_id
    with DagsterInstance.get() as reopened:
        assert reopened.get_run_by_id(run_id).is_success
        assert reopened.get_latest_materialization_event(SCOPE.key("dataset_splits")) is not None


def test_a_new_materialization_keeps_the_old_one_loadable(gxp_home: Path, dagster_instance: DagsterInstance) -> None:
    first = materializations(run_data_job(dagster_instance, seed=1))["labelled_reports"].metadata["sha256"].value
    second = materializations(run_data_job(dagster_instance, seed=2))["labelled_reports"].metadata["sha256"].value
    assert first != second
    manager = ArtifactIOManager(home=str(gxp_home))
    latest = manager.load_input(build_input_context(asset_key=SCOPE.key("labelled_reports")))
    pinned = manager.load_input(
        build_input_context(asset_key=SCOPE.key("labelled_reports"), definition_metadata={PIN: first[:12]})
    )
    assert not latest.equals(pinned)
    assert pinned["raw"].iloc[0] != latest["raw"].iloc[0]
    loaded = manager.load_input(build_input_context(asset_key=SCOPE.key("report_features")))
    features = FeatureMatrix.from_arrays(loaded)
    assert features.matrix.shape[1] == DEFAULT_FEATURE_SPEC.n_features


def test_the_split_decodes_only_the_feature_row_ids_yet_verifies_and_records_them(
    gxp_home: Path, dagster_instance: DagsterInstance
) -> None:
    found = materializations(run_data_job(dagster_instance))
    features_version = found["report_features"].metadata["sha256"].value
    loaded = found["dataset_splits"].metadata[LOADED_INPUTS].value
    assert loaded[stored("report_features")]["data_version"] == features_version  # lineage names the whole artifact
    manager = ArtifactIOManager(home=str(gxp_home))
    key = SCOPE.key("report_features")
    only_ids = build_input_context(asset_key=key, definition_metadata={MEMBERS: ["report_ids"]})
    ids = manager.load_input(only_ids)
    whole = FeatureMatrix.from_arrays(manager.load_input(build_input_context(asset_key=key)))
    assert list(ids) == ["report_ids"] and ids["report_ids"].tolist() == whole.report_ids.tolist()
    path = Path(LocalArtifactStore(gxp_home).latest(stored("report_features")).uri.removeprefix("file://"))
    path.chmod(0o644)
    payload = bytearray(path.read_bytes())
    payload[-100] ^= 0x01  # in the zip directory, far from the ids: the whole file is still hashed
    path.write_bytes(bytes(payload))
    with pytest.raises(IntegrityError, match=features_version):
        manager.load_input(only_ids)


def test_an_altered_artifact_stops_the_next_run(gxp_home: Path, dagster_instance: DagsterInstance) -> None:
    run_data_job(dagster_instance)
    ref = LocalArtifactStore(gxp_home).latest(stored("validated_reports"))
    path = Path(ref.uri.removeprefix("file://"))
    path.chmod(0o644)
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0x01  # one bit of one byte
    path.write_bytes(bytes(payload))
    job = defs.resolve_job_def(SCOPE.name("prepare_training_data"))
    result = job.execute_in_process(
        instance=dagster_instance, asset_selection=[SCOPE.key("report_features")], raise_on_error=False
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    message = str(failure.cause.message if failure.cause else failure.message)
    assert "validated_reports" in message and ref.sha256 in message and "hash to" in message
    with pytest.raises(IntegrityError):
        ArtifactIOManager(home=str(gxp_home)).load_input(build_input_context(asset_key=SCOPE.key("validated_reports")))


def test_the_report_path_featurizes_with_the_declared_feature_spec(
    tmp_path: Path, gxp_home: Path, dagster_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A use case's declared FeatureSpec is the one its graph featurizes with, never a default in code (a spec the
    pipeline ignored made every model fail its plan by construction)."""
    root = tmp_path / "use_cases"
    shutil.copytree(USE_CASES_ROOT, root)
    declaration = root / "ae_triage" / "use_case.yaml"
    text = declaration.read_text(encoding="utf-8")
    assert "word_ngrams: [1, 2]" in text
    declaration.write_text(text.replace("word_ngrams: [1, 2]", "word_ngrams: [1, 1]"), encoding="utf-8")
    monkeypatch.setenv("GXP_USE_CASES", str(root))
    scope = UseCaseScope("ae_triage")
    spec = scope.declaration().feature_spec()
    assert spec.word_ngrams == (1, 1) and spec.sha256 != DEFAULT_FEATURE_SPEC.sha256
    plan = root / "ae_triage" / "change_control_plan.yaml"  # a new spec is a plan change: the plan must fix it
    fixed = plan.read_text(encoding="utf-8").replace(DEFAULT_FEATURE_SPEC.sha256, spec.sha256)
    plan.write_text(fixed, encoding="utf-8")
    graph = Definitions.merge(use_case_definitions(scope), Definitions(resources=resources()))
    config = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 40, "demo_seed": 3}}}}
    result = graph.resolve_job_def(scope.name("prepare_training_data")).execute_in_process(
        instance=dagster_instance, run_config=scope.run_config(config)
    )
    assert result.success
    features = materializations(result)["report_features"]
    assert features.metadata["feature_spec_sha256"].value == spec.sha256
    assert features.tags["dagster/code_version"] == spec.sha256
