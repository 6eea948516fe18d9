"""Deterministic LightGBM training on the train split, stored as LightGBM's own text format.

Same inputs and parameters give byte-identical model text: fixed seeds, ``deterministic=True`` and a fixed thread
count. The number of boosting rounds is chosen by early stopping on an inner fold of the train split (whole split
groups, by hash), never on calibration or test data; the final model is then refitted on the whole train split
with that many rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from gxp_assets.core.hashing import unit_interval


@dataclass(frozen=True)
class TrainingParams:
    """Defaults tuned on an inner fold of the ADE train split (see benchmarks/quality.py for the measured result)."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 10
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 63
    max_rounds: int = 800
    early_stopping_rounds: int = 50
    inner_validation_share: float = 0.2
    min_column_count: int = 10  # columns with fewer non-zeros in the train split are left out of the model
    seed: int = 7
    num_threads: int = 2

    def lightgbm_params(self) -> dict:
        return {
            "objective": "binary",
            "metric": "auc",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainedModel:
    model_text: str
    best_iteration: int
    inner_validation_auc: float
    seconds: float


def inner_validation_mask(groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Whole split groups (documents linked by shared text) go to the inner validation fold, by hash."""
    return np.array([unit_interval("inner", str(seed), str(group)) < share for group in groups])


def model_columns(booster: lgb.Booster) -> np.ndarray:
    """The feature-matrix columns a model was trained on, which its text records as feature names ``c<index>``."""
    return np.array([int(name[1:]) for name in booster.feature_name()], dtype=np.int64)


def model_inputs(booster: lgb.Booster, X: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix(X)[:, model_columns(booster)]


def frequent_columns(X: sp.csr_matrix, min_count: int) -> np.ndarray:
    """Columns with at least ``min_count`` non-zeros: the others cannot support a split, and cost time."""
    counts = np.bincount(sp.csr_matrix(X).indices, minlength=X.shape[1])
    return np.flatnonzero(counts >= min_count)


def train_classifier(
    X: sp.csr_matrix,
    labels: np.ndarray,
    groups: np.ndarray,
    params: TrainingParams,
    log: Callable[[str], None] = lambda message: None,
) -> TrainedModel:
    """Fit on the rows given (the train split only) and return the model as LightGBM text."""
    start = time.perf_counter()
    labels = np.asarray(labels, dtype=int)
    columns = frequent_columns(X, params.min_column_count)
    log(f"{len(columns):,} of {X.shape[1]:,} columns have >= {params.min_column_count} non-zeros in the train split")
    X = sp.csr_matrix(X)[:, columns]
    names = [f"c{column}" for column in columns]
    inner = inner_validation_mask(np.asarray(groups), params.inner_validation_share, params.seed)
    lgb_params = params.lightgbm_params()
    fit_rows, stop_rows = np.flatnonzero(~inner), np.flatnonzero(inner)
    fitting = lgb.Dataset(X[fit_rows], labels[fit_rows], feature_name=names, free_raw_data=True)
    stopping = lgb.Dataset(X[stop_rows], labels[stop_rows], reference=fitting, free_raw_data=True)
    probe = lgb.train(
        lgb_params,
        fitting,
        num_boost_round=params.max_rounds,
        valid_sets=[stopping],
        valid_names=["inner_validation"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, verbose=False),
            _progress(log, every=50, total=params.max_rounds, what="early-stopping pass"),
        ],
    )
    best_iteration = max(int(probe.best_iteration or params.max_rounds), 1)
    inner_auc = float(roc_auc_score(labels[stop_rows], probe.predict(X[stop_rows], num_iteration=best_iteration)))
    log(f"early stopping chose {best_iteration} rounds (inner-fold AUROC {inner_auc:.4f}); refitting on all train rows")
    final = lgb.train(
        lgb_params,
        lgb.Dataset(X, labels, feature_name=names, free_raw_data=True),
        num_boost_round=best_iteration,
        callbacks=[_progress(log, every=50, total=best_iteration, what="final fit")],
    )
    return TrainedModel(
        model_text=final.model_to_string(),
        best_iteration=best_iteration,
        inner_validation_auc=inner_auc,
        seconds=time.perf_counter() - start,
    )


def _progress(log: Callable[[str], None], every: int, total: int, what: str) -> Callable:
    def callback(env: lgb.callback.CallbackEnv) -> None:
        iteration = env.iteration + 1
        if iteration % every == 0:
            scores = ", ".join(f"{name} {metric} {value:.4f}" for name, metric, value, _ in env.evaluation_result_list)
            log(f"{what}: round {iteration} of at most {total}" + (f" ({scores})" if scores else ""))

    return callback


def load_booster(model_text: str) -> lgb.Booster:
    return lgb.Booster(model_str=model_text)


def predict_scores(booster: lgb.Booster, X: sp.csr_matrix) -> np.ndarray:
    """The model's P(AE), before calibration, from full-width feature rows."""
    return np.asarray(booster.predict(model_inputs(booster, X)), dtype=float)
