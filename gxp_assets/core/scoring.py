"""A trained model, its calibrator and its conformal record as one object that scores feature rows.

Evaluation and batch scoring both use it, so what was validated is exactly what runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from gxp_assets.core.calibration import Calibrator
from gxp_assets.core.column_names import TextColumns
from gxp_assets.core.conformal import ALL_SOURCES, ConformalRecord, set_labels, triage
from gxp_assets.core.explain import PathAttribution, text_columns, top_contributions
from gxp_assets.core.features import FeatureSpec, ReportTexts
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.model import Classifier, load_classifier, predict_scores


@dataclass(frozen=True)
class ScoredRows:
    raw_scores: np.ndarray  # the model's own P(AE)
    p_ae: np.ndarray  # calibrated
    sets: np.ndarray  # boolean (n, 2)
    triage: np.ndarray
    reasons: list[str]  # why each report got its triage
    explanations: list[list[dict]] | None

    @property
    def prediction_sets(self) -> list[str]:
        return set_labels(self.sets)


@dataclass(frozen=True)
class TriageModel:
    classifier: Classifier
    model_sha256: str
    conformal: ConformalRecord
    calibrator: Calibrator
    feature_names: dict[int, str]
    # Sources the plan's subgroup rule judged and passed when the model was registered; None: no restriction (the
    # evaluation itself, which is where that judgement comes from).
    judged_sources: frozenset[str] | None = None
    # PRIORITY also needs a calibrated p(AE) of at least this (the plan's conformal.priority_min_p_ae), so that a
    # report shown first is more likely an AE than not; below it, a set of {AE} goes to REVIEW.
    priority_min_p_ae: float = 0.0

    def closable_sources(self) -> set[str] | None:
        """Sources whose reports may be auto-closed; None when every source may (one threshold, no restriction)."""
        covered = set(self.conformal.auto_close_sources())
        if self.judged_sources is None:
            return None if ALL_SOURCES in covered else covered
        return set(self.judged_sources) if ALL_SOURCES in covered else covered & set(self.judged_sources)

    @cached_property
    def attribution(self) -> PathAttribution:
        """Built on the first explanation only: scoring without explanations never walks the trees."""
        return PathAttribution.from_booster(self.classifier.booster)

    @cached_property
    def _text_columns(self) -> dict[str, TextColumns]:
        return {}

    def text_columns(self, spec: FeatureSpec) -> TextColumns:
        """One per spec for the model's life: its hashes of words are then made once per scoring run (or serving
        process), not once per chunk; TextColumns bounds what it keeps."""
        if spec.sha256 not in self._text_columns:
            self._text_columns[spec.sha256] = text_columns(self.classifier, spec)
        return self._text_columns[spec.sha256]

    @classmethod
    def from_records(cls, model_text: str, record: dict) -> TriageModel:
        """From the stored classifier text and the stored conformal record; refuses a record made for another model."""
        model_sha256 = sha256_hex(model_text.encode())
        if record["model_sha256"] != model_sha256:
            raise ValueError(
                f"conformal record was made for model {record['model_sha256']}, not for model {model_sha256}"
            )
        conformal = ConformalRecord.from_dict(record["conformal"])
        calibrator = Calibrator.from_dict(
            record["calibration"], conformal.calibration_scores, conformal.calibration_labels
        )
        names = {int(column): name for column, name in record["feature_names"].items()}
        floor = float(record.get("triage_policy", {}).get("priority_min_p_ae", 0.0))
        return cls(load_classifier(model_text), model_sha256, conformal, calibrator, names, priority_min_p_ae=floor)

    def score(
        self,
        X: sp.csr_matrix,
        sources: Sequence[object] | np.ndarray | None = None,
        explain_top_k: int = 0,
        texts: ReportTexts | None = None,
    ) -> ScoredRows:
        """``sources`` decide which threshold applies when the guarantee is per source (unknown: no auto-close).

        ``texts`` (the rows' own texts) let explanations name the report's words instead of training n-grams.
        """
        raw = predict_scores(self.classifier, X)
        sets = self.conformal.prediction_sets(raw, sources, self.judged_sources)
        explanations = (
            top_contributions(
                self.classifier,
                X,
                self.feature_names,
                explain_top_k,
                self.attribution,
                texts,
                sentence_rows=sets[:, 1],  # the reports people read (AE in the set) get the sentence term in words
                words=self.text_columns(texts.spec) if texts is not None else None,
            )
            if explain_top_k
            else None
        )
        reasons = self.conformal.reasons(raw, sets, sources, self.judged_sources)
        p_ae = self.calibrator(raw)
        likely = p_ae >= self.priority_min_p_ae
        for row in np.flatnonzero(sets[:, 1] & ~sets[:, 0] & ~likely):
            reasons[row] += f"; p(AE) {p_ae[row]:.3f} below {self.priority_min_p_ae:g}: REVIEW, not PRIORITY"
        return ScoredRows(raw, p_ae, sets, triage(sets, likely), reasons, explanations)
