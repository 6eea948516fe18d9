"""Calibrated probabilities, so that p_ae means what it says, with the method chosen by measured error.

Candidates are fitted on one half of the calibration split and scored on the other (both ways round), and the
one with the lowest expected calibration error wins; it is then refitted on the whole calibration split. Like the
conformal record, a calibrator is stored as the calibration scores and labels plus the method's name: refitting
is deterministic, so the JSON record is all that is needed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from mapie.calibration import VennAbersCalibrator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from gxp_assets.core.conformal import ProbabilityPassThrough, probability_matrix

METHODS = ("none", "sigmoid", "isotonic", "venn_abers")
_EPS = 1e-6


def expected_calibration_error(labels: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Mean |observed rate - predicted probability| over equal-width bins, weighted by their size."""
    labels, p = np.asarray(labels, dtype=float), np.asarray(p, dtype=float)
    index = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(labels[mask].mean() - p[mask].mean())
    return float(error)


def reliability_curve(labels: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Per bin: mean predicted probability, observed AE rate and count; for the reliability diagram."""
    labels, p = np.asarray(labels, dtype=float), np.asarray(p, dtype=float)
    index = np.minimum((p * bins).astype(int), bins - 1)
    return [
        {
            "predicted": float(p[index == b].mean()),
            "observed": float(labels[index == b].mean()),
            "n": int((index == b).sum()),
        }
        for b in range(bins)
        if (index == b).any()
    ]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p)).reshape(-1, 1)


def _fit(method: str, scores: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    if method == "none":
        return lambda p: np.asarray(p, dtype=float)
    if method == "sigmoid":
        model = LogisticRegression(C=1e6).fit(_logit(scores), labels)
        return lambda p: model.predict_proba(_logit(np.asarray(p)))[:, 1]
    if method == "isotonic":
        model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
        return lambda p: model.predict(np.asarray(p, dtype=float))
    if method == "venn_abers":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probabilities = probability_matrix(scores)
            model = VennAbersCalibrator(estimator=ProbabilityPassThrough().fit(probabilities), cv="prefit")
            model.fit(probabilities, labels)

        def predict(p: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return model.predict_proba(probability_matrix(p))[:, 1]

        return predict
    raise ValueError(f"unknown calibration method {method!r}; choose one of {METHODS}")


@dataclass(frozen=True)
class Calibrator:
    method: str
    calibration_scores: np.ndarray
    calibration_labels: np.ndarray
    cross_fitted_ece: dict[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_predict", _fit(self.method, self.calibration_scores, self.calibration_labels))

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return np.clip(self._predict(p), 0.0, 1.0)  # type: ignore[attr-defined]

    def to_dict(self) -> dict:
        # The scores and labels are the conformal record's too; they are stored once, there.
        return {"method": self.method, "cross_fitted_ece": self.cross_fitted_ece}

    @classmethod
    def from_dict(cls, values: dict, scores: np.ndarray, labels: np.ndarray) -> Calibrator:
        return cls(values["method"], np.asarray(scores), np.asarray(labels), dict(values["cross_fitted_ece"]))


def choose_calibrator(
    scores: np.ndarray, labels: np.ndarray, seed: int, methods: tuple[str, ...] = METHODS
) -> Calibrator:
    """The method with the lowest cross-fitted ECE on the calibration split, refitted on all of it."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    errors = {}
    for method in methods:
        predicted = np.empty_like(scores)
        for fit_rows, score_rows in folds.split(scores, labels):
            predicted[score_rows] = _fit(method, scores[fit_rows], labels[fit_rows])(scores[score_rows])
        errors[method] = round(expected_calibration_error(labels, predicted), 6)
    best = min(methods, key=lambda method: (errors[method], methods.index(method)))
    return Calibrator(best, scores, labels, errors)
