"""Calibrated probabilities, so that p_ae means what it says, with the method chosen by measured error.

Candidates are fitted on one half of the calibration split and scored on the other (both ways round), and the
one with the lowest expected calibration error wins; it is then refitted on the whole calibration split. Like the
conformal record, a calibrator is stored as the calibration scores and labels plus the method's name: refitting
is deterministic, so the JSON record is all that is needed.

Triage is decided by the raw score, so the p(AE) people see must keep its order: every map here is made strictly
increasing in the raw score (``strictly_increasing`` in the record). Isotonic regression and Venn-Abers give
plateaus, which would show a PRIORITY report with the same or a lower p(AE) than an AUTO_CLOSE one; they are
centred (Oron & Flournoy's centred isotonic regression: one point per plateau, at its centre, joined by straight
lines), and every map is mixed with a small share of the raw score itself, so that it rises everywhere, also
outside the calibration range and where a sigmoid saturates. Records made before this carry no flag and keep the
map they were validated with.
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
# Share of the raw score mixed into every map: it makes the map strictly increasing and moves no p(AE) by more
# than this, so the calibration error by at most as much.
STRICT_WEIGHT = 1e-3

Map = Callable[[np.ndarray], np.ndarray]


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


def _venn_abers(scores: np.ndarray, labels: np.ndarray) -> Map:
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


def _fit(method: str, scores: np.ndarray, labels: np.ndarray) -> Map:
    """The method's own map, non-decreasing in the score (a sigmoid that would fall is made flat)."""
    if method == "none":
        return lambda p: np.asarray(p, dtype=float)
    if method == "sigmoid":
        model = LogisticRegression(C=1e6).fit(_logit(scores), labels)
        if model.coef_[0, 0] <= 0:  # scores that do not rank: the base rate, not a map that reverses the order
            rate = float(np.mean(labels))
            return lambda p: np.full(np.shape(p), rate)
        return lambda p: model.predict_proba(_logit(np.asarray(p)))[:, 1]
    if method == "isotonic":
        model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
        return lambda p: model.predict(np.asarray(p, dtype=float))
    if method == "venn_abers":
        return _venn_abers(scores, labels)
    raise ValueError(f"unknown calibration method {method!r}; choose one of {METHODS}")


def centred(step: Map, scores: np.ndarray) -> Map:
    """A non-decreasing map through the centre of each of its plateaus on ``scores``, straight lines between.

    Where ``step`` is constant over several calibration scores, it is kept at one point only: the count-weighted
    mean of those scores. Between such points the map is linear, so it rises strictly inside the calibration
    range; outside it is flat (the mix with the raw score in :func:`strict` makes it rise there too).
    """
    grid, counts = np.unique(np.asarray(scores, dtype=float), return_counts=True)
    values = np.maximum.accumulate(np.asarray(step(grid), dtype=float))  # guard against round-off dips
    starts = np.flatnonzero(np.r_[True, np.diff(values) > 0])
    weights = np.add.reduceat(counts.astype(float), starts)
    centres = np.add.reduceat(grid * counts, starts) / weights
    levels = values[starts]
    return lambda p: np.interp(np.asarray(p, dtype=float), centres, levels)


def strict(monotone: Map, weight: float = STRICT_WEIGHT) -> Map:
    """``(1 - weight) * monotone + weight * p``: strictly increasing wherever ``monotone`` is non-decreasing."""
    return lambda p: (1.0 - weight) * monotone(p) + weight * np.asarray(p, dtype=float)


def calibration_map(method: str, scores: np.ndarray, labels: np.ndarray, strictly_increasing: bool = True) -> Map:
    """The map from raw score to p(AE); with ``strictly_increasing`` (the default) it keeps the raw score's order."""
    fitted = _fit(method, scores, labels)
    if not strictly_increasing:
        return fitted
    if method in ("isotonic", "venn_abers"):
        fitted = centred(fitted, scores)
    return strict(fitted)


@dataclass(frozen=True)
class Calibrator:
    method: str
    calibration_scores: np.ndarray
    calibration_labels: np.ndarray
    cross_fitted_ece: dict[str, float]
    strictly_increasing: bool = True

    def __post_init__(self) -> None:
        fitted = calibration_map(
            self.method, self.calibration_scores, self.calibration_labels, self.strictly_increasing
        )
        object.__setattr__(self, "_predict", fitted)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return np.clip(self._predict(p), 0.0, 1.0)  # type: ignore[attr-defined]

    def to_dict(self) -> dict:
        # The scores and labels are the conformal record's too; they are stored once, there.
        return {
            "method": self.method,
            "cross_fitted_ece": self.cross_fitted_ece,
            "strictly_increasing": self.strictly_increasing,
        }

    @classmethod
    def from_dict(cls, values: dict, scores: np.ndarray, labels: np.ndarray) -> Calibrator:
        # A record without the flag was validated with the plateau maps, and keeps them.
        return cls(
            values["method"],
            np.asarray(scores),
            np.asarray(labels),
            dict(values["cross_fitted_ece"]),
            bool(values.get("strictly_increasing", False)),
        )


def cross_fitted_ece(
    scores: np.ndarray,
    labels: np.ndarray,
    seed: int,
    methods: tuple[str, ...] = METHODS,
    strictly_increasing: bool = True,
) -> dict[str, float]:
    """Per method, the ECE of maps fitted on one half of the calibration split and applied to the other."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    folds = list(StratifiedKFold(n_splits=2, shuffle=True, random_state=seed).split(scores, labels))
    errors = {}
    for method in methods:
        predicted = np.empty_like(scores)
        for fit_rows, score_rows in folds:
            fitted = calibration_map(method, scores[fit_rows], labels[fit_rows], strictly_increasing)
            predicted[score_rows] = fitted(scores[score_rows])
        errors[method] = round(expected_calibration_error(labels, np.clip(predicted, 0.0, 1.0)), 6)
    return errors


def choose_calibrator(
    scores: np.ndarray, labels: np.ndarray, seed: int, methods: tuple[str, ...] = METHODS
) -> Calibrator:
    """The method with the lowest cross-fitted ECE on the calibration split, refitted on all of it."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    errors = cross_fitted_ece(scores, labels, seed, methods)
    best = min(methods, key=lambda method: (errors[method], methods.index(method)))
    return Calibrator(best, scores, labels, errors)
