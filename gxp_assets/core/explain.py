"""Why a report scored as it did: per-prediction contributions to the model's log-odds, named as words.

The model's log-odds are the trees' plus the linear parts' (each times its blend weight); a column's contribution is
the sum of the parts' moves. A linear part's move is exact: weight x value. The sentence embedding's columns are
explained together, as one term (``SENTENCE_TERM``): its dimensions mean nothing one by one. The trees' are path
attributions (Saabas, the "treeinterpreter" method): in every tree, each split on the report's decision path moves
the expected log-odds from the parent node's value to the child's, and that move is credited to the split's feature.
They add up exactly to the raw score (bias = the trees' root values), like TreeSHAP's, and cost one leaf lookup per
tree instead of TreeSHAP's leaves x depth^2, which is what lets a batch of a million reports be explained as it is
scored. Per-leaf attributions are computed once per model from its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from gxp_assets.core.column_names import TextColumns
from gxp_assets.core.features import SENTENCE_TERM, FeatureSpec, ReportTexts
from gxp_assets.core.model import Classifier, model_columns
from gxp_assets.core.sentence_encoder import WHOLE_REPORT, load_encoder


def used_columns(classifier: Classifier) -> np.ndarray:
    """Feature-matrix columns the model uses (split on, or weighted): the only ones an explanation can name."""
    booster = classifier.booster
    used = model_columns(booster)[booster.feature_importance(importance_type="split") > 0]
    for part, _ in classifier.linear_parts:
        used = np.union1d(used, part.used_columns())
    return used


def column_name(names: dict[int, str], column: int) -> str:
    return names.get(column, f"column:{column}")


@dataclass(frozen=True)
class PathAttribution:
    """Each leaf of each tree as the sum of the feature moves on its path; a row sums the leaves it lands in."""

    leaf_offsets: np.ndarray  # first global leaf id of each tree
    per_leaf: sp.csr_matrix  # (all leaves, model features): log-odds moved by each feature on the leaf's path
    bias: float  # the trees' root values: the expected log-odds before any split

    @classmethod
    def from_booster(cls, booster: lgb.Booster) -> PathAttribution:
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        offsets: list[int] = []
        bias = 0.0
        total = 0
        for tree in booster.dump_model()["tree_info"]:
            offsets.append(total)
            root = tree["tree_structure"]
            bias += float(root.get("internal_value", root.get("leaf_value", 0.0)))
            stack: list[tuple[dict, list[tuple[int, float]]]] = [(root, [])]
            while stack:
                node, path = stack.pop()
                if "leaf_index" in node or "split_feature" not in node:
                    leaf = total + int(node.get("leaf_index", 0))
                    rows.extend([leaf] * len(path))
                    columns.extend(feature for feature, _ in path)
                    values.extend(move for _, move in path)
                    continue
                for side in ("left_child", "right_child"):
                    child = node[side]
                    child_value = float(child.get("internal_value", child.get("leaf_value", 0.0)))
                    move = child_value - float(node["internal_value"])
                    stack.append((child, [*path, (int(node["split_feature"]), move)]))
            total += int(tree["num_leaves"])
        per_leaf = sp.csr_matrix((values, (rows, columns)), shape=(total, booster.num_feature()), dtype=np.float64)
        return cls(np.asarray(offsets, dtype=np.int64), per_leaf, bias)

    def contributions(self, booster: lgb.Booster, inputs: sp.csr_matrix) -> sp.csr_matrix:
        """(rows, model features) contributions of model-input rows; each row plus ``bias`` is its raw score."""
        leaves = np.asarray(booster.predict(inputs, pred_leaf=True), dtype=np.int64).reshape(inputs.shape[0], -1)
        ids = (leaves + self.leaf_offsets[: leaves.shape[1]]).ravel()
        n_rows, n_trees = leaves.shape
        indptr = np.arange(0, n_rows * n_trees + 1, n_trees, dtype=np.int64)
        landed = sp.csr_matrix((np.ones(len(ids)), ids, indptr), shape=(n_rows, self.per_leaf.shape[0]))
        return (landed @ self.per_leaf).tocsr()


def log_odds_contributions(
    classifier: Classifier, X: sp.csr_matrix, attribution: PathAttribution
) -> tuple[sp.csr_matrix, float]:
    """(rows, ``classifier.columns``) moves of both parts, and the bias: each row's sum plus it is the log-odds."""
    blend, columns = classifier.blend, classifier.columns
    trees = attribution.contributions(classifier.booster, classifier.tree_inputs(X)).tocoo()
    parts = [(trees, classifier.tree_columns, blend.trees)]
    bias = blend.trees * attribution.bias
    for part, weight in classifier.linear_parts:
        parts.append((part.contributions(X).tocoo(), part.columns, weight))
        bias += weight * part.intercept
    rows, positions, values = [], [], []
    for moves, part_columns, weight in parts:
        rows.append(moves.row)
        positions.append(np.searchsorted(columns, part_columns)[moves.col])
        values.append(moves.data * weight)
    shape = (X.shape[0], len(columns))
    merged = sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(positions))), shape=shape)
    return merged, float(bias)


ABSENT = "(words absent from the report)"
# Without the texts, columns named from training words: the strongest this many beyond the k shown are summed.
EXTRA_COLUMNS = 20


#: Reports explained at a time: what is held is one block's contributions (whole, a 50,000-report chunk's took
#: some 350 MB). A report's explanation depends on its own row alone, so the blocks give the same entries.
EXPLAIN_BLOCK_ROWS = 5_000


def top_contributions(
    classifier: Classifier,
    X: sp.csr_matrix,
    names: dict[int, str],
    k: int = 5,
    attribution: PathAttribution | None = None,
    texts: ReportTexts | None = None,
    block_rows: int = EXPLAIN_BLOCK_ROWS,
    sentence_rows: np.ndarray | None = None,
    words: TextColumns | None = None,
) -> list[list[dict]]:
    """Per row, the k terms that moved its log-odds most (positive: towards AE), largest magnitude first.

    With ``texts`` (the rows' own texts), terms are the report's words and word n-grams: a word column is named by
    the report's n-grams that hash to it, a character n-gram column is credited to the report's words holding it
    (split equally between several), and the shares are summed per term, so no term appears twice. What features
    *absent* from the report moved is one entry, ``ABSENT`` (present: false), so bias + all terms + that entry is
    the log-odds. Every present column is mapped: the linear part spreads a word's weight over its many character
    n-grams, so a word's total is only right when all of them are summed.
    Present columns outside the text blocks (numeric, categorical) keep their ``names``.

    Without ``texts``, columns are named from ``names`` (training vocabulary) and summed per (name, presence).
    Pass ``attribution`` to reuse a model's precomputed per-leaf attributions across chunks.

    ``sentence_rows`` (with ``texts``; a mask) are the rows whose sentence-network term is shared among their words
    (:func:`sentence_words`); a text whose shares the encoder did not keep is encoded again, so scoring asks it for the
    reports people read only.
    ``words`` (:func:`text_columns` of this classifier) keeps its hashes of words from one call to the next: a
    scorer passes one for all its chunks, so that a word is hashed once per run, not once per chunk.
    """
    if texts is not None and len(texts.texts) != X.shape[0]:
        raise ValueError(f"{len(texts.texts)} texts for {X.shape[0]} feature rows")
    attribution = attribution or PathAttribution.from_booster(classifier.booster)
    if texts is not None and (words is None or words.spec != texts.spec):
        words = text_columns(classifier, texts.spec)
    explanations: list[list[dict]] = []
    for start in range(0, X.shape[0], block_rows):
        block = X[start : start + block_rows]
        contributions, _ = log_odds_contributions(classifier, block, attribution)
        inputs = classifier.inputs(block)
        if texts is None or words is None:
            explanations += _named_by_columns(contributions, inputs, classifier.columns, names, k)
        else:
            block_texts = texts.texts[start : start + block_rows]
            split = None
            if sentence_rows is not None and classifier.sentence is not None and classifier.blend.sentence:
                mask = np.asarray(sentence_rows)[start : start + block_rows]
                split = sentence_words(classifier, block, block_texts, texts.spec, mask)
            explanations += _named_by_texts(
                contributions, inputs, classifier.columns, names, k, block_texts, words, split
            )
    return explanations


def text_columns(classifier: Classifier, spec: FeatureSpec) -> TextColumns:
    """The names of ``spec``'s text columns this classifier reads: every char column it reads is looked for."""
    original = classifier.columns
    is_char = (original >= spec.word_buckets) & (original < spec.word_buckets + spec.char_buckets)
    return TextColumns(spec, original[is_char].tolist())


def _named_by_texts(
    contributions: sp.csr_matrix,
    inputs: sp.csr_matrix,
    original: np.ndarray,
    names: dict[int, str],
    k: int,
    texts: Sequence[str],
    words: TextColumns,
    sentence_split: list[dict[str, float] | None] | None = None,
) -> list[list[dict]]:
    """With the rows' texts: each row's present columns summed per term of its own text, plus the ``ABSENT`` entry;
    where ``sentence_split`` has a row's word shares of the sentence term, they replace that term but its rest."""
    present = contributions.multiply(inputs != 0).tocsr()
    absent = np.asarray(contributions.sum(axis=1)).ravel() - np.asarray(present.sum(axis=1)).ravel()
    present.eliminate_zeros()
    rows = np.repeat(np.arange(present.shape[0]), np.diff(present.indptr))
    columns, values = original[present.indices.astype(np.int64)], present.data
    spec = words.spec
    is_char = (columns >= spec.word_buckets) & (columns < spec.word_buckets + spec.char_buckets)
    n_rows = contributions.shape[0]
    bounds = np.searchsorted(rows, np.arange(n_rows + 1)).tolist()
    has_word = (np.bincount(rows, weights=columns < spec.word_buckets, minlength=n_rows) > 0).tolist()
    has_char = (np.bincount(rows, weights=is_char, minlength=n_rows) > 0).tolist()
    column_list, value_list = columns.tolist(), values.tolist()
    explanations = []
    for row, text in enumerate(texts):
        first, last = bounds[row], bounds[row + 1]
        selected = dict(zip(column_list[first:last], value_list[first:last], strict=True))
        terms = _terms(text, selected, words, names, has_word[row], has_char[row])
        if sentence_split is not None and sentence_split[row] is not None and SENTENCE_TERM in terms:
            whole = terms[SENTENCE_TERM]
            for word, share in sentence_split[row].items():
                terms[word] = terms.get(word, 0.0) + share
                whole -= share
            terms[SENTENCE_TERM] = whole  # what the words do not carry: the exact total is kept
        if absent[row]:
            terms[ABSENT] = terms.get(ABSENT, 0.0) + float(absent[row])
        top = sorted(terms.items(), key=lambda item: (-abs(item[1]), item[0]))[:k]
        explanations.append(
            [{"feature": term, "present": term != ABSENT, "contribution": round(value, 6)} for term, value in top]
        )
    return explanations


def _terms(
    text: str, selected: dict[int, float], words: TextColumns, names: dict[int, str], has_word: bool, has_char: bool
) -> dict[str, float]:
    """The selected present columns' contributions summed per readable term of this report."""
    holders: dict[int, list[str]] = {}
    if has_word:
        for gram, column in words.word_ngrams(text):
            if column in selected:
                held = holders.setdefault(column, [])
                if gram not in held:
                    held.append(gram)
    if has_char:
        # Per selected column, the words holding it, in word order: a report's trees move a few columns, while its
        # words hold a hundred-odd of the model's, so looking the few up is what costs least.
        credits = [words.char_credits(word) for word in dict.fromkeys(text.lower().split())]
        for column in selected:
            for credit in credits:
                credited = credit.get(column)
                if credited is None:
                    continue
                held = holders.get(column)
                if held is None:  # the common case: credited terms are distinct already
                    holders[column] = list(credited)
                else:
                    held.extend(term for term in credited if term not in held)
    terms: dict[str, float] = {}
    for column, value in selected.items():
        held = holders.get(column) or [column_name(names, column)]
        share = value / len(held)
        for term in held:
            terms[term] = terms.get(term, 0.0) + share
    return terms


def _named_by_columns(
    contributions: sp.csr_matrix, inputs: sp.csr_matrix, original: np.ndarray, names: dict[int, str], k: int
) -> list[list[dict]]:
    """Without the texts: each column by its training name, summed per (name, presence), k largest per row."""
    rows, columns, values = _largest_per_row(contributions, max(k, 1) + EXTRA_COLUMNS)
    present = np.asarray(inputs[rows, columns] != 0).ravel() if len(rows) else np.zeros(0, dtype=bool)
    per_row: list[dict[tuple[str, bool], float]] = [{} for _ in range(contributions.shape[0])]
    entries = zip(rows.tolist(), original[columns].tolist(), values.tolist(), present.tolist(), strict=True)
    for row, column, value, is_present in entries:
        key = (column_name(names, column), bool(is_present))
        per_row[row][key] = per_row[row].get(key, 0.0) + value
    return [
        [
            {"feature": name, "present": is_present, "contribution": round(value, 6)}
            for (name, is_present), value in sorted(terms.items(), key=lambda item: (-abs(item[1]), item[0]))[:k]
        ]
        for terms in per_row
    ]


def _largest_per_row(matrix: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and value of each row's k largest non-zeros by magnitude, largest first, ties by column.

    Vectorised (a cut at each row's k-th largest, then one sort of the few entries above it), because a Python loop
    over a million rows would cost more than the model.
    """
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    counts = np.diff(matrix.indptr)
    entry_rows = np.repeat(np.arange(matrix.shape[0]), counts)
    magnitude = np.abs(matrix.data)
    if k < 1 or not len(magnitude):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    # k passes of "each row's largest remaining magnitude, then set those entries aside": the last pass's value is a
    # cut at or below each row's k-th largest, so everything above it holds the row's top k (ties included).
    remaining, starts, nonempty = magnitude.copy(), matrix.indptr[:-1][counts > 0], counts > 0
    kth = np.full(matrix.shape[0], -1.0)
    for _ in range(k):
        kth[nonempty] = np.maximum.reduceat(remaining, starts)
        remaining[remaining >= kth[entry_rows]] = -1.0
    keep = magnitude >= kth[entry_rows]
    rows, columns, values = entry_rows[keep], matrix.indices[keep].astype(np.int64), matrix.data[keep]
    order = np.lexsort((columns, -np.abs(values), rows))
    rows, columns, values = rows[order], columns[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    first_k = rank < k
    return rows[first_k], columns[first_k], values[first_k]


def global_importance(
    classifier: Classifier, names: dict[int, str], X: sp.csr_matrix, k: int = 30
) -> list[dict]:
    """The k readable names that move the log-odds most on ``X``: mean |contribution| per row, summed over the
    columns that share a name (one measure for both parts, where the trees' gain would leave the linear part out)."""
    attribution = PathAttribution.from_booster(classifier.booster)
    contributions, _ = log_odds_contributions(classifier, X, attribution)
    mean_move = np.asarray(abs(contributions).mean(axis=0)).ravel()
    totals: dict[str, float] = {}
    for column, move in zip(classifier.columns.tolist(), mean_move.tolist(), strict=True):
        if move > 0:
            name = column_name(names, int(column))
            totals[name] = totals.get(name, 0.0) + float(move)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [{"feature": name, "mean_abs_log_odds": round(value, 6)} for name, value in ranked]


def sentence_words(
    classifier: Classifier, X: sp.csr_matrix, texts: Sequence[str], spec: FeatureSpec, rows: np.ndarray
) -> list[dict[str, float] | None]:
    """Per row (None where ``rows`` is false): the words' shares of the sentence network's log-odds move.

    Around a report the ReLU network is linear in the embedding, and mean pooling makes that linear part a sum over
    the report's tokens (``SentenceEncoder.token_contributions``); a word's share is its tokens' sum times the blend
    weight. Special tokens, punctuation and the network's constant stay in the sentence term."""
    head, weight = classifier.sentence, classifier.blend.sentence
    chosen = np.flatnonzero(rows)
    found: list[dict[str, float] | None] = [None] * X.shape[0]
    if head is None or not len(chosen):
        return found
    weights = np.array([head.token_weights(embedding) for embedding in head.embedding(X[chosen])])
    encoder = load_encoder(spec.encoder_sha256)
    chosen_texts = [str(texts[row]) for row in chosen]
    for row, shares in zip(chosen, encoder.token_contributions(chosen_texts, weights), strict=True):
        readable: dict[str, float] = {}
        for word, share in shares:
            if word != WHOLE_REPORT and any(character.isalnum() for character in word):
                readable[word] = readable.get(word, 0.0) + weight * share
        found[row] = readable
    return found
