"""Confidence intervals by document bootstrap: resample whole documents, because records of one document (a paper, a
case, a conversation) are correlated and resampling records would make the intervals too narrow."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

AUTO_CLOSE, PRIORITY = "AUTO_CLOSE", "PRIORITY"
DRAWS, SEED, LEVEL = 1000, 20261202, 0.95


def _share(numerator: np.ndarray, denominator: np.ndarray) -> float | None:
    total = float(denominator.sum())
    return float(numerator.sum()) / total if total > 0 else None


def _metrics(labels: np.ndarray, p_ae: np.ndarray, triage: np.ndarray) -> dict[str, Callable[[np.ndarray], object]]:
    positive, closed, priority = labels == 1, triage == AUTO_CLOSE, triage == PRIORITY

    def auroc(weights: np.ndarray) -> float | None:
        kept = weights > 0
        if len(set(labels[kept])) < 2:
            return None
        return float(roc_auc_score(labels[kept], p_ae[kept], sample_weight=weights[kept]))

    return {
        "AUROC": auroc,
        "AE recall (AEs not auto-closed)": lambda w: _share(w * (positive & ~closed), w * positive),
        "AUTO_CLOSE share": lambda w: _share(w * closed, w),
        "PRIORITY precision": lambda w: _share(w * (positive & priority), w * priority),
    }


def document_bootstrap(
    groups: np.ndarray,
    labels: np.ndarray,
    p_ae: np.ndarray,
    triage: np.ndarray,
    draws: int = DRAWS,
    seed: int = SEED,
    level: float = LEVEL,
) -> list[dict]:
    """Percentile intervals of the test metrics over ``draws`` resamples of documents (with replacement), each
    document weighted by how often it was drawn; a recorded seed makes the intervals reproducible."""
    codes, documents = pd.factorize(pd.Series(groups).astype(str))
    labels, p_ae, triage = np.asarray(labels).astype(int), np.asarray(p_ae, dtype=float), np.asarray(triage)
    metrics, rng = _metrics(labels, p_ae, triage), np.random.default_rng(seed)
    drawn: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(draws):
        counts = np.bincount(rng.integers(0, len(documents), len(documents)), minlength=len(documents))
        weights = counts[codes].astype(float)
        for name, metric in metrics.items():
            value = metric(weights)
            if value is not None:
                drawn[name].append(value)
    tail = (1 - level) / 2 * 100
    rows = []
    for name, metric in metrics.items():
        values = drawn[name]
        low, high = (np.percentile(values, [tail, 100 - tail]).tolist() if values else (None, None))
        rows.append({"metric": name, "estimate": metric(np.ones(len(labels))), "low": low, "high": high,
                     "documents": len(documents), "draws": draws, "level": level, "seed": seed})  # fmt: skip
    return rows
