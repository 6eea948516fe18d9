"""Metrics of a conformal triage model on held-out data, overall and per source (GMLP: the intended population)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from gxp_assets.core.calibration import expected_calibration_error, reliability_curve
from gxp_assets.core.conformal import CLASSES, Triage, marginal_prediction_sets
from gxp_assets.core.explain import global_importance
from gxp_assets.core.scoring import ScoredRows, TriageModel


def best_f1(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The highest F1 over all thresholds, and the threshold that reaches it."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    return float(f1[best]), float(thresholds[best]) if len(thresholds) else 0.5


def _safe_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None


def triage_metrics(labels: np.ndarray, sets: np.ndarray, triage: np.ndarray) -> dict:
    """Realized coverage per class, set sizes and triage shares: what the guarantee promised, as measured."""
    labels = np.asarray(labels, dtype=int)
    sizes = sets.sum(axis=1)
    coverage = {
        str(label): float(sets[labels == label, label].mean()) if (labels == label).any() else None for label in CLASSES
    }
    ae = labels == 1
    auto_closed = triage == Triage.AUTO_CLOSE
    priority = triage == Triage.PRIORITY
    return {
        "coverage": coverage,
        "ae_recall": coverage["1"],  # an AE is missed only when its set excludes AE, i.e. it is auto-closed
        "missed_ae": int((ae & auto_closed).sum()),
        "set_size_mean": float(sizes.mean()),
        "set_size_shares": {str(size): float((sizes == size).mean()) for size in (0, 1, 2)},
        "auto_close_share": float(auto_closed.mean()),
        "review_share": float((triage == Triage.REVIEW).mean()),
        "priority_share": float(priority.mean()),
        "priority_precision": float(ae[priority].mean()) if priority.any() else None,
        "auto_close_npv": float((~ae[auto_closed]).mean()) if auto_closed.any() else None,
    }


def evaluate(
    labels: np.ndarray,
    raw_scores: np.ndarray,
    p_ae: np.ndarray,
    sets: np.ndarray,
    triage: np.ndarray,
    sources: np.ndarray,
) -> dict:
    """All metrics of the evaluation asset; every input is about the test split only."""
    labels = np.asarray(labels, dtype=int)
    f1, threshold = best_f1(labels, p_ae)
    operating = sets[:, 1]  # the operating point: AE is in the prediction set (the report is not auto-closed)
    fpr, tpr, _ = roc_curve(labels, p_ae)
    metrics = {
        "n": len(labels),
        "ae": int(labels.sum()),
        "auroc": float(roc_auc_score(labels, p_ae)),
        "pr_auc": float(average_precision_score(labels, p_ae)),
        "best_f1": f1,
        "best_f1_threshold": threshold,
        "f1_at_operating_point": float(f1_score(labels, operating)),
        "f1_priority": float(f1_score(labels, triage == Triage.PRIORITY)),
        "brier": float(brier_score_loss(labels, p_ae)),
        "ece": expected_calibration_error(labels, p_ae),
        "ece_uncalibrated": expected_calibration_error(labels, raw_scores),
        "reliability": reliability_curve(labels, p_ae),
        "reliability_uncalibrated": reliability_curve(labels, raw_scores),
        "roc": {"fpr": [round(float(x), 5) for x in fpr], "tpr": [round(float(x), 5) for x in tpr]},
        **triage_metrics(labels, sets, triage),
    }
    metrics["subgroups"] = subgroup_table(labels, p_ae, sets, triage, sources)
    return metrics


def subgroup_table(
    labels: np.ndarray, p_ae: np.ndarray, sets: np.ndarray, triage: np.ndarray, sources: np.ndarray
) -> list[dict]:
    rows = []
    frame = pd.DataFrame({"source": np.asarray(sources, dtype=object)})
    for source, index in frame.groupby("source").indices.items():
        part = triage_metrics(labels[index], sets[index], triage[index])
        rows.append(
            {
                "source": source,
                "n": len(index),
                "ae": int(labels[index].sum()),
                "auroc": _safe_auc(labels[index], p_ae[index]),
                "ae_recall": part["ae_recall"],
                "auto_close_share": part["auto_close_share"],
                "review_share": part["review_share"],
                "priority_precision": part["priority_precision"],
            }
        )
    return rows


def held_out_metrics(model: TriageModel, X: Any, labels: np.ndarray, sources: np.ndarray) -> tuple[dict, ScoredRows]:
    """What the ``evaluation`` asset reports for a model on a held-out split (the benchmarks reuse it): the
    metrics, the marginal coverage beside the plan's guarantee and the global importance, with the scored batch."""
    scored = model.score(X, sources, explain_top_k=5)
    metrics = evaluate(labels, scored.raw_scores, scored.p_ae, scored.sets, scored.triage, sources)
    marginal_sets = marginal_prediction_sets(
        model.conformal.calibration_scores, model.conformal.calibration_labels, scored.raw_scores,
        model.conformal.confidence[1],
    )  # fmt: skip
    metrics["marginal_lac_coverage"] = {str(k): float(marginal_sets[labels == k, k].mean()) for k in (0, 1)}
    metrics["global_importance"] = global_importance(model.classifier, model.feature_names, X)
    return metrics, scored
