"""Class-conditional (Mondrian) split conformal prediction sets and the triage policy built on them.

MAPIE computes the conformal quantiles. It does not take sparse features, so it conformalizes a pass-through
estimator on the model's probabilities. Coverage must hold for each class separately: a plain marginal LAC
threshold lets the rare AE class fall below its target, and the promise to users is about missed AEs. So MAPIE
conformalizes once per class, on that class's calibration records, and the class's column of the resulting sets
is kept.

The conformal record holds only the calibration scores, labels and levels: thresholds are recomputed from them,
so the record is plain JSON and anyone can check the arithmetic.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from mapie.classification import SplitConformalClassifier
from sklearn.base import BaseEstimator, ClassifierMixin

CLASSES = (0, 1)  # 0 = no adverse event, 1 = adverse event


class Triage(StrEnum):
    AUTO_CLOSE = "AUTO_CLOSE"
    REVIEW = "REVIEW"
    PRIORITY = "PRIORITY"


class ProbabilityPassThrough(ClassifierMixin, BaseEstimator):
    """A fitted 'classifier' whose input already is the probability matrix [P(no AE), P(AE)]."""

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> ProbabilityPassThrough:
        self.classes_ = np.array(CLASSES)
        self.n_features_in_ = len(CLASSES)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X).argmax(axis=1)


def probability_matrix(p_ae: np.ndarray) -> np.ndarray:
    p_ae = np.asarray(p_ae, dtype=float)
    return np.column_stack([1.0 - p_ae, p_ae])


@dataclass(frozen=True)
class ConformalRecord:
    """Everything the prediction sets depend on, as plain numbers."""

    confidence: dict[int, float]  # class -> confidence level of its coverage
    calibration_scores: np.ndarray  # the model's P(AE) on the calibration split
    calibration_labels: np.ndarray

    def to_dict(self) -> dict:
        return {
            "method": "split conformal, class-conditional (Mondrian by true class), LAC score, MAPIE",
            "confidence": {str(label): level for label, level in self.confidence.items()},
            "calibration_scores": [float(value) for value in self.calibration_scores],
            "calibration_labels": [int(value) for value in self.calibration_labels],
            "thresholds": self.thresholds(),
        }

    @classmethod
    def from_dict(cls, values: dict) -> ConformalRecord:
        return cls(
            confidence={int(label): float(level) for label, level in values["confidence"].items()},
            calibration_scores=np.asarray(values["calibration_scores"], dtype=float),
            calibration_labels=np.asarray(values["calibration_labels"], dtype=int),
        )

    def _conformalizer(self, label: int) -> SplitConformalClassifier:
        mask = self.calibration_labels == label
        if mask.sum() == 0:
            raise ValueError(f"the calibration split holds no record of class {label}: cannot cover it")
        probabilities = probability_matrix(self.calibration_scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MAPIE warns that one class is absent: that is the point here
            return SplitConformalClassifier(
                ProbabilityPassThrough().fit(probabilities),
                confidence_level=self.confidence[label],
                conformity_score="lac",
                prefit=True,
            ).conformalize(probabilities[mask], self.calibration_labels[mask])

    def prediction_sets(self, p_ae: np.ndarray) -> np.ndarray:
        """Boolean (n, 2): column k says whether class k is in the record's set."""
        probabilities = probability_matrix(p_ae)
        columns = []
        for label in CLASSES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, sets = self._conformalizer(label).predict_set(probabilities)
            columns.append(sets[:, label, 0])
        return np.column_stack(columns).astype(bool)

    def thresholds(self) -> dict[str, float]:
        """The LAC quantile of each class (a class is in the set when 1 - P(class) <= its quantile)."""
        found = {}
        for label in CLASSES:
            conformalizer = self._conformalizer(label)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                conformalizer.predict_set(
                    probability_matrix(self.calibration_scores[:1])
                )  # MAPIE sets the quantile here
            quantiles = conformalizer._mapie_classifier.conformity_score_function_.quantiles_
            found[str(label)] = float(np.asarray(quantiles).ravel()[0])
        return found


def fit_conformal(
    p_ae: np.ndarray, labels: np.ndarray, ae_confidence: float, no_ae_confidence: float
) -> ConformalRecord:
    labels = np.asarray(labels, dtype=int)
    for label, level in ((1, ae_confidence), (0, no_ae_confidence)):
        if not 0 < level < 1:
            raise ValueError(f"confidence levels lie strictly between 0 and 1, got {level}")
        needed = int(np.ceil(1 / (1 - level)))
        if (labels == label).sum() < needed:
            raise ValueError(
                f"the calibration split holds {(labels == label).sum()} records of class {label}; "
                f"covering it at {level:.0%} needs at least {needed}"
            )
    return ConformalRecord(
        confidence={0: no_ae_confidence, 1: ae_confidence},
        calibration_scores=np.asarray(p_ae, dtype=float),
        calibration_labels=labels,
    )


def triage(sets: np.ndarray) -> np.ndarray:
    """{no AE} -> AUTO_CLOSE, {AE} -> PRIORITY, both or neither -> REVIEW."""
    no_ae, ae = sets[:, 0], sets[:, 1]
    return np.where(no_ae & ~ae, Triage.AUTO_CLOSE, np.where(ae & ~no_ae, Triage.PRIORITY, Triage.REVIEW)).astype(
        object
    )


def set_labels(sets: np.ndarray) -> list[str]:
    """Readable sets, e.g. '{0}', '{0,1}', '{}'."""
    return ["{" + ",".join(str(label) for label in CLASSES if row[label]) + "}" for row in sets]


def marginal_prediction_sets(
    calibration_scores: np.ndarray, calibration_labels: np.ndarray, p_ae: np.ndarray, confidence: float
) -> np.ndarray:
    """Plain marginal LAC sets, for comparison: one threshold for both classes, fitted on all calibration records."""
    probabilities = probability_matrix(calibration_scores)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conformalizer = SplitConformalClassifier(
            ProbabilityPassThrough().fit(probabilities),
            confidence_level=confidence,
            conformity_score="lac",
            prefit=True,
        ).conformalize(probabilities, np.asarray(calibration_labels, dtype=int))
        _, sets = conformalizer.predict_set(probability_matrix(p_ae))
    return sets[:, :, 0].astype(bool)
