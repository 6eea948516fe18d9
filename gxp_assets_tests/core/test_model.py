from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.demo_data import generate_demo_reports
from gxp_assets.core.explain import global_importance, top_contributions, used_columns
from gxp_assets.core.features import FeatureSpec, feature_names, featurize
from gxp_assets.core.model import (
    TrainingParams,
    inner_validation_mask,
    load_booster,
    model_inputs,
    predict_scores,
    train_classifier,
)

SMALL_SPEC = FeatureSpec(word_buckets=2**12, char_buckets=2**12)
FAST = TrainingParams(max_rounds=60, early_stopping_rounds=10, num_leaves=8, min_data_in_leaf=3, num_threads=1)


@pytest.fixture(scope="module")
def corpus() -> tuple:
    reports = generate_demo_reports(n_documents=150, seed=3)
    X = featurize(reports, SMALL_SPEC)
    return reports, X, reports["label"].astype(int).to_numpy(), reports["document_id"].to_numpy()


def test_two_runs_give_byte_identical_model_text(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    first = train_classifier(X, labels, groups, FAST)
    second = train_classifier(X, labels, groups, FAST)
    assert first.model_text == second.model_text
    assert first.best_iteration >= 1 and 0.5 < first.inner_validation_auc <= 1
    other_seed = train_classifier(X, labels, groups, TrainingParams(**{**FAST.to_dict(), "seed": 8}))
    assert other_seed.model_text != first.model_text  # the seed is really used


def test_the_stored_text_is_the_model(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    trained = train_classifier(X, labels, groups, FAST)
    scores = predict_scores(load_booster(trained.model_text), X)
    assert scores.shape == (len(labels),) and ((scores > 0) & (scores < 1)).all()
    assert scores[labels == 1].mean() > scores[labels == 0].mean()


def test_early_stopping_holds_out_whole_groups() -> None:
    groups = np.repeat(np.arange(400), 3)
    mask = inner_validation_mask(groups, 0.2, seed=7)
    per_group = pd.Series(mask).groupby(groups).nunique()
    assert (per_group == 1).all()  # a group is never split between fitting and early stopping
    assert 0.12 < mask.mean() < 0.28


def test_explanations_name_the_ngrams_that_drive_a_prediction() -> None:
    texts = [f"patient {i} developed a rash after the tablet" for i in range(60)] + [
        f"patient {i} asked about the tablet price" for i in range(60)
    ]
    labels = np.array([1] * 60 + [0] * 60)
    frame = pd.DataFrame({"text": texts})
    X = featurize(frame, SMALL_SPEC)
    params = TrainingParams(
        max_rounds=30, early_stopping_rounds=30, min_data_in_leaf=2, feature_fraction=1.0, num_threads=1
    )
    booster = load_booster(train_classifier(X, labels, np.arange(120), params).model_text)
    names = feature_names(texts, SMALL_SPEC)
    explanation = top_contributions(booster, X[:1], names, k=3)[0]
    top = explanation[0]
    assert top["feature"].startswith(("word:", "char:"))
    # The n-grams that separate the two templates, present (rash) or absent (price question) in this report.
    assert any(part in top["feature"] for part in ("rash", "develop", "after", "price", "asked", "about"))
    assert top["present"] == any(part in top["feature"] for part in ("rash", "develop", "after"))
    assert top["contribution"] > 0  # it pushes the rash report towards AE
    inputs = model_inputs(booster, X[:5])
    contributions = booster.predict(inputs, pred_contrib=True)
    dense = contributions.toarray() if hasattr(contributions, "toarray") else contributions
    np.testing.assert_allclose(dense.sum(axis=1), booster.predict(inputs, raw_score=True), rtol=1e-6)
    assert set(used_columns(booster)) <= set(names)  # every column the model uses has a readable name
    assert global_importance(booster, names)[0]["gain"] > 0
