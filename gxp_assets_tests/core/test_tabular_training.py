"""A declared tabular use case from its file to a trained model, and the data requirements checked before training."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gxp_assets.core.batch_records import generate_batch_records, write_batch_records
from gxp_assets.core.features import FeatureMatrix, FeatureSpec, featurize
from gxp_assets.core.guarantee import Guarantee, calibration_shortfall
from gxp_assets.core.model import TrainingParams, load_classifier, train_classifier
from gxp_assets.core.record_files import validated_records
from gxp_assets.core.splits import SplitPlan, assign_record_splits
from gxp_assets.core.training import TrainingData, train_model
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
PARAMS = TrainingParams(linear_c=0.0, max_rounds=200, num_threads=1)


def use_case_spec() -> FeatureSpec:
    return load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case.feature_spec()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    use_case = load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case
    path = tmp_path_factory.mktemp("batches") / "batches.csv"
    write_batch_records(path, generate_batch_records(1000, seed=0), bad_rows=10)
    records = validated_records(path, use_case.record_contract(), "training", NOW)
    X = featurize(records.valid, use_case.feature_spec())
    splits = assign_record_splits(records.valid, "batch_id", "batch_id", SplitPlan(), subgroup_column="site")
    return records, X, splits


def test_the_declared_features_train_a_model_that_finds_the_failures(prepared: tuple) -> None:
    records, X, splits = prepared
    assert len(records.valid) == 990 and X.shape[1] == 8 + 1024
    features = FeatureMatrix(records.valid["batch_id"].to_numpy(dtype=str), X, use_case_spec())
    data = TrainingData.from_splits(features, splits)  # the split table is the one training already takes
    trained = train_model(data, PARAMS, needs=None)
    train = splits[splits["split"] == "train"]
    again = train_classifier(X[train["row"].to_numpy()], train["label"].to_numpy(), train["split_group"].to_numpy(),
                             PARAMS)  # fmt: skip
    assert trained.model_text == again.model_text
    test = splits[splits["split"] == "test"]
    scores = load_classifier(trained.model_text).predict(X[test["row"].to_numpy()])
    assert roc_auc_score(test["label"], scores) > 0.85  # the mechanism is learnable from the declared columns


@pytest.mark.parametrize(
    ("miss_rate", "delta", "problem"),
    [
        (0.05, 0.10, "the calibration split holds 12 failing-batch records; a miss rate of 0.05 at delta 0.1 needs at "
                     "least 45: add adjudicated data, or raise the miss rate or delta in a new plan"),
        (0.10, 0.10, "the calibration split holds 12 failing-batch records; a miss rate of 0.1 at delta 0.1 needs at "
                     "least 22: add adjudicated data, or raise the miss rate or delta in a new plan"),
        (0.20, 0.10, None),
    ],
)  # fmt: skip
def test_too_few_calibration_positives_for_the_guarantee_is_said_before_training(
    prepared: tuple, miss_rate: float, delta: float, problem: str | None
) -> None:
    _, _, splits = prepared
    calibration = splits[splits["split"] == "calibration"]
    guarantee = Guarantee(miss_rate=miss_rate, delta=delta, unit="record", by_source=False)
    found = calibration_shortfall(calibration["label"].to_numpy(), calibration["split_group"].to_numpy(), guarantee,
                                  negative_confidence=0.9, positive="failing-batch")  # fmt: skip
    assert found == ([problem] if problem else [])


def test_documents_as_the_unit_count_distinct_groups_and_the_plan_minimum_applies() -> None:
    labels = np.array([1, 1, 1, 0, 0, 1] * 10)
    units = np.repeat(np.arange(12), 5)  # 12 groups, each holding a positive
    guarantee = Guarantee(miss_rate=0.2, delta=0.1, unit="document", by_source=False)
    assert calibration_shortfall(labels, units, guarantee) == []  # 12 units >= 11
    assert calibration_shortfall(labels, units, guarantee, min_positive_units=15) == [
        "the calibration split holds 12 positive documents; the plan requires at least 15"
    ]
    assert calibration_shortfall(labels, units, guarantee, negative_confidence=0.99) == [
        "the calibration split holds 20 negative records; covering them at 99% needs at least 100"
    ]
