"""The linear part of the classifier: L2-regularised logistic regression on the text blocks, row-normalised.

By default it only picks the trees' columns: the 10,000 text columns it weighs most train the trees in about 40 %
of the CPU time at the same AUROC and auto-close share (benchmarks/training.py, 10 ADE seeds, paired). Joined to the
model (``tree_weight`` < 1), its log-odds add to the trees'; measured on ADE over 50 seeds (benchmarks/quality.py),
with learning rate 0.1 and no refit, that lost 0.0017 AUROC and put more seeds below the recall target, so it is an
option. Each row of a text block is scaled to unit length, so a long
call-centre note does not outweigh a short post; the scaling needs only the row itself, so it is the same wherever
a batch is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class LinearPart:
    """Weights over feature-matrix columns; ``blocks`` are the [start, end) column ranges normalised per row."""

    columns: np.ndarray  # feature-matrix columns, ascending
    weights: np.ndarray
    intercept: float
    blocks: tuple[tuple[int, int], ...]

    def inputs(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Full-width feature rows -> the model's columns, each text block of each row scaled to unit length."""
        return unit_blocks(X, self.blocks, self.columns)

    def contributions(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """(rows, len(columns)) log-odds moved by each column: weight x value; absent columns move nothing."""
        return (self.inputs(X) @ sp.diags(self.weights)).tocsr()

    def used_columns(self) -> np.ndarray:
        return self.columns[self.weights != 0]

    def decision(self, X: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self.inputs(X) @ self.weights, dtype=float).ravel() + self.intercept

    def to_dict(self) -> dict:
        return {
            "columns": self.columns.tolist(),
            "weights": [float(weight) for weight in self.weights],
            "intercept": float(self.intercept),
            "blocks": [list(block) for block in self.blocks],
        }

    @classmethod
    def from_dict(cls, values: dict) -> LinearPart:
        return cls(
            columns=np.asarray(values["columns"], dtype=np.int64),
            weights=np.asarray(values["weights"], dtype=np.float64),
            intercept=float(values["intercept"]),
            blocks=tuple((int(start), int(end)) for start, end in values["blocks"]),
        )


def unit_blocks(
    X: sp.csr_matrix, blocks: tuple[tuple[int, int], ...], columns: np.ndarray | None = None
) -> sp.csr_matrix:
    """``X`` (cut to ``columns`` when given) with each entry in a block divided by its row's L2 norm within the
    whole block; the norms are taken over all columns of ``X``, so cutting first does not change them."""
    X = sp.csr_matrix(X)
    bounds = np.array([edge for block in blocks for edge in block], dtype=np.int64)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    norms = np.zeros(X.shape[0] * max(len(blocks), 1))
    inside, key = _block_keys(X.indices, rows, bounds, len(blocks))
    if len(blocks):
        norms = np.sqrt(np.bincount(key[inside], weights=X.data[inside] ** 2, minlength=len(norms)))
    out = sp.csr_matrix(X[:, columns] if columns is not None else X, dtype=np.float64, copy=True)
    original = np.asarray(columns, dtype=np.int64)[out.indices] if columns is not None else out.indices
    out_rows = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
    inside, key = _block_keys(original, out_rows, bounds, len(blocks))
    out.data[inside] /= norms[key[inside]]
    return out


def _block_keys(
    columns: np.ndarray, rows: np.ndarray, bounds: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per entry: whether its column lies in a block, and ``row * n_blocks + block`` (0 for entries outside)."""
    slot = np.searchsorted(bounds, columns, side="right") - 1
    inside = (slot >= 0) & (slot % 2 == 0)
    return inside, rows * max(n_blocks, 1) + np.where(inside, slot // 2, 0)


def fit_linear(
    X: sp.csr_matrix, labels: np.ndarray, columns: np.ndarray, blocks: tuple[tuple[int, int], ...], c: float
) -> LinearPart:
    """Deterministic (liblinear with a fixed seed): the same rows give the same weights, bit for bit."""
    model = LogisticRegression(C=c, solver="liblinear", max_iter=5000, random_state=0)
    model.fit(unit_blocks(X, blocks, columns), np.asarray(labels, dtype=int))
    return LinearPart(np.asarray(columns, dtype=np.int64), model.coef_[0].astype(np.float64),
                      float(model.intercept_[0]), blocks)  # fmt: skip


def text_columns(columns: np.ndarray, blocks: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The columns that fall in one of the blocks."""
    inside = np.zeros(len(columns), dtype=bool)
    for start, end in blocks:
        inside |= (columns >= start) & (columns < end)
    return np.asarray(columns, dtype=np.int64)[inside]
