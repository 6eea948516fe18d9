"""Fixtures of the remote entry points: prepared training data (the data group, run once per module), moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance

from gxp_assets.core.features import FeatureMatrix
from gxp_assets.core.training import CalibrationNeeds, TrainingData
from gxp_assets.definitions import defs
from gxp_assets.defs.data_assets import DATA_GROUP
from gxp_assets.defs.model_assets import plan_guarantee
from gxp_assets.stores import codecs, current_plan
from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets_tests.aws_server import aws_env, aws_stack, moto_endpoint
from gxp_assets_tests.conftest import PROJECT_ROOT, relaxed_plan

__all__ = ["aws_env", "aws_stack", "moto_endpoint"]

#: Small and quick, and still a real model (early stopping, both classes in the inner fold).
FAST_MODEL = {"max_rounds": 60, "early_stopping_rounds": 15, "num_leaves": 15, "min_data_in_leaf": 3, "num_threads": 1}
DATA_CONFIG = {"ops": {"labelled_reports": {"config": {"format": "demo", "demo_documents": 300}}}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The data group materialized in a fresh GXP_HOME under a relaxed plan: what ae_classifier reads."""
    root = tmp_path_factory.mktemp("prepared")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GXP_HOME", str(root / "gxp"))
    monkeypatch.setenv("GXP_ENV", "local")
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    monkeypatch.setenv("GXP_PLAN", str(relaxed_plan(root / "plan.yaml")))
    with DagsterInstance.get() as instance:
        selection = AssetSelection.groups(DATA_GROUP).resolve(defs.resolve_asset_graph())
        result = defs.resolve_job_def("train_model").execute_in_process(
            instance=instance, run_config=DATA_CONFIG, asset_selection=list(selection)
        )
        assert result.success
        store = LocalArtifactStore(root / "gxp")

        def load(name: str):
            ref = store.latest(name)
            return codecs.decode(store.read(ref), ref.suffix)

        data = TrainingData.from_splits(FeatureMatrix.from_arrays(load("report_features")), load("dataset_splits"))
        needs = CalibrationNeeds(plan_guarantee(), current_plan().plan.conformal.no_ae_confidence)
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
