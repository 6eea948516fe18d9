"""A declared, versioned feature specification and the one pure function that applies it to a pandas batch.

Text goes through hashed word and character n-grams: stateless, so a batch can be featurized anywhere (a
subprocess, a Spark ``mapInPandas`` task, a scoring run) with the same result and nothing fitted to carry around,
and no vocabulary learnt from test data. Numeric and categorical columns of a tabular use case go through the same
spec into the same sparse matrix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from operator import itemgetter

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from gxp_assets.core.embedding_cache import cache_file, encode_cached
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.sentence_encoder import DIMENSION as SENTENCE_DIMENSION
from gxp_assets.core.sentence_encoder import ENCODER_NAME, ENCODER_SHA256, TokenWeights, load_encoder
from gxp_assets.core.tabular_features import tabular_parts

#: The one term the sentence block's columns are explained as.
SENTENCE_TERM = "(the report as a whole: sentence encoder)"


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides a feature matrix; its hash versions the features and every model built on them."""

    name: str = "ae-text"
    version: str = "2"
    text_column: str | None = "text"
    # presence: 1 where an n-gram occurs (best for trees, measured in benchmarks/quality.py);
    # log_count_l2: log(1 + count), unit length per block (for linear models)
    text_weighting: str = "presence"
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    word_buckets: int = 2**18
    char_buckets: int = 2**18
    numeric_columns: tuple[str, ...] = ()
    categorical_columns: tuple[str, ...] = ()
    categorical_buckets: int = 2**10
    dtype: str = field(default="float32")
    # A pretrained sentence encoder's embedding of the text ("name@sha256" of its files, which a model then
    # requires): meaning in context, which hashed n-grams miss (benchmarks/quality.py). None: n-grams only.
    sentence_encoder: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(self.to_dict()))

    @classmethod
    def from_dict(cls, values: dict) -> FeatureSpec:
        tuples = {"word_ngrams", "char_ngrams", "numeric_columns", "categorical_columns"}
        return cls(**{key: tuple(value) if key in tuples else value for key, value in values.items()})

    def blocks(self) -> list[tuple[str, int]]:
        """Named column blocks of the matrix in order, with their widths."""
        blocks = []
        if self.text_column:
            blocks += [("word", self.word_buckets), ("char", self.char_buckets)]
            if self.sentence_encoder:
                blocks.append(("sentence", SENTENCE_DIMENSION))
        blocks += [(f"num:{name}", 1) for name in self.numeric_columns]
        if self.categorical_columns:
            blocks.append(("cat", self.categorical_buckets))
        return blocks

    def text_blocks(self) -> tuple[tuple[int, int], ...]:
        """The [start, end) column ranges of the word and character blocks (none without a text column)."""
        ranges, offset = [], 0
        for block, width in self.blocks():
            if block in ("word", "char"):
                ranges.append((offset, offset + width))
            offset += width
        return tuple(ranges)

    @property
    def encoder_sha256(self) -> str:
        """The digest of the encoder's files that ``sentence_encoder`` pins (after its "@")."""
        return str(self.sentence_encoder).partition("@")[2]

    def sentence_block(self) -> tuple[int, int] | None:
        """The [start, end) columns of the sentence embedding, None without an encoder."""
        offset = 0
        for block, width in self.blocks():
            if block == "sentence":
                return offset, offset + width
            offset += width
        return None

    @property
    def n_features(self) -> int:
        return sum(width for _, width in self.blocks())


#: AE triage: hashed n-grams for the trees, and the sentence encoder's embedding for a network of its own
#: (benchmarks/quality.py on ADE: the AUROC and auto-close targets of the safety issue are out of reach without it).
DEFAULT_FEATURE_SPEC = FeatureSpec(version="3", sentence_encoder=f"{ENCODER_NAME}@{ENCODER_SHA256}")


def hashing_vectorizer(spec: FeatureSpec, block: str) -> HashingVectorizer:
    """The stateless hasher of the "word" or "char" block; the naming helpers below re-use its analyzer."""
    word = block == "word"
    return HashingVectorizer(
        n_features=spec.word_buckets if word else spec.char_buckets,
        ngram_range=spec.word_ngrams if word else spec.char_ngrams,
        analyzer="word" if word else "char_wb",
        lowercase=True,
        alternate_sign=False,
        norm=None,
        dtype=np.float64,
    )


def _weighted(counts: sp.csr_matrix, spec: FeatureSpec) -> sp.csr_matrix:
    """Counts of a text block as the spec weights them; row by row, so a block of rows weighs as the whole would."""
    if spec.text_weighting == "presence":
        counts.data[:] = 1.0
        return counts.astype(spec.dtype)
    if spec.text_weighting == "log_count_l2":  # long call-centre notes should not outweigh short posts
        counts.data = np.log1p(counts.data)
        return normalize(counts, norm="l2").astype(spec.dtype)
    raise ValueError(f"unknown text_weighting {spec.text_weighting!r}: use 'presence' or 'log_count_l2'")


class _CharCounts:
    """The char_wb block exactly as HashingVectorizer counts it, hashing each distinct word of the batch once.

    char_wb n-grams never cross a space, so a text's n-gram counts are (texts x words) @ (words x n-gram columns):
    words repeat, so hashing per distinct word instead of per occurrence, and one sparse product, is several times
    faster than the vectorizer's Python loop over every n-gram of every text (byte-identical output; tested).
    The product is taken for a block of rows at a time (:meth:`rows`): whole, it holds float64 counts of every
    n-gram of the batch, several times the finished block.
    """

    def __init__(self, texts: list[str], spec: FeatureSpec) -> None:
        word_ids: dict[str, int] = {}
        occurrences: list[int] = []
        indptr = [0]
        for text in texts:
            occurrences.extend(word_ids.setdefault(word, len(word_ids)) for word in text.lower().split())
            indptr.append(len(occurrences))
        self.words = sp.csr_matrix(
            (np.ones(len(occurrences)), np.asarray(occurrences, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), len(word_ids)),
        )
        del occurrences, indptr
        # Each distinct word's n-grams (insertion order = id order), hashed in C by the hasher HashingVectorizer uses.
        hasher = FeatureHasher(n_features=spec.char_buckets, input_type="string", alternate_sign=False)
        self.grams = (
            hasher.transform(_word_grams(word, spec.char_ngrams) for word in word_ids).tocsr()
            if word_ids
            else sp.csr_matrix((0, spec.char_buckets))  # the hasher refuses an empty batch
        )
        self.grams.sum_duplicates()

    def nnz(self, start: int, stop: int) -> int:
        """How many distinct n-gram columns texts ``start`` to ``stop`` hold (the product's entries are distinct)."""
        return int((self.words[start:stop] @ self.grams).nnz)

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        """Counts of texts ``start`` to ``stop`` (a row's counts do not depend on the other rows)."""
        counts = (self.words[start:stop] @ self.grams).tocsr()
        counts.sum_duplicates()
        counts.sort_indices()
        return counts


def _word_grams(word: str, ngram_range: tuple[int, int]) -> Sequence[str]:
    """The n-grams of :func:`char_wb_ngrams` for one word, without their starts (what the hasher needs)."""
    padded, (low, high) = f" {word} ", ngram_range
    if len(padded) > high:  # the common case: every n-gram of every length, cut in one call
        return _gram_cutter(len(padded), low, high)(padded)
    return [gram for _, gram in char_wb_ngrams(padded, ngram_range)]


@lru_cache(maxsize=1024)
def _gram_cutter(length: int, low: int, high: int) -> Callable[[str], tuple[str, ...]]:
    """Every n-gram (low <= n <= high, by n then start) of a text of ``length`` characters, cut by one itemgetter of
    slices: on ADE's 32,000 distinct words 2.4x faster than slicing in a comprehension, the same grams in order."""
    return itemgetter(*(slice(start, start + n) for n in range(low, high + 1) for start in range(length - n + 1)))


def _texts(batch: pd.DataFrame, spec: FeatureSpec) -> list[str]:
    return batch[spec.text_column].fillna("").astype(str).tolist()


def word_features(batch: pd.DataFrame, spec: FeatureSpec = DEFAULT_FEATURE_SPEC) -> sp.csr_matrix:
    """The word block of ``featurize`` alone (its first ``spec.word_buckets`` columns); no columns without text."""
    if not spec.text_column:
        return sp.csr_matrix((len(batch), 0), dtype=spec.dtype)
    return _word_block(_texts(batch, spec), spec)


def _word_block(texts: list[str], spec: FeatureSpec) -> sp.csr_matrix:
    if not texts:  # sklearn's hasher raises StopIteration on no input
        return sp.csr_matrix((0, spec.word_buckets), dtype=spec.dtype)
    return _weighted(hashing_vectorizer(spec, "word").transform(texts).tocsr(), spec)


#: Rows featurized at a time: the transients (float64 counts, a block's parts before they are joined) are a
#: block's, not the batch's. Each row's features depend on that row alone: the bytes are the whole batch's at once.
FEATURIZE_BLOCK_ROWS = 5_000


def featurize(
    batch: pd.DataFrame,
    spec: FeatureSpec = DEFAULT_FEATURE_SPEC,
    block_rows: int = FEATURIZE_BLOCK_ROWS,
    log: Callable[[str], None] | None = None,
    store_embeddings: bool = True,
    decimal: str = ".",
    token_weights: TokenWeights | None = None,
) -> sp.csr_matrix:
    """Rows of ``batch`` to a CSR matrix of ``spec.n_features`` columns; the same rows always give the same bytes.

    Two passes over row blocks, so that the result is allocated once at its size (blocks made whole and then joined
    would hold the matrix twice at the join): the first makes every part but one and counts that one, the second
    makes it and copies each block into place. The part left for the second pass is the sentence embedding, whose
    count is known without making it (dense: rows x width); without an encoder, the character counts (the bulk of
    such a matrix), which are then made twice, once only to be counted.
    ``store_embeddings=False`` reads the embedding cache without adding to it (scoring: see encode_cached).
    ``token_weights``: the encoder keeps each text's per-token shares for the model's explanation (see
    SentenceEncoder.encode), so that explaining it later runs no second pass of the network.
    ``decimal``: the mark of numbers given as text (core.record_contract.parse_number, as validation reads them);
    numbers given as numbers are taken as they are. No rows give a matrix of no rows, not an error."""
    if len(batch) == 0:  # sklearn's hashers raise StopIteration on no input
        return sp.csr_matrix((0, spec.n_features), dtype=spec.dtype)
    texts = _texts(batch, spec) if spec.text_column else []
    chars = _CharCounts(texts, spec) if spec.text_column else None
    sentence = bool(spec.sentence_encoder and spec.text_column)
    blocks = []
    for start in range(0, max(len(batch), 1), block_rows):  # one empty block for an empty batch
        stop = min(start + block_rows, len(batch))
        parts = [_word_block(texts[start:stop], spec)] if chars is not None else []
        if chars is not None and sentence:  # the sentence part (after this one) is made in the second pass
            parts.append(_weighted(chars.rows(start, stop), spec))
            deferred_nnz = (stop - start) * SENTENCE_DIMENSION
        else:  # the char part (after the word part) is made in the second pass
            deferred_nnz = chars.nnz(start, stop) if chars is not None else 0
        parts += tabular_parts(batch.iloc[start:stop], spec, decimal)
        blocks.append((start, stop, parts, deferred_nnz + sum(part.nnz for part in parts)))
    nnz, width = sum(block[3] for block in blocks), spec.n_features
    index = sp.get_index_dtype(maxval=max(nnz, width))
    data, indices = np.empty(nnz, dtype=spec.dtype), np.empty(nnz, dtype=index)
    indptr = np.zeros(len(batch) + 1, dtype=index)
    filled = 0
    for start, stop, parts, block_nnz in blocks:
        if sentence:  # after the word and char blocks, as in the spec's blocks()
            parts.insert(2, _sentence_part(texts[start:stop], spec, store_embeddings, token_weights))
            if log is not None:
                log(f"sentence encoder: {stop:,} of {len(batch):,} reports")
        elif chars is not None:  # after the word block
            parts.insert(1, _weighted(chars.rows(start, stop), spec))
        piece = sp.hstack(parts, format="csr") if parts else sp.csr_matrix((stop - start, 0), dtype=spec.dtype)
        parts.clear()
        piece.sort_indices()
        if piece.nnz != block_nnz:
            raise RuntimeError(f"rows {start}-{stop}: {piece.nnz} non-zeros where {block_nnz} were counted")
        data[filled : filled + block_nnz] = piece.data
        indices[filled : filled + block_nnz] = piece.indices
        indptr[start + 1 : stop + 1] = piece.indptr[1:]
        indptr[start + 1 : stop + 1] += filled
        filled += block_nnz
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(batch), width))
    matrix.sort_indices()  # each row is sorted already: this records it, as for a matrix sorted whole
    return matrix


def _sentence_part(
    texts: list[str], spec: FeatureSpec, store: bool = True, token_weights: TokenWeights | None = None
) -> sp.csr_matrix:
    """The texts' sentence embeddings as a CSR block (dense: every entry is stored, zeros included).

    The encoder is loaded (and its files hashed) only when the cache lacks a text: a warm cache needs no network."""

    def encode(batch: Sequence[str]) -> np.ndarray:
        return load_encoder(spec.encoder_sha256).encode(batch, token_weights)

    embeddings = encode_cached(texts, encode, cache_file(spec.encoder_sha256), SENTENCE_DIMENSION, store)
    embeddings = embeddings.astype(spec.dtype)
    n, width = embeddings.shape
    indptr = np.arange(0, n * width + 1, width, dtype=np.int64)
    return sp.csr_matrix((embeddings.ravel(), np.tile(np.arange(width), n), indptr), shape=(n, width))


@dataclass(frozen=True)
class ReportTexts:
    """The texts of the rows of a feature matrix, with the spec that hashed them: enough to name its columns."""

    texts: Sequence[str]
    spec: FeatureSpec

    @classmethod
    def of(cls, batch: pd.DataFrame, spec: FeatureSpec) -> ReportTexts | None:
        """The batch's texts, or None for a use case without text."""
        return cls(_texts(batch, spec), spec) if spec.text_column else None


def char_wb_ngrams(padded: str, ngram_range: tuple[int, int]) -> list[tuple[int, str]]:
    """The char_wb n-grams of one space-padded word with their starts, in sklearn's order, with its short-word rule."""
    low, high = ngram_range
    grams = []
    for n in range(low, high + 1):
        if len(padded) <= n:  # a word shorter than n is counted once, whole, and longer n-grams are not made
            grams.append((0, padded))
            break
        grams.extend((offset, padded[offset : offset + n]) for offset in range(len(padded) - n + 1))
    return grams


@dataclass(frozen=True)
class FeatureMatrix:
    """A feature matrix with the report ids of its rows and the spec that made it."""

    report_ids: np.ndarray
    matrix: sp.csr_matrix
    spec: FeatureSpec

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays in scipy's ``.npz`` layout plus ids and spec: readable without our code or pickle."""
        return {
            "format": np.array("csr"),
            "shape": np.array(self.matrix.shape, dtype=np.int64),
            "data": self.matrix.data,
            "indices": self.matrix.indices,
            "indptr": self.matrix.indptr,
            "report_ids": self.report_ids.astype(str),
            "spec_json": np.array(canonical_json(self.spec.to_dict()).decode()),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FeatureMatrix:
        shape = tuple(int(size) for size in arrays["shape"])
        matrix = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        spec = FeatureSpec.from_dict(json.loads(str(arrays["spec_json"])))
        return cls(report_ids=arrays["report_ids"], matrix=matrix, spec=spec)
