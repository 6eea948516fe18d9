"""The model stage through Dagster: train -> conformal -> evaluation, with plots and a model card."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from dagster import AssetSelection, DagsterInstance

from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.model import TrainingParams
from gxp_assets.definitions import defs
from gxp_assets.defs.model_assets import ClassifierConfig
from gxp_assets.defs.use_case_scope import DATA, MODEL, STAGE
from gxp_assets.stores import codecs
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.conftest import PAC_FOR_SMALL_MODELS, ae_scope, relaxed_plan

SCOPE = ae_scope()

FAST_MODEL = {"max_rounds": 80, "early_stopping_rounds": 15, "num_leaves": 15, "min_data_in_leaf": 3, "num_threads": 1}
RUN_CONFIG = SCOPE.run_config({
    "ops": {
        "labelled_reports": {"config": {"format": "demo", "demo_documents": 400}},
        "ae_classifier": {"config": FAST_MODEL},
    }
})  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One training run shared by the tests of this module (training is the slow part)."""
    root = tmp_path_factory.mktemp("model_stage")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GXP_HOME", str(root / "gxp"))
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((Path(__file__).parents[2] / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(root / "plan.yaml", PAC_FOR_SMALL_MODELS)))
    with DagsterInstance.get() as instance:
        # The data and model stages only: a model this small is not meant to pass the change control plan.
        stages = AssetSelection.tag(STAGE, DATA) | AssetSelection.tag(STAGE, MODEL)
        selection = (AssetSelection.groups(SCOPE.id) & stages).resolve(defs.resolve_asset_graph())
        result = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
            instance=instance, run_config=RUN_CONFIG, asset_selection=list(selection)
        )
        yield {"result": result, "store": LocalArtifactStore(root / "gxp"), "instance": instance}
    monkeypatch.undo()


def load(store: LocalArtifactStore, name: str):
    ref = store.latest(SCOPE.key(name).to_user_string())
    return codecs.decode(store.read(ref), ref.suffix)


def test_the_model_stage_materializes_with_evidence(trained: dict) -> None:
    result, store = trained["result"], trained["store"]
    assert result.success
    found = {
        event.materialization.asset_key.path[-1]: event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key.path[0] == SCOPE.id
    }
    assert {"ae_classifier", "conformal_model", "model_evaluation"} <= set(found)

    model_text = load(store, "ae_classifier")
    stored = json.loads(model_text)  # one JSON text: LightGBM's own text format, any linear part, no pickle
    assert stored["format"] == "gxp-classifier/1" and stored["lightgbm"].startswith("tree\nversion=")
    assert TrainingParams(**stored["training"]) == ClassifierConfig(**FAST_MODEL).params()  # what it was fitted with
    # The default: trees on the n-grams and a network on the sentence embedding, nothing else.
    assert stored["linear"] is None and stored["blend"] == {"trees": 0.7, "linear": 0.0, "sentence": 0.3}
    assert stored["sentence"]["kind"] == "mlp" and len(stored["sentence"]["columns"]) == 384
    record = load(store, "conformal_model")
    assert record["model_sha256"] == found["ae_classifier"].metadata["sha256"].value
    assert record["calibration"]["method"] in record["calibration"]["cross_fitted_ece"]

    metadata = found["model_evaluation"].metadata
    for name in ("roc", "reliability", "coverage", "triage"):
        markdown = metadata[f"plot_{name}"].value
        prefix = f"![{name}](data:image/png;base64,"
        assert markdown.startswith(prefix)
        assert base64.b64decode(markdown[len(prefix) : -1]).startswith(b"\x89PNG\r\n\x1a\n")
        assert store.latest(f"ae_triage/model_evaluation/plots/{name}").suffix == ".png"
    assert "## Intended use" in metadata["model_card"].value
    # The guarantee a user reads is generated from the plan and the calibration counts.
    conformal = load(store, "conformal_model")["conformal"]
    assert conformal["statement"] in metadata["model_card"].value
    assert conformal["statement"].startswith("Training-conditional (PAC) guarantee.")
    evaluation = load(store, "model_evaluation")
    metrics = evaluation["metrics"]
    assert 0.5 < metrics["auroc"] <= 1 and 0 <= metrics["auto_close_share"] <= 1
    assert {row["source"] for row in metrics["subgroups"]} == {"social_media", "call_centre", "literature"}
    assert metrics["n"] == int((load(store, "dataset_splits")["split"] == "test").sum())
    assert all("top_features" in example for example in metrics["example_explanations"])


def test_evaluation_never_reads_the_train_or_calibration_split(trained: dict) -> None:
    store, instance = trained["store"], trained["instance"]
    before = load(store, "model_evaluation")["metrics"]
    features = FeatureMatrix.from_arrays(load(store, "report_features"))
    splits = load(store, "dataset_splits")
    seen = splits["split"] != "test"
    # Scramble everything about train and calibration rows: features, labels, sources.
    matrix = features.matrix.tolil()
    rng = np.random.default_rng(0)
    for row in splits.loc[seen, "row"]:
        matrix[row, :] = 0
        matrix[row, rng.integers(0, matrix.shape[1], 20)] = rng.random(20)
    scrambled = FeatureMatrix(features.report_ids, matrix.tocsr(), features.spec)
    splits.loc[seen, "label"] = 1 - splits.loc[seen, "label"]
    splits.loc[seen, "source"] = "scrambled"
    for name, value in (("report_features", scrambled.to_arrays()), ("dataset_splits", splits)):
        stored = SCOPE.key(name).to_user_string()
        store.put(stored, None, codecs.encode(value)[0], codecs.encode(value)[1], run_id="test-scramble")

    job = defs.resolve_job_def(SCOPE.name("train_model"))
    rerun = job.execute_in_process(instance=instance, asset_selection=[SCOPE.key("model_evaluation")])
    assert rerun.success
    after = load(store, "model_evaluation")["metrics"]
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)


def test_too_few_calibration_documents_stop_the_run_before_training(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GXP_HOME", str(tmp_path / "gxp"))
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((Path(__file__).parents[2] / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(tmp_path / "plan.yaml", PAC_FOR_SMALL_MODELS)))
    config = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 40}}}}
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(SCOPE.name("train_model")).execute_in_process(
            instance=instance, run_config=SCOPE.run_config(config), raise_on_error=False
        )
    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "ae_triage__ae_classifier"
    message = failure.event_specific_data.error.cause.message if failure.event_specific_data.error.cause else ""
    assert "adverse event documents" in message and "needs at least 16" in message, message  # the declared class
    assert not result.asset_materializations_for_node("ae_triage__ae_classifier")  # nothing was trained
