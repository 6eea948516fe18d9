from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from gxp_assets.core.column_names import feature_names
from gxp_assets.core.demo_data import generate_demo_reports
from gxp_assets.core.explain import (
    ABSENT,
    PathAttribution,
    global_importance,
    log_odds_contributions,
    top_contributions,
    used_columns,
)
from gxp_assets.core.features import FeatureSpec, ReportTexts, featurize
from gxp_assets.core.linear import unit_blocks
from gxp_assets.core.model import (
    TrainingParams,
    inner_fold,
    inner_validation_mask,
    load_classifier,
    model_columns,
    predict_scores,
    train_classifier,
)

SMALL_SPEC = FeatureSpec(word_buckets=2**12, char_buckets=2**12)
TEXT = SMALL_SPEC.text_blocks()
FAST = TrainingParams(
    max_rounds=60, early_stopping_rounds=10, num_leaves=8, min_data_in_leaf=3, num_threads=1, linear_c=8.0,
    tree_weight=0.5,
)


@pytest.fixture(scope="module")
def corpus() -> tuple:
    reports = generate_demo_reports(n_documents=150, seed=3)
    X = featurize(reports, SMALL_SPEC)
    return reports, X, reports["label"].astype(int).to_numpy(), reports["document_id"].to_numpy()


def test_two_runs_give_byte_identical_model_text(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    first = train_classifier(X, labels, groups, FAST, text_blocks=TEXT)
    second = train_classifier(X, labels, groups, FAST, text_blocks=TEXT)
    assert first.model_text == second.model_text
    assert first.best_iteration >= 1 and 0.5 < first.inner_validation_auc <= 1
    other_seed = train_classifier(X, labels, groups, TrainingParams(**{**FAST.to_dict(), "seed": 8}), text_blocks=TEXT)
    assert other_seed.model_text != first.model_text  # the seed is really used


def test_the_stored_text_is_the_model(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    trained = train_classifier(X, labels, groups, FAST, text_blocks=TEXT)
    classifier = load_classifier(trained.model_text)
    assert classifier.linear is not None and classifier.blend.linear > 0  # the linear part is in the stored text
    assert TrainingParams(**classifier.training) == FAST  # and what it was fitted with, to rebuild it from the text
    scores = predict_scores(classifier, X)
    assert scores.shape == (len(labels),) and ((scores > 0) & (scores < 1)).all()
    assert scores[labels == 1].mean() > scores[labels == 0].mean()
    trees_only = load_classifier(classifier.booster.model_to_string())  # LightGBM's own format still loads
    assert trees_only.linear is None
    assert not np.allclose(predict_scores(trees_only, X), scores)


def test_log_odds_in_row_blocks_are_those_of_one_block(corpus: tuple) -> None:
    """Trees and linear part scored a block of rows at a time give every row the bytes of the batch scored at once."""
    _, X, labels, groups = corpus
    classifier = load_classifier(train_classifier(X, labels, groups, FAST, text_blocks=TEXT).model_text)
    assert classifier.linear is not None and X.shape[0] > 64
    trees = classifier.booster.predict(X[:, model_columns(classifier.booster)], raw_score=True)
    at_once = classifier.blend.trees * trees + classifier.blend.linear * classifier.linear.decision(X)
    for block_rows in (1, 7, 64, X.shape[0]):
        assert classifier.log_odds(X, block_rows=block_rows).tobytes() == at_once.tobytes()


def test_without_text_blocks_or_with_linear_c_zero_the_model_is_trees_alone(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    for trained in (
        train_classifier(X, labels, groups, FAST),
        train_classifier(X, labels, groups, TrainingParams(**{**FAST.to_dict(), "linear_c": 0.0}), text_blocks=TEXT),
    ):
        classifier = load_classifier(trained.model_text)
        assert classifier.linear is None and classifier.blend.linear == 0
        np.testing.assert_allclose(
            classifier.log_odds(X), classifier.booster.predict(X[:, model_columns(classifier.booster)], raw_score=True)
        )


def test_text_blocks_are_scaled_to_unit_length_per_row_and_other_columns_are_left_alone() -> None:
    X = sp.csr_matrix(np.array([[3.0, 4.0, 0.0, 2.0, 7.0], [0.0, 0.0, 0.0, 0.0, 5.0], [1.0, 0.0, 1.0, 0.0, 0.0]]))
    scaled = unit_blocks(X, ((0, 2), (2, 4))).toarray()
    np.testing.assert_allclose(scaled[0], [0.6, 0.8, 0.0, 1.0, 7.0])  # two blocks, each of unit length
    np.testing.assert_allclose(scaled[1], [0.0, 0.0, 0.0, 0.0, 5.0])  # empty blocks stay empty, no NaN
    np.testing.assert_allclose(scaled[2], [1.0, 0.0, 1.0, 0.0, 0.0])
    assert X[0, 0] == 3.0  # the input is not changed
    cut = unit_blocks(X, ((0, 2), (2, 4)), np.array([1, 4])).toarray()  # norms still over the whole block
    np.testing.assert_allclose(cut, [[0.8, 7.0], [0.0, 5.0], [0.0, 0.0]])


def test_the_trees_get_the_columns_the_linear_part_weighs_most(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    params = TrainingParams(**{**FAST.to_dict(), "tree_columns": 40})
    classifier = load_classifier(train_classifier(X, labels, groups, params, text_blocks=TEXT).model_text)
    trees = model_columns(classifier.booster)
    assert len(trees) == 40 and set(trees) < set(classifier.linear.columns)
    outside = np.setdiff1d(classifier.linear.columns, trees)
    weight = dict(zip(classifier.linear.columns.tolist(), np.abs(classifier.linear.weights).tolist(), strict=True))
    # Chosen by a linear fit without the inner fold, so the final weights agree only mostly: compare the medians.
    assert np.median([weight[c] for c in trees]) > 3 * np.median([weight[c] for c in outside])
    np.testing.assert_array_equal(classifier.columns, classifier.linear.columns)  # the union of both parts


def test_by_default_the_linear_fit_only_picks_the_trees_columns(corpus: tuple) -> None:
    _, X, labels, groups = corpus
    defaults = TrainingParams()
    assert defaults.linear_c > 0 and defaults.tree_weight == 1.0 and defaults.tree_columns > 0
    picked = TrainingParams(**{**FAST.to_dict(), "tree_weight": 1.0, "tree_columns": 40})
    classifier = load_classifier(train_classifier(X, labels, groups, picked, text_blocks=TEXT).model_text)
    assert classifier.linear is None and (classifier.blend.trees, classifier.blend.linear) == (1.0, 0.0)
    assert len(model_columns(classifier.booster)) == 40  # chosen by the linear fit, as when it joins
    np.testing.assert_allclose(
        classifier.log_odds(X), classifier.booster.predict(X[:, model_columns(classifier.booster)], raw_score=True)
    )
    every = TrainingParams(**{**FAST.to_dict(), "tree_weight": 1.0, "tree_columns": 0})
    unpicked = load_classifier(train_classifier(X, labels, groups, every, text_blocks=TEXT).model_text)
    assert unpicked.linear is None and len(model_columns(unpicked.booster)) > 40


def test_early_stopping_holds_out_whole_groups() -> None:
    groups = np.repeat(np.arange(400), 3)
    mask = inner_validation_mask(groups, 0.2, seed=7)
    per_group = pd.Series(mask).groupby(groups).nunique()
    assert (per_group == 1).all()  # a group is never split between fitting and early stopping
    assert 0.12 < mask.mean() < 0.28


def test_the_inner_fold_is_stratified_and_grouped() -> None:
    """30 groups of 4 records, 5 of them holding one positive: the hash alone often leaves a side without one."""
    groups = np.repeat(np.arange(30), 4)
    labels = (np.isin(groups, [1, 7, 12, 20, 28]) & (np.arange(120) % 4 == 0)).astype(int)
    hashed = [inner_validation_mask(groups, 0.2, seed) for seed in range(20)]
    assert sum(labels[mask].sum() == 0 or labels[~mask].sum() == 0 for mask in hashed) >= 5
    for seed in range(20):
        mask = inner_validation_mask(groups, 0.2, seed, labels)
        assert (pd.Series(mask).groupby(groups).nunique() == 1).all()  # whole groups
        assert labels[mask].sum() == 1 and labels[~mask].sum() == 4  # round(0.2 x 5) positive groups held out
        assert len(set(groups[mask & (labels == 0)])) == 6  # ... and round(0.2 x 25) groups without positives
        assert np.array_equal(mask, inner_validation_mask(groups, 0.2, seed, labels))  # deterministic
        # The start of each stratum's hash ranking: it differs from the hash alone only at the boundary.
        positive_groups = np.isin(groups, groups[labels == 1])
        for stratum in (positive_groups, ~positive_groups):
            held, plain = set(groups[mask & stratum]), set(groups[hashed[seed] & stratum])
            assert held <= plain or plain <= held


def test_training_keeps_the_hash_fold_where_it_holds_both_classes_and_stratifies_only_where_it_does_not() -> None:
    """Large data keeps the fold every benchmarked model was early-stopped on; small data gets the stratified one."""
    groups = np.repeat(np.arange(30), 4)
    labels = (np.isin(groups, [1, 7, 12, 20, 28]) & (np.arange(120) % 4 == 0)).astype(int)
    kept = stratified = 0
    for seed in range(20):
        hashed = inner_validation_mask(groups, 0.2, seed)
        chosen = inner_fold(groups, labels, 0.2, seed)
        if labels[hashed].sum() and labels[~hashed].sum() and (labels[hashed] == 0).any():
            assert np.array_equal(chosen, hashed)
            kept += 1
        else:
            assert np.array_equal(chosen, inner_validation_mask(groups, 0.2, seed, labels))
            assert labels[chosen].sum() and labels[~chosen].sum()
            stratified += 1
    assert kept and stratified


def test_a_train_split_whose_groups_cannot_give_both_sides_both_classes_is_refused() -> None:
    groups = np.repeat(np.arange(20), 3)
    labels = (groups == 4).astype(int)  # one group holds every positive
    X = sp.csr_matrix(np.random.default_rng(0).random((60, 5)))
    with pytest.raises(ValueError, match=r"needs both classes on both sides; .* and 1 train groups hold a positive"):
        train_classifier(X, labels, groups, FAST)


def test_explanations_name_the_ngrams_that_drive_a_prediction() -> None:
    texts = [f"patient {i} developed a rash after the tablet" for i in range(60)] + [
        f"patient {i} asked about the tablet price" for i in range(60)
    ]
    labels = np.array([1] * 60 + [0] * 60)
    frame = pd.DataFrame({"text": texts})
    X = featurize(frame, SMALL_SPEC)
    params = TrainingParams(
        max_rounds=30, early_stopping_rounds=30, min_data_in_leaf=2, feature_fraction=1.0, num_threads=1, linear_c=8.0,
        tree_weight=0.5,
    )
    classifier = load_classifier(train_classifier(X, labels, np.arange(120), params, text_blocks=TEXT).model_text)
    booster = classifier.booster
    names = feature_names(texts, SMALL_SPEC)
    explanation = top_contributions(classifier, X[:1], names, k=3, texts=ReportTexts(texts[:1], SMALL_SPEC))[0]
    top = explanation[0]
    # The words that separate the two templates: present in this report (rash), or the price question's, absent.
    analyzer = HashingVectorizer(ngram_range=SMALL_SPEC.word_ngrams).build_analyzer()
    only_in_ae_report = set(analyzer(texts[0])) - set(analyzer(texts[60]))  # "rash", "after the", ...
    assert top["feature"] in only_in_ae_report | {ABSENT}
    assert top["present"] == (top["feature"] != ABSENT)
    assert top["contribution"] > 0  # it pushes the rash report towards AE
    inputs = X[:, model_columns(booster)]
    attribution = PathAttribution.from_booster(booster)
    contributions = attribution.contributions(booster, inputs).toarray()
    np.testing.assert_allclose(
        contributions.sum(axis=1) + attribution.bias, booster.predict(inputs, raw_score=True), rtol=1e-9, atol=1e-9
    )
    both, bias = log_odds_contributions(classifier, X, attribution)  # trees and linear part together
    np.testing.assert_allclose(np.asarray(both.sum(axis=1)).ravel() + bias, classifier.log_odds(X), atol=1e-9)
    # Same features, same direction as TreeSHAP where it matters most: the top feature of each row agrees in sign.
    shap = booster.predict(inputs, pred_contrib=True)
    shap = (shap.toarray() if hasattr(shap, "toarray") else shap)[:, :-1]
    strongest = np.abs(shap).argmax(axis=1)
    rows = np.arange(len(strongest))
    assert (np.sign(contributions[rows, strongest]) == np.sign(shap[rows, strongest])).mean() > 0.9
    assert set(used_columns(classifier)) <= set(names)  # every column the model uses has a readable name
    ranked = global_importance(classifier, names, X)
    assert ranked[0]["mean_abs_log_odds"] > 0 and ranked[0]["feature"] in only_in_ae_report | set(
        analyzer(texts[60])
    )


def test_largest_per_row_matches_a_plain_sort_with_ties_and_short_rows() -> None:
    from gxp_assets.core.explain import _largest_per_row

    rng = np.random.default_rng(3)
    dense = rng.choice([0.0, 0.0, 0.0, 1.0, -1.0, 2.0, -0.5, 0.25], size=(300, 12))
    dense[7] = 0.0  # an empty row
    matrix = sp.csr_matrix(dense)
    for k in (1, 3, 5):
        rows, columns, values = _largest_per_row(matrix, k)
        expected = []
        for row in range(dense.shape[0]):
            entries = [(-abs(value), column, value) for column, value in enumerate(dense[row]) if value != 0]
            expected += [(row, column, value) for _, column, value in sorted(entries)[:k]]
        assert list(zip(rows.tolist(), columns.tolist(), values.tolist(), strict=True)) == expected
