"""The sentence block end to end in the core: featurized once per text, read by its own linear part and never by the
trees, blended into the log-odds, explained as one term, and stored in the model text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from gxp_assets.core.column_names import feature_names
from gxp_assets.core.demo_data import generate_demo_reports
from gxp_assets.core.embedding_cache import cache_file
from gxp_assets.core.explain import PathAttribution, log_odds_contributions, top_contributions, used_columns
from gxp_assets.core.features import SENTENCE_TERM, FeatureSpec, ReportTexts, featurize
from gxp_assets.core.model import TrainingParams, load_classifier, train_classifier
from gxp_assets.core.sentence_encoder import ENCODER_NAME, ENCODER_SHA256, load_encoder

SPEC = FeatureSpec(word_buckets=2**11, char_buckets=2**11, sentence_encoder=f"{ENCODER_NAME}@{ENCODER_SHA256}")
FAST = TrainingParams(max_rounds=60, early_stopping_rounds=10, num_leaves=8, min_data_in_leaf=3, num_threads=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cache = tmp_path_factory.mktemp("encoder_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GXP_ENCODER_CACHE", str(cache))
        reports = generate_demo_reports(n_documents=120, seed=11)
        X = featurize(reports, SPEC)
    labels = reports["label"].astype(int).to_numpy()
    model = train_classifier(
        X, labels, reports["document_id"].to_numpy(), FAST,
        text_blocks=SPEC.text_blocks(), sentence_block=SPEC.sentence_block(),
    )  # fmt: skip
    return {"reports": reports, "X": X, "labels": labels, "model_text": model.model_text, "cache": cache}


def test_the_sentence_block_holds_the_encoders_embedding_after_the_char_block(trained: dict) -> None:
    X, texts = trained["X"], trained["reports"]["text"].tolist()
    start, end = SPEC.sentence_block()
    assert (start, end) == (2**11 + 2**11, 2**11 + 2**11 + 384) and X.shape[1] == end
    expected = load_encoder(ENCODER_SHA256).encode(texts[:7])
    assert np.array_equal(X[:7, start:end].toarray(), expected)
    ngrams_only = featurize(trained["reports"], FeatureSpec(word_buckets=2**11, char_buckets=2**11))
    assert (X[:, :start] != ngrams_only).nnz == 0
    assert SPEC.sha256 != FeatureSpec(word_buckets=2**11, char_buckets=2**11).sha256


def test_cached_embeddings_give_the_same_bytes_and_are_used(trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    reports, cache = trained["reports"].head(40), trained["cache"]
    monkeypatch.setenv("GXP_ENCODER_CACHE", str(cache))
    assert cache_file(ENCODER_SHA256).is_file()
    from_cache = featurize(reports, SPEC)
    monkeypatch.setenv("GXP_ENCODER_CACHE", "off")
    assert cache_file(ENCODER_SHA256) is None
    fresh = featurize(reports, SPEC, block_rows=3)
    assert (from_cache != fresh).nnz == 0 and np.array_equal(from_cache.indptr, fresh.indptr)

    def refuse(texts: object) -> np.ndarray:
        raise AssertionError("encoded although every text is in the cache")

    monkeypatch.setenv("GXP_ENCODER_CACHE", str(cache))
    monkeypatch.setattr(type(load_encoder(ENCODER_SHA256)), "encode", refuse)
    assert (featurize(reports, SPEC) != fresh).nnz == 0


def test_a_warm_cache_never_loads_the_encoder(trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading (and hashing) the encoder's files costs more than reading every cached embedding of a corpus."""
    import gxp_assets.core.features as features

    reports = trained["reports"].head(40)
    monkeypatch.setenv("GXP_ENCODER_CACHE", str(trained["cache"]))
    expected = featurize(reports, SPEC)

    def refuse(expected_sha256: str) -> None:
        raise AssertionError("the encoder was loaded although every text is in the cache")

    monkeypatch.setattr(features, "load_encoder", refuse)
    assert (featurize(reports, SPEC) != expected).nnz == 0
    with pytest.raises(AssertionError, match="was loaded"):  # a text the cache lacks still needs it
        featurize(generate_demo_reports(n_documents=2, seed=99).assign(text="a text nobody has cached yet"), SPEC)


def test_a_cache_entry_of_the_wrong_size_is_encoded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from gxp_assets.core.embedding_cache import text_key

    monkeypatch.setenv("GXP_ENCODER_CACHE", str(tmp_path))
    reports = generate_demo_reports(n_documents=3, seed=2).head(2)
    first = featurize(reports, SPEC)
    with sqlite3.connect(cache_file(ENCODER_SHA256)) as connection:
        key = text_key(reports["text"].iloc[0])
        connection.execute("UPDATE embedding SET vector = ? WHERE text_sha256 = ?", (b"\x00" * 12, key))
    assert (featurize(reports, SPEC) != first).nnz == 0


def test_the_trees_never_read_the_sentence_block_and_the_parts_blend(trained: dict) -> None:
    classifier = load_classifier(trained["model_text"])
    start, end = SPEC.sentence_block()
    assert classifier.sentence is not None
    assert np.array_equal(classifier.sentence.columns, np.arange(start, end))
    assert not np.isin(classifier.tree_columns, np.arange(start, end)).any()
    assert (classifier.blend.trees, classifier.blend.linear, classifier.blend.sentence) == (0.7, 0.0, 0.3)
    X = trained["X"]
    raw = classifier.booster.predict(classifier.tree_inputs(X), raw_score=True)
    sentence = classifier.sentence.decision(X)
    assert np.allclose(classifier.log_odds(X), 0.7 * raw + 0.3 * sentence)
    assert np.allclose(classifier.predict(X), expit(0.7 * raw + 0.3 * sentence))
    assert load_classifier(classifier.to_text()).to_text() == trained["model_text"]


def test_a_model_without_a_sentence_block_keeps_its_text(trained: dict) -> None:
    plain = FeatureSpec(word_buckets=2**11, char_buckets=2**11)
    X = trained["X"][:, : plain.n_features]
    text = train_classifier(
        X, trained["labels"], trained["reports"]["document_id"].to_numpy(), FAST, text_blocks=plain.text_blocks()
    ).model_text
    assert '"sentence"' not in text
    assert load_classifier(text).sentence is None
    # What a change control plan's model_family is checked against, read from each model.
    assert load_classifier(text).family == "lightgbm"
    assert load_classifier(trained["model_text"]).family == "lightgbm+sentence_network"


def test_the_sentence_part_is_explained_as_one_term_and_everything_adds_up(trained: dict) -> None:
    classifier, X, reports = load_classifier(trained["model_text"]), trained["X"], trained["reports"]
    used = set(used_columns(classifier).tolist())
    assert set(range(*SPEC.sentence_block())) <= used
    names = {column: name for column, name in feature_names(reports["text"], SPEC).items() if column in used}
    attribution = PathAttribution.from_booster(classifier.booster)
    contributions, bias = log_odds_contributions(classifier, X[:20], attribution)
    assert np.allclose(np.asarray(contributions.sum(axis=1)).ravel() + bias, classifier.log_odds(X[:20]))
    texts = ReportTexts.of(reports.head(20), SPEC)
    explanations = top_contributions(classifier, X[:20], names, k=400, attribution=attribution, texts=texts)
    for row, terms in enumerate(explanations):
        features = [term["feature"] for term in terms]
        assert features.count(SENTENCE_TERM) == 1 and not any(term.startswith("column:") for term in features)
        sentence = 0.3 * float(classifier.sentence.decision(X[row : row + 1])[0])
        shown = next(term["contribution"] for term in terms if term["feature"] == SENTENCE_TERM)
        assert shown == pytest.approx(sentence, abs=1e-5)
        total = sum(term["contribution"] for term in terms) + bias  # every term: k is above their number
        assert total == pytest.approx(classifier.log_odds(X[row : row + 1])[0], abs=1e-4)


def test_the_network_is_scikit_learns_own_refit_the_same_way_and_stored_exactly(trained: dict) -> None:
    """Our NumPy evaluation of the stored weights equals scikit-learn's prediction of the network it fitted, the fit
    repeats bit for bit, and the weights survive the model text."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from gxp_assets.core.sentence_head import SentenceHead, fit_sentence_head

    X, labels = trained["X"], trained["labels"]
    columns = np.arange(*SPEC.sentence_block())
    head = fit_sentence_head(X, labels, columns, units=16, seed=3)
    again = fit_sentence_head(X, labels, columns, units=16, seed=3)
    assert np.array_equal(head.hidden, again.hidden) and head.output_bias == again.output_bias
    network = MLPClassifier(hidden_layer_sizes=(16,), alpha=1e-3, early_stopping=True, random_state=3, max_iter=200)
    embedding = X[:, columns].toarray().astype(np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        network.fit(embedding, labels)
    assert np.allclose(expit(head.decision(X)), network.predict_proba(embedding)[:, 1], rtol=0, atol=1e-12)
    restored = SentenceHead.from_dict(head.to_dict())
    assert np.array_equal(restored.decision(X), head.decision(X))
    contributions = head.contributions(X[:5])
    assert contributions.shape == (5, 384) and np.array_equal(contributions.indices, np.zeros(5))
    assert np.array_equal(np.asarray(contributions.sum(axis=1)).ravel(), head.decision(X[:5]))


def test_the_network_is_fitted_once_on_all_train_rows(trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second fit on the inner fold only fed a logged AUROC and cost a seventh of training time on ADE; the stored
    network is the one fitted on every train row."""
    from gxp_assets.core import model as model_module
    from gxp_assets.core.sentence_head import fit_sentence_head

    fitted_rows: list[int] = []

    def counting_fit(X, labels, columns, units, seed):  # type: ignore[no-untyped-def]
        fitted_rows.append(X.shape[0])
        return fit_sentence_head(X, labels, columns, units, seed)

    monkeypatch.setattr(model_module, "fit_sentence_head", counting_fit)
    X, labels = trained["X"], trained["labels"]
    text = train_classifier(
        X, labels, trained["reports"]["document_id"].to_numpy(), FAST,
        text_blocks=SPEC.text_blocks(), sentence_block=SPEC.sentence_block(),
    ).model_text  # fmt: skip
    assert fitted_rows == [X.shape[0]]
    assert text == trained["model_text"]


def test_the_networks_term_is_shared_among_the_words_of_the_reports_asked_for(trained: dict) -> None:
    """Around a report the ReLU network is linear in the embedding (exactly), and the words' shares of it are the
    report's own words; totals stay exact and rows not asked for keep the single term."""
    classifier, X, reports = load_classifier(trained["model_text"]), trained["X"][:12], trained["reports"].head(12)
    head = classifier.sentence
    embedding = head.embedding(X)
    weights, constant = head.local_linear(embedding)
    assert np.allclose((weights * embedding).sum(axis=1) + constant, head.decision(X), rtol=0, atol=1e-9)
    texts = ReportTexts.of(reports, SPEC)
    attribution = PathAttribution.from_booster(classifier.booster)
    asked = np.arange(12) % 2 == 0
    names = feature_names(trained["reports"]["text"], SPEC)
    plain = top_contributions(classifier, X, names, k=400, attribution=attribution, texts=texts, block_rows=5)
    split = top_contributions(
        classifier, X, names, k=400, attribution=attribution, texts=texts, block_rows=5, sentence_rows=asked
    )
    _, bias = log_odds_contributions(classifier, X, attribution)
    for row in range(12):
        if not asked[row]:
            assert split[row] == plain[row]
            continue
        total = sum(term["contribution"] for term in split[row]) + bias
        assert total == pytest.approx(classifier.log_odds(X[row : row + 1])[0], abs=1e-4)
        before = {term["feature"]: term["contribution"] for term in plain[row]}
        after = {term["feature"]: term["contribution"] for term in split[row]}
        assert after[SENTENCE_TERM] != pytest.approx(before[SENTENCE_TERM], abs=1e-6)
        text = reports["text"].iloc[row].lower()
        moved = [term for term in after if term not in before or after[term] != pytest.approx(before[term])]
        assert moved and all(term == SENTENCE_TERM or term in text for term in moved)
