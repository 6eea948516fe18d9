"""Conformal prediction sets for AE triage, with the recall guarantee the change control plan states.

Two sides, two guarantees:
- The AE side decides auto-closing, so it carries the promise people rely on. Under ``type: pac`` (the default) it
  is training-conditional: with probability >= 1 - delta over the calibration documents, at most ``miss_rate`` of
  AE reports from documents like these fall below the threshold and are auto-closed. Records of one document are
  correlated, so the sampling unit is the document: one AE record per calibration document (chosen by a recorded
  seed, never by its score) and the threshold is an exact binomial order statistic of those scores (Vovk 2012,
  "Conditional validity of inductive conformal predictors", Prop. 2a). The proof needs only that documents are
  exchangeable; ties are handled by excluding AE only for scores strictly below the threshold. With ``by_source``
  each source gets its own threshold (Mondrian by source) where it has enough AE documents; a source without
  enough, or unknown to the model, gets no auto-close. ``type: marginal`` keeps the class-conditional split
  conformal threshold (MAPIE), valid on average over calibration draws only, for comparison.
- The no-AE side decides PRIORITY; it keeps class-conditional split conformal coverage (MAPIE), one threshold for
  all sources, so that every AUTO_CLOSE score lies below every PRIORITY score.

The conformal record holds only the calibration scores, labels, documents, sources and the guarantee: thresholds
are recomputed from them, so the record is plain JSON and anyone can check the arithmetic.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np
from mapie.classification import SplitConformalClassifier
from sklearn.base import BaseEstimator, ClassifierMixin

from gxp_assets.core.guarantee import AEThreshold, Guarantee, check_calibration_supports, one_per_unit

CLASSES = (0, 1)  # 0 = no adverse event, 1 = adverse event
ALL_SOURCES = "*"  # the key of the one threshold shared by every source when the guarantee is not by source


@dataclass(frozen=True)
class Wording:
    """How a guarantee statement names things (the defaults: AE triage's words)."""

    positive: str = "AE"  # the positive class as an adjective ("AE documents")
    a_positive: str = "an AE"  # a record of the positive class ("units with an AE")
    positives: str = "AE reports"  # records of the positive class
    records: str = "reports"
    closed: str = "auto-closed"  # what the negative outcome does to a record
Sources = Sequence[object] | np.ndarray | None


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


# The record -------------------------------------------------------------------------------------------------------


def _as_strings(values: Sequence[object] | np.ndarray | None, n: int, default: str) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=object)
    array = np.asarray(["" if value is None else str(value) for value in values], dtype=object)
    if len(array) != n:
        raise ValueError(f"{len(array)} values for {n} calibration scores")
    return array


@dataclass(frozen=True)
class ConformalRecord:
    """Everything the prediction sets depend on, as plain numbers and strings."""

    guarantee: Guarantee
    no_ae_confidence: float
    calibration_scores: np.ndarray  # the model's raw P(AE) on the calibration split
    calibration_labels: np.ndarray
    calibration_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))  # document groups
    calibration_sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    selection_seed: int = 7

    def __post_init__(self) -> None:
        n = len(self.calibration_scores)
        if len(self.calibration_labels) != n:
            raise ValueError(f"{len(self.calibration_labels)} labels for {n} calibration scores")
        ids = np.arange(n).astype(str)
        units = self.calibration_units if len(self.calibration_units) else None
        object.__setattr__(self, "calibration_units", _as_strings(units, n, "") if units is not None else ids)
        sources = self.calibration_sources if len(self.calibration_sources) else None
        object.__setattr__(self, "calibration_sources", _as_strings(sources, n, ALL_SOURCES))

    @property
    def confidence(self) -> dict[int, float]:
        return {0: self.no_ae_confidence, 1: self.guarantee.confidence}

    def to_dict(self, wording: Wording | None = None) -> dict:
        """The stored record; its statement in ``wording`` (default: AE triage's words)."""
        return {
            "method": self.method(),
            "guarantee": self.guarantee.to_dict(),
            "confidence": {str(label): level for label, level in self.confidence.items()},
            "selection_seed": self.selection_seed,
            "calibration_scores": [float(value) for value in self.calibration_scores],
            "calibration_labels": [int(value) for value in self.calibration_labels],
            "calibration_units": [str(value) for value in self.calibration_units],
            "calibration_sources": [str(value) for value in self.calibration_sources],
            "thresholds": self.thresholds(),
            "statement": self.statement(wording),
        }

    @classmethod
    def from_dict(cls, values: dict) -> ConformalRecord:
        return cls(
            guarantee=Guarantee.from_dict(values["guarantee"]),
            no_ae_confidence=float(values["confidence"]["0"]),
            calibration_scores=np.asarray(values["calibration_scores"], dtype=float),
            calibration_labels=np.asarray(values["calibration_labels"], dtype=int),
            calibration_units=np.asarray(values["calibration_units"], dtype=object),
            calibration_sources=np.asarray(values["calibration_sources"], dtype=object),
            selection_seed=int(values["selection_seed"]),
        )

    def method(self) -> str:
        no_ae = "no-AE side: class-conditional split conformal (MAPIE, LAC score)"
        if self.guarantee.type == "marginal":
            return "AE side: class-conditional split conformal (MAPIE, LAC score), marginal; " + no_ae
        return (
            f"AE side: training-conditional (PAC), exact binomial order statistic, one AE record per "
            f"{self.guarantee.unit}{', per source' if self.guarantee.by_source else ''} (Vovk 2012); " + no_ae
        )

    # Thresholds --------------------------------------------------------------------------------------------------

    def _mapie(self, label: int, confidence: float) -> SplitConformalClassifier:
        mask = self.calibration_labels == label
        if mask.sum() == 0:
            raise ValueError(f"the calibration split holds no record of class {label}: cannot cover it")
        probabilities = probability_matrix(self.calibration_scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MAPIE warns that one class is absent: that is the point here
            return SplitConformalClassifier(
                ProbabilityPassThrough().fit(probabilities),
                confidence_level=confidence,
                conformity_score="lac",
                prefit=True,
            ).conformalize(probabilities[mask], self.calibration_labels[mask])

    def _mapie_in_set(self, label: int, confidence: float, p_ae: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, sets = self._mapie(label, confidence).predict_set(probability_matrix(p_ae))
        return sets[:, label, 0].astype(bool)

    @cached_property
    def no_ae_quantile(self) -> float:
        """The LAC quantile of the no-AE class: no AE is in the set when P(AE) <= this quantile's complement."""
        return _mapie_quantile(self._mapie(0, self.no_ae_confidence), self.calibration_scores)

    @cached_property
    def ae_thresholds(self) -> dict[str, AEThreshold]:
        """Per source (or ``ALL_SOURCES``), the raw score below which AE is excluded from the set (PAC only)."""
        if self.guarantee.type != "pac":
            return {}
        ae = self.calibration_labels == 1
        groups = sorted(set(self.calibration_sources[ae])) if self.guarantee.by_source else [ALL_SOURCES]
        found = {}
        for group in groups:
            rows = np.flatnonzero(ae & ((self.calibration_sources == group) | (group == ALL_SOURCES)))
            found[group] = self._pac_threshold(rows)
        return found

    def _pac_threshold(self, rows: np.ndarray) -> AEThreshold:
        guarantee = self.guarantee
        if guarantee.unit == "document":
            rows = rows[one_per_unit(self.calibration_units[rows], self.selection_seed)]
        n = len(rows)
        rank = guarantee.rank(n)
        if rank == 0:
            needed = guarantee.units_needed()
            return AEThreshold(None, n, 0, f"{n} AE {guarantee.unit}s, {needed} needed: no auto-close")
        value = float(np.sort(self.calibration_scores[rows])[rank - 1])
        return AEThreshold(value, n, rank, f"score {rank} of {n} AE {guarantee.unit}s")

    def thresholds(self) -> dict:
        values: dict = {"no_ae_lac_quantile": self.no_ae_quantile, "priority_above_raw_score": 1 - self.no_ae_quantile}
        if self.guarantee.type == "pac":
            values["ae"] = {source: threshold.to_dict() for source, threshold in self.ae_thresholds.items()}
        else:
            marginal = self._mapie(1, self.guarantee.confidence)
            values["ae_lac_quantile"] = _mapie_quantile(marginal, self.calibration_scores)
        return values

    def auto_close_sources(self) -> list[str]:
        """Sources whose reports may be auto-closed (``ALL_SOURCES`` when one threshold serves them all)."""
        if self.guarantee.type != "pac":
            return [ALL_SOURCES]
        return sorted(source for source, threshold in self.ae_thresholds.items() if threshold.value is not None)

    # Sets --------------------------------------------------------------------------------------------------------

    def prediction_sets(
        self, p_ae: np.ndarray, sources: Sources = None, closable: Collection[str] | None = None
    ) -> np.ndarray:
        """Boolean (n, 2): column k says whether class k is in the record's set. ``sources`` are needed when the
        guarantee is by source; a source without a threshold of its own, or outside ``closable`` (when given: the
        sources the plan's subgroup rule judged and passed), keeps AE in its set."""
        p_ae = np.asarray(p_ae, dtype=float)
        no_ae = self._mapie_in_set(0, self.no_ae_confidence, p_ae) if len(p_ae) else np.zeros(0, dtype=bool)
        if self.guarantee.type == "marginal":
            ae = self._mapie_in_set(1, self.guarantee.confidence, p_ae) if len(p_ae) else np.zeros(0, dtype=bool)
            ae |= ~self._closable(len(p_ae), sources, closable)
            return np.column_stack([no_ae, ae]).astype(bool)
        cut = self.ae_cut(len(p_ae), sources, closable)
        return np.column_stack([no_ae, ~(p_ae < cut)]).astype(bool)

    def ae_cut(self, n: int, sources: Sources, closable: Collection[str] | None = None) -> np.ndarray:
        """Per record, the raw score below which AE is excluded; -inf where auto-close is not available."""
        thresholds = self.ae_thresholds
        if not self.guarantee.by_source:
            value = thresholds[ALL_SOURCES].value
            cut = np.full(n, -np.inf if value is None else value)
        else:
            if sources is None:
                raise ValueError("this model's guarantee is per source: pass each record's source")
            keys = _as_strings(sources, n, "")
            cut = np.full(n, -np.inf)
            for source, threshold in thresholds.items():
                if threshold.value is not None:
                    cut[keys == source] = threshold.value
        cut[~self._closable(n, sources, closable)] = -np.inf
        return cut

    @staticmethod
    def _closable(n: int, sources: Sources, closable: Collection[str] | None) -> np.ndarray:
        if closable is None:
            return np.ones(n, dtype=bool)
        if sources is None:
            return np.zeros(n, dtype=bool)
        return np.isin(_as_strings(sources, n, "").astype(str), np.asarray(sorted(closable), dtype=str))

    # What people read --------------------------------------------------------------------------------------------

    def statement(self, wording: Wording | None = None) -> str:
        """The guarantee in words, generated from the guarantee and the calibration counts, never hand-written;
        ``wording`` names the positive records and the negative outcome as a use case declares them (default: AE
        reports, auto-closed)."""
        g, w = self.guarantee, wording or Wording()
        if g.type == "marginal":
            n_ae = int((self.calibration_labels == 1).sum())
            return (
                f"On average over calibration draws (not for this model in particular), at most {g.miss_rate:.0%} of "
                f"{w.positives} exchangeable with the {n_ae} calibration {w.positives} are {w.closed} (marginal "
                "class-conditional split conformal)."
            )
        parts = []
        for source, threshold in self.ae_thresholds.items():
            where = w.records if source == ALL_SOURCES else f"{source} {w.records}"
            if threshold.value is None:
                parts.append(f"{where}: never {w.closed} ({threshold.note})")
            else:
                over = f"the {threshold.units} calibration {g.unit}s with {w.a_positive}"
                if g.batch_documents is None:
                    promise = f"at most {g.miss_rate:.0%} of {w.positives} from {g.unit}s like these are {w.closed}"
                else:
                    over += f" and a batch of {g.batch_documents} {w.positive} {g.unit}s like these"
                    promise = f"at most {g.miss_rate:.0%} of that batch's {w.positive} {g.unit}s are {w.closed}"
                parts.append(f"{where}: with probability >= {1 - g.delta:.0%} over {over}, {promise}")
        tail = f" {w.records.capitalize()} from any other source are never {w.closed}." if g.by_source else ""
        return "Training-conditional (PAC) guarantee. " + "; ".join(parts) + "." + tail

    def reasons(
        self, p_ae: np.ndarray, sets: np.ndarray, sources: Sources, closable: Collection[str] | None = None
    ) -> list[str]:
        """Why each record got its triage, in a reviewer's words (e.g. "AE not excluded at 95 %")."""
        level = f"{self.guarantee.confidence:.0%}".replace("%", " %")
        no_ae_level = f"{self.no_ae_confidence:.0%}".replace("%", " %")
        p_ae = np.asarray(p_ae, dtype=float)
        if self.guarantee.type == "pac":
            available = np.isfinite(self.ae_cut(len(p_ae), sources, closable))
        else:
            available = self._closable(len(p_ae), sources, closable)
        out = []
        for has_no_ae, has_ae, can_close in zip(sets[:, 0], sets[:, 1], available, strict=True):
            if has_no_ae and not has_ae:
                out.append(f"AE excluded at {level}; no AE not excluded")
            elif has_ae and not has_no_ae:
                out.append(f"AE not excluded at {level}; no AE excluded at {no_ae_level}")
            elif not can_close:
                out.append("auto-close not available: source not covered by the guarantee")
            elif has_ae:
                out.append(f"AE not excluded at {level}; no AE not excluded at {no_ae_level}")
            else:
                out.append(f"AE excluded at {level} and no AE excluded at {no_ae_level}: conflicting evidence")
        return out


def _mapie_quantile(conformalizer: SplitConformalClassifier, scores: np.ndarray) -> float:
    """The quantile MAPIE fitted (it computes it on the first prediction)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conformalizer.predict_set(probability_matrix(scores[:1]))
    return float(np.asarray(conformalizer._mapie_classifier.conformity_score_function_.quantiles_).ravel()[0])


def fit_conformal(
    p_ae: np.ndarray,
    labels: np.ndarray,
    ae_confidence: float,
    no_ae_confidence: float,
    *,
    guarantee: Guarantee | None = None,
    units: Sequence[object] | np.ndarray | None = None,
    sources: Sequence[object] | np.ndarray | None = None,
    selection_seed: int = 7,
) -> ConformalRecord:
    """A conformal record from calibration scores. Without ``guarantee`` the AE side is marginal (class-conditional
    split conformal at ``ae_confidence``); with one, its miss rate must equal 1 - ``ae_confidence``."""
    for level in (ae_confidence, no_ae_confidence):
        if not 0 < level < 1:
            raise ValueError(f"confidence levels lie strictly between 0 and 1, got {level}")
    guarantee = guarantee or Guarantee(type="marginal", miss_rate=round(1 - ae_confidence, 12), by_source=False)
    if abs(guarantee.confidence - ae_confidence) > 1e-9:
        raise ValueError(f"AE confidence {ae_confidence} disagrees with the miss rate {guarantee.miss_rate}")
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(p_ae, dtype=float)
    unit_values = _as_strings(units, len(scores), "") if units is not None else np.arange(len(scores)).astype(str)
    if guarantee.unit == "document" and guarantee.type == "pac" and units is None:
        raise ValueError("a guarantee with documents as the unit needs each calibration record's document")
    check_calibration_supports(guarantee, labels, unit_values, no_ae_confidence)
    if guarantee.by_source and sources is None:
        raise ValueError("a guarantee by source needs each calibration record's source")
    return ConformalRecord(
        guarantee=guarantee,
        no_ae_confidence=no_ae_confidence,
        calibration_scores=scores,
        calibration_labels=labels,
        calibration_units=unit_values,
        calibration_sources=_as_strings(sources, len(scores), ALL_SOURCES),
        selection_seed=selection_seed,
    )


def triage(sets: np.ndarray, priority_allowed: np.ndarray | None = None) -> np.ndarray:
    """{no AE} -> AUTO_CLOSE, {AE} -> PRIORITY (where ``priority_allowed``, default everywhere), else REVIEW."""
    no_ae, ae = sets[:, 0], sets[:, 1]
    priority = ae & ~no_ae & (True if priority_allowed is None else np.asarray(priority_allowed, dtype=bool))
    return np.where(no_ae & ~ae, Triage.AUTO_CLOSE, np.where(priority, Triage.PRIORITY, Triage.REVIEW)).astype(object)


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
