from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gxp_assets.core.column_names import TextColumns, feature_names, ngram_column
from gxp_assets.core.features import (
    DEFAULT_FEATURE_SPEC,
    SENTENCE_TERM,
    FeatureMatrix,
    FeatureSpec,
    _CharCounts,
    char_wb_ngrams,
    featurize,
    hashing_vectorizer,
)

TEXTS = ["Severe rash after starting drugX", "no side effects so far", "rash"]


def test_featurize_is_deterministic_and_row_independent() -> None:
    batch = pd.DataFrame({"text": TEXTS})
    whole = featurize(batch)
    again = featurize(batch)
    assert whole.shape == (3, DEFAULT_FEATURE_SPEC.n_features)
    assert (whole != again).nnz == 0
    alone = featurize(batch.iloc[[1]])  # a batch of one gives the same row as in a batch of three
    assert (alone != whole[1]).nnz == 0


def test_text_weightings_presence_and_unit_length_log_counts() -> None:
    batch = pd.DataFrame({"text": ["Rash RASH", "rash rash", "rash"]})
    presence = featurize(batch)[:, : DEFAULT_FEATURE_SPEC.sentence_block()[0]]  # the n-gram blocks
    assert set(presence.data) == {1.0}
    assert (presence[0] != presence[1]).nnz == 0  # case is ignored
    assert presence[1].nnz > presence[2].nnz  # "rash rash" holds the bigram and the space-spanning char n-grams
    logged = featurize(batch, FeatureSpec(text_weighting="log_count_l2"))
    word_block = logged[:, : DEFAULT_FEATURE_SPEC.word_buckets].toarray()
    np.testing.assert_allclose(np.linalg.norm(word_block, axis=1), [1.0, 1.0, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown text_weighting"):
        featurize(batch, FeatureSpec(text_weighting="tfidf"))


def test_feature_names_map_columns_back_to_words_never_character_ngrams() -> None:
    names = feature_names(TEXTS)
    row = featurize(pd.DataFrame({"text": ["rash"]}))
    start, end = DEFAULT_FEATURE_SPEC.sentence_block()
    # The word column and every character n-gram column of "rash" (" ra", "ash ", ...) read as the word itself; the
    # sentence embedding's columns, all present, are one term.
    assert {names[column] for column in row.indices if column < start} == {"rash"}
    assert {names[column] for column in row.indices if column >= start} == {SENTENCE_TERM}
    assert row[:, start:end].nnz == end - start
    assert (
        names[DEFAULT_FEATURE_SPEC.word_buckets + ngram_column("drugx", DEFAULT_FEATURE_SPEC.char_buckets)] == "drugx"
    )
    assert names[ngram_column("side effects", DEFAULT_FEATURE_SPEC.word_buckets)] == "side effects"


HOSTILE_TEXTS = [
    "Severe RASH after starting drugX-induced  therapy!!",
    "a I x 5mg\tÜnïcode ΟΔΟΣ (fever), naïve café",
    "",
    "   ",
    "...",
]


@pytest.mark.parametrize("block", ["word", "char"])
def test_ngram_hashing_reproduces_the_vectorizer_exactly(block: str) -> None:
    spec = FeatureSpec(word_buckets=2**10, char_buckets=2**10)
    vectorizer = hashing_vectorizer(spec, block)
    analyzer = vectorizer.build_analyzer()
    width = spec.word_buckets if block == "word" else spec.char_buckets
    for text in HOSTILE_TEXTS + TEXTS:
        if block == "char":  # our positions-aware n-grams are the analyzer's, in its order
            words = text.lower().split()
            assert [gram for word in words for _, gram in char_wb_ngrams(f" {word} ", spec.char_ngrams)] == analyzer(
                text
            )
        expected = set(vectorizer.transform([text]).indices.tolist())
        assert {ngram_column(gram, width) for gram in analyzer(text)} == expected


@pytest.mark.parametrize("ngrams", [(2, 5), (1, 3), (4, 4)])
def test_the_char_block_counts_exactly_what_the_vectorizer_counts(ngrams: tuple[int, int]) -> None:
    """Hashed once per distinct word, then multiplied out: same counts, same bytes as HashingVectorizer's."""
    spec = FeatureSpec(word_buckets=2**6, char_buckets=2**6, char_ngrams=ngrams, text_weighting="log_count_l2")
    texts = HOSTILE_TEXTS + TEXTS + ["rash rash rash", "Rash\n\nRASH\u00a0rash", "ab ab a"]  # repeats, NBSP, collisions
    ours = _CharCounts(texts, spec).rows(0, len(texts))
    theirs = hashing_vectorizer(spec, "char").transform(texts).tocsr()
    theirs.sum_duplicates()
    theirs.sort_indices()
    assert ours.shape == theirs.shape and ours.data.max() > 1  # counts, not presence: repeats are counted
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)
    assert _CharCounts([], spec).rows(0, 0).shape == (0, spec.char_buckets)


def _assert_same_bytes(ours: sp.csr_matrix, theirs: sp.csr_matrix) -> None:
    assert ours.shape == theirs.shape and ours.has_sorted_indices and theirs.has_sorted_indices
    for name in ("data", "indices", "indptr"):
        mine, other = getattr(ours, name), getattr(theirs, name)
        assert mine.dtype == other.dtype and mine.tobytes() == other.tobytes(), name


BLOCK_TEXTS = HOSTILE_TEXTS + TEXTS + ["rash rash rash", "Rash\n\nRASH\u00a0rash", "ab ab a", "x" * 300]


@pytest.mark.parametrize("block_rows", [1, 3, 4, 5_000])
def test_featurize_in_row_blocks_is_the_vectorizers_presence_matrix(block_rows: int) -> None:
    """Whatever the block size (one row, blocks not dividing the batch, one block), the matrix is byte for byte
    HashingVectorizer's word and char_wb blocks side by side, set to presence, in the spec's dtype."""
    spec = FeatureSpec(word_buckets=2**8, char_buckets=2**8)  # small: many collisions within a row
    expected = []
    for block in ("word", "char"):
        counts = hashing_vectorizer(spec, block).transform(BLOCK_TEXTS).tocsr()
        counts.sum_duplicates()
        counts.data[:] = 1.0
        expected.append(counts.astype(spec.dtype))
    theirs = sp.hstack(expected, format="csr")
    theirs.sort_indices()
    _assert_same_bytes(featurize(pd.DataFrame({"text": BLOCK_TEXTS}), spec, block_rows=block_rows), theirs)


@pytest.mark.parametrize(
    "spec",
    [
        FeatureSpec(text_weighting="log_count_l2", numeric_columns=("age",), categorical_columns=("sex",)),
        FeatureSpec(text_column=None, numeric_columns=("age",), categorical_columns=("sex",), categorical_buckets=16),
    ],
)
def test_row_blocks_give_the_bytes_of_one_block(spec: FeatureSpec) -> None:
    """Weighted text (row-normalised) and tabular columns (NaN kept) are blocked without a byte changing."""
    rows = len(BLOCK_TEXTS)
    ages, sexes = (["54", "not a number", None] * rows)[:rows], (["F", "M", None] * rows)[:rows]
    batch = pd.DataFrame({"text": BLOCK_TEXTS, "age": ages, "sex": sexes})
    whole = featurize(batch, spec, block_rows=rows)
    age = spec.text_blocks()[-1][1] if spec.text_column else 0  # the numeric column follows the text blocks
    expected_ages = pd.to_numeric(batch["age"], errors="coerce").to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(whole[:, age].toarray().ravel(), expected_ages)  # NaN where missing, as NaN
    for block_rows in (1, 2, 5):
        _assert_same_bytes(featurize(batch, spec, block_rows=block_rows), whole)


def test_text_columns_word_cache_is_emptied_when_its_credits_pass_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = DEFAULT_FEATURE_SPEC
    wanted = [spec.word_buckets + ngram_column(gram, spec.char_buckets) for gram in ("ash", "ras", "cra", "tra")]
    monkeypatch.setattr(TextColumns, "MAX_CACHED_CREDITS", 3)
    columns = TextColumns(spec, wanted)
    for word in ["rash", "crash", "trash", "ashes", "rash", "crash"]:
        assert columns.char_credits(word) == columns._char_credits(word)  # what a cold cache would find
        held = sum(len(credits) for credits in columns._word_columns.values())
        assert held == columns._credits_cached <= 3  # each of these words holds 1-2 wanted columns
        assert word in columns._word_columns


def test_text_columns_find_the_words_behind_each_column() -> None:
    spec = DEFAULT_FEATURE_SPEC
    char = spec.word_buckets + ngram_column("ash", spec.char_buckets)
    columns = TextColumns(spec, [char])
    assert dict(columns.char_credits("rash,")) == {char: ("rash",)}  # punctuation is not part of the word
    assert columns.char_credits("fever") == {}  # columns not asked about are not reported
    hyphen = spec.word_buckets + ngram_column("x-i", spec.char_buckets)
    assert dict(TextColumns(spec, [hyphen]).char_credits("drugx-induced")) == {hyphen: ("drugx", "induced")}
    single = spec.word_buckets + ngram_column(" a ", spec.char_buckets)
    assert dict(TextColumns(spec, [single]).char_credits("a")) == {single: ("a",)}
    grams = dict(columns.word_ngrams("Severe rash, severe"))
    assert grams == {
        gram: ngram_column(gram, spec.word_buckets) for gram in ("severe", "rash", "severe rash", "rash severe")
    }


def test_spec_hash_changes_with_the_spec_and_round_trips() -> None:
    other = FeatureSpec(word_ngrams=(1, 1))
    assert other.sha256 != DEFAULT_FEATURE_SPEC.sha256
    assert FeatureSpec.from_dict(other.to_dict()) == other


def test_tabular_columns_go_through_the_same_spec() -> None:
    spec = FeatureSpec(text_column=None, numeric_columns=("age",), categorical_columns=("sex",), categorical_buckets=16)
    batch = pd.DataFrame({"age": ["54", "not a number", None], "sex": ["F", "M", None]})
    matrix = featurize(batch, spec).toarray()
    assert matrix.shape == (3, 17)
    assert matrix[0, 0] == 54 and np.isnan(matrix[1, 0]) and np.isnan(matrix[2, 0])
    assert matrix[0, 1:].sum() == 1 and matrix[2, 1:].sum() == 0
    assert not np.array_equal(matrix[0, 1:], matrix[1, 1:])
    assert feature_names([], spec) == {0: "num:age"}


def test_feature_matrix_round_trips_through_plain_arrays() -> None:
    batch = pd.DataFrame({"text": TEXTS})
    features = FeatureMatrix(np.array(["a", "b", "c"]), featurize(batch), DEFAULT_FEATURE_SPEC)
    arrays = features.to_arrays()
    assert all(array.dtype != object for array in arrays.values())
    back = FeatureMatrix.from_arrays(arrays)
    assert (back.matrix != features.matrix).nnz == 0
    assert back.spec == DEFAULT_FEATURE_SPEC and list(back.report_ids) == ["a", "b", "c"]
