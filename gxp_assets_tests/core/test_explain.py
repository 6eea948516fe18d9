from __future__ import annotations

import itertools
import string

import pytest

from gxp_assets.core.column_names import TextColumns, feature_names, ngram_column
from gxp_assets.core.demo_data import generate_demo_reports
from gxp_assets.core.explain import (
    ABSENT,
    PathAttribution,
    _terms,
    global_importance,
    log_odds_contributions,
    text_columns,
    top_contributions,
    used_columns,
)
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, FeatureSpec, ReportTexts, featurize, hashing_vectorizer
from gxp_assets.core.model import TrainingParams, load_classifier, train_classifier

# Few buckets, so that hash collisions happen and must not show.
SPEC = FeatureSpec(word_buckets=2**11, char_buckets=2**11)
FAST = TrainingParams(
    max_rounds=80, early_stopping_rounds=10, num_leaves=8, min_data_in_leaf=3, num_threads=1, linear_c=8.0,
    tree_weight=0.5,
)


@pytest.fixture(scope="module")
def explained() -> dict:
    reports = generate_demo_reports(n_documents=200, seed=5)
    X = featurize(reports, SPEC)
    labels = reports["label"].astype(int).to_numpy()
    booster = load_classifier(
        train_classifier(X, labels, reports["document_id"].to_numpy(), FAST, text_blocks=SPEC.text_blocks()).model_text
    )
    texts = reports["text"].tolist()
    used = set(used_columns(booster).tolist())
    names = {column: name for column, name in feature_names(texts, SPEC).items() if column in used}
    return {"booster": booster, "X": X, "texts": texts, "names": names}


def _readable_units(text: str) -> set[str]:
    """Everything a term may be: the report's word n-grams, or one of its whitespace words stripped of punctuation."""
    grams = set(hashing_vectorizer(SPEC, "word").build_analyzer()(text))
    words = {word.strip(string.punctuation) or word for word in text.lower().split()}  # ":(" stays ":("
    return grams | words


def test_terms_are_the_reports_own_words_each_once_largest_first(explained: dict) -> None:
    booster, X, texts, names = explained["booster"], explained["X"], explained["texts"], explained["names"]
    explanations = top_contributions(booster, X, names, k=8, texts=ReportTexts(texts, SPEC))
    assert len(explanations) == len(texts)
    bigrams = 0
    for text, entries in zip(texts, explanations, strict=True):
        features = [entry["feature"] for entry in entries]
        assert len(features) == len(set(features))  # no term twice, whatever collided
        magnitudes = [abs(entry["contribution"]) for entry in entries]
        assert magnitudes == sorted(magnitudes, reverse=True)
        for entry in entries:
            assert entry["present"] == (entry["feature"] != ABSENT)
            if entry["present"]:
                assert entry["feature"] in _readable_units(text), (entry, text)
                bigrams += " " in entry["feature"]
    assert bigrams > 0  # word n-grams are named as such


def test_all_terms_and_the_absent_entry_add_up_to_the_log_odds(explained: dict) -> None:
    booster, X, texts, names = explained["booster"], explained["X"][:40], explained["texts"][:40], explained["names"]
    every = top_contributions(booster, X, names, k=10**6, texts=ReportTexts(texts, SPEC))
    raw = booster.log_odds(X)  # trees and linear part
    _, bias = log_odds_contributions(booster, X, PathAttribution.from_booster(booster.booster))
    for entries, score in zip(every, raw, strict=True):
        assert bias + sum(entry["contribution"] for entry in entries) == pytest.approx(score, abs=1e-6 * len(entries))
    # The top three are the first three of the whole list: nothing outside them is larger.
    top = top_contributions(booster, X, names, k=3, texts=ReportTexts(texts, SPEC))
    assert all(a == b[:3] for a, b in zip(top, every, strict=True))


@pytest.mark.parametrize("with_texts", [True, False])
def test_explanations_in_row_blocks_are_those_of_one_block(explained: dict, with_texts: bool) -> None:
    """Blocks of 1, 7 (not dividing the batch) and 64 rows give every report the entries of the batch explained in one
    go, to the last digit; the batch is larger than every block size."""
    booster, X, names = explained["booster"], explained["X"], explained["names"]
    texts = ReportTexts(explained["texts"], SPEC) if with_texts else None
    assert X.shape[0] > 64
    whole = top_contributions(booster, X, names, k=4, texts=texts, block_rows=X.shape[0])
    assert sum(len(entries) for entries in whole) > 3 * X.shape[0]
    for block_rows in (1, 7, 64):
        assert top_contributions(booster, X, names, k=4, texts=texts, block_rows=block_rows) == whole


def test_one_text_columns_kept_across_chunks_and_emptied_when_full_names_the_same_terms(
    explained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scorer keeps one TextColumns for its whole run; its caches stay bounded and never change a term."""
    booster, X, texts, names = explained["booster"], explained["X"], explained["texts"], explained["names"]
    whole = top_contributions(booster, X, names, k=4, texts=ReportTexts(texts, SPEC))
    monkeypatch.setattr(TextColumns, "MAX_CACHED", 50)
    kept = text_columns(booster, SPEC)
    chunks = []
    for start in range(0, X.shape[0], 60):
        rows = slice(start, start + 60)
        chunks += top_contributions(booster, X[rows], names, k=4, texts=ReportTexts(texts[rows], SPEC), words=kept)
        assert 0 < len(kept._word_columns) <= 50 and 0 < len(kept._gram_columns) <= 50
    assert chunks == whole


def test_a_column_shared_by_two_words_is_split_and_summed_per_word() -> None:
    spec = DEFAULT_FEATURE_SPEC
    ash = spec.word_buckets + ngram_column("ash", spec.char_buckets)  # inside "rash" and "crash"
    rash = ngram_column("rash", spec.word_buckets)
    terms = _terms("Rash, crash", {ash: 1.0, rash: 0.4}, TextColumns(spec, [ash]), {}, True, True)
    assert terms == pytest.approx({"rash": 0.9, "crash": 0.5})


def test_colliding_words_are_named_by_each_reports_own_word() -> None:
    spec = FeatureSpec(word_buckets=2**4, char_buckets=2**4)
    words = ["fever", "nausea", "rash", "headache", "price", "tablet", "dizziness", "refund", "insomnia", "cough"]
    first, second = next(
        (a, b) for a, b in itertools.combinations(words, 2) if ngram_column(a, 16) == ngram_column(b, 16)
    )
    column = ngram_column(first, 16)
    names = {column: first}  # what the training vocabulary would call the column
    finder = TextColumns(spec)
    for word in (first, second):
        assert _terms(f"I had {word}", {column: 1.0}, finder, names, True, False) == {word: 1.0}


def test_without_texts_columns_are_named_from_training_words_and_merged(explained: dict) -> None:
    booster, X, names = explained["booster"], explained["X"], explained["names"]
    assert not any(name.startswith(("char:", "word:")) for name in names.values())
    for entries in top_contributions(booster, X[:50], names, k=6):
        keys = [(entry["feature"], entry["present"]) for entry in entries]
        assert len(keys) == len(set(keys))
    ranked = global_importance(booster, names, X, k=50)
    assert len({row["feature"] for row in ranked}) == len(ranked) > 0
    moves = [row["mean_abs_log_odds"] for row in ranked]
    assert moves == sorted(moves, reverse=True)
    with pytest.raises(ValueError, match="texts for"):
        top_contributions(booster, X[:3], names, k=3, texts=ReportTexts(["one text"], SPEC))
