"""Why a report scored as it did: LightGBM's per-prediction contributions (SHAP values), named as n-grams."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from gxp_assets.core.model import model_columns, model_inputs


def used_columns(booster: lgb.Booster) -> np.ndarray:
    """Feature-matrix columns the model splits on: the only ones an explanation can name."""
    return model_columns(booster)[booster.feature_importance(importance_type="split") > 0]


def column_name(names: dict[int, str], column: int) -> str:
    return names.get(column, f"column:{column}")


def top_contributions(booster: lgb.Booster, X: sp.csr_matrix, names: dict[int, str], k: int = 5) -> list[list[dict]]:
    """Per row, the k features that moved its log-odds most (positive: towards AE), largest first.

    An n-gram can matter by its absence too ("about the" missing makes a product question less likely), so each
    entry says whether the feature is present in the report.
    """
    X = model_inputs(booster, X)
    original = model_columns(booster)
    contributions = booster.predict(X, pred_contrib=True)
    contributions = sp.csr_matrix(contributions) if not sp.issparse(contributions) else contributions.tocsr()
    n_features = contributions.shape[1] - 1  # the last column is the bias term
    explanations = []
    for row in range(contributions.shape[0]):
        start, end = contributions.indptr[row], contributions.indptr[row + 1]
        columns, values = contributions.indices[start:end], contributions.data[start:end]
        keep = (columns < n_features) & (values != 0)
        columns, values = columns[keep], values[keep]
        order = np.lexsort((columns, -np.abs(values)))[:k]  # ties broken by column, so output is deterministic
        present = set(X.indices[X.indptr[row] : X.indptr[row + 1]].tolist())
        explanations.append(
            [
                {
                    "feature": column_name(names, int(original[columns[i]])),
                    "present": int(columns[i]) in present,
                    "contribution": round(float(values[i]), 6),
                }
                for i in order
            ]
        )
    return explanations


def global_importance(booster: lgb.Booster, names: dict[int, str], k: int = 30) -> list[dict]:
    """The k columns with the largest total gain, named."""
    gain = booster.feature_importance(importance_type="gain")
    original = model_columns(booster)
    order = np.lexsort((original, -gain))[:k]
    return [
        {"feature": column_name(names, int(original[i])), "gain": round(float(gain[i]), 4)}
        for i in order
        if gain[i] > 0
    ]
