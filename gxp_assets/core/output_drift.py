"""Drift of what the model put out, the same for every use case: its raw scores, its REVIEW share, its subgroup mix.

Text drift (core.drift) and tabular drift (core.record_drift) count a batch's output through :class:`OutputCounts`
and judge it through :meth:`OutputCounts.measure`, so that a score PSI or a REVIEW share means one thing whatever
the features were: the score PSI alarms only above its limit and above the sampling noise of the batch's
independent units (documents where known), the REVIEW share only when its increase over the reference's is beyond
sampling noise and above its limit. The subgroup (source) mix is measured for the reader, not judged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gxp_assets.core.conformal import Triage
from gxp_assets.core.drift_stats import bin_counts, psi, psi_noise, review_noise, shares

MISSING_SOURCE = "(missing)"
# Limits are written as decimals that binary floats cannot hold exactly; a value equal to its limit is no alarm.
SLACK = 1e-9


def finite_scores(scores: Iterable[float]) -> np.ndarray:
    values = np.asarray(scores, dtype=float).ravel()
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite numbers")
    return values


def strings(values: Iterable[object]) -> pd.Series:
    """Missing values as ``MISSING_SOURCE``, everything else as its ``str`` (a ``Triage`` member gives its value)."""
    return pd.Series(list(values), dtype=object).fillna(MISSING_SOURCE).astype(str)


@dataclass(frozen=True)
class OutputReference:
    """The reference side of the output measures: the held-out split's score bins, REVIEW share and source mix."""

    n: int
    score_edges: tuple[float, ...]
    score_shares: tuple[float, ...]
    review_share: float
    source_shares: dict[str, float]


@dataclass(frozen=True)
class OutputMeasures:
    score_psi: float | None
    score_psi_noise: float | None
    review_share: float | None
    review_increase: float | None  # beyond sampling noise, else None (then never an alarm)
    source_shares: dict[str, float]
    source_shift: float | None  # total variation distance to the reference mix, in [0, 1]
    score_counts: tuple[int, ...]

    def monitored(self, score_psi_max: float, review_increase_max: float) -> list[tuple[str, float | None, float]]:
        """(measure, judged value or None, limit): the score PSI counts only above its noise."""
        psi_value, noise = self.score_psi, self.score_psi_noise or 0.0
        above_noise = psi_value if psi_value is not None and psi_value > noise else None
        return [("score_psi", above_noise, score_psi_max),
                ("review_share_increase", self.review_increase, review_increase_max)]  # fmt: skip


def alarms_of(monitored: Iterable[tuple[str, float | None, float | None]]) -> list[str]:
    """One alarm per judged value above its limit (a limit of None: measured and shown, not judged)."""
    return [f"{name} {value:.4g} > {limit:g}" for name, value, limit in monitored
            if value is not None and limit is not None and value > limit + SLACK]  # fmt: skip


#: Document hashes held back before a merge, at least: a chunk's worth, so small batches merge once.
MERGE_AT_LEAST = 65_536


class OutputCounts:
    """Counts of one batch's output, fed chunk by chunk: score bins, REVIEW count, sources, document hashes."""

    def __init__(self, reference: OutputReference) -> None:
        self.reference = reference
        self.score_counts = np.zeros(len(reference.score_shares), dtype=np.int64)
        self.n = 0
        self.review = 0
        self.sources: Counter[str] = Counter()
        # Records of one document are correlated, so the PSI noise counts documents: their 64-bit hashes, unique.
        # A chunk's hashes wait in ``_pending`` until they outnumber the merged ones: merging every chunk into the
        # sorted set would sort the whole set again per chunk, so time per record would grow with the batch.
        self._documents = np.zeros(0, dtype=np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def add(
        self,
        scores: Iterable[float],
        triage: Iterable[object],
        sources: Iterable[object],
        documents: Iterable[object] | None = None,
    ) -> np.ndarray:
        """Count one chunk; returns its scores as floats (checked finite)."""
        values, triage_values, source_values = finite_scores(scores), strings(triage), strings(sources)
        if not len(values) == len(triage_values) == len(source_values):
            raise ValueError(f"{len(values)} scores, {len(triage_values)} triage, {len(source_values)} sources: every "
                             "input must hold one row per record")  # fmt: skip
        self.score_counts += bin_counts(values, self.reference.score_edges)
        self.n += len(values)
        self.review += int((triage_values == Triage.REVIEW.value).sum())
        self.sources.update(source_values)
        if documents is not None:
            hashed = pd.util.hash_pandas_object(strings(documents), index=False).to_numpy()
            self._pending.append(hashed)
            self._pending_rows += len(hashed)
            if self._pending_rows > max(len(self._documents), MERGE_AT_LEAST):
                self._merge_pending()
        return values

    def _merge_pending(self) -> None:
        self._documents = np.unique(np.concatenate([self._documents, *self._pending]))
        self._pending, self._pending_rows = [], 0

    @property
    def documents(self) -> int:
        """Distinct documents counted so far."""
        if self._pending:
            self._merge_pending()
        return len(self._documents)

    def measure(self, score_psi_max: float, review_share_increase_max: float, notes: list[str]) -> OutputMeasures:
        """The measures so far; what sampling noise keeps from an alarm is said in ``notes``."""
        reference, n = self.reference, self.n
        counts = tuple(int(c) for c in self.score_counts)
        if n == 0:
            return OutputMeasures(None, None, None, None, {}, None, counts)
        score_psi = psi(self.score_counts / n, reference.score_shares)
        units = self.documents or n  # documents where known: the effective sample of clustered records
        noise = psi_noise(units, reference.n, len(reference.score_shares))
        if score_psi_max + SLACK < score_psi <= noise:
            notes.append(f"score_psi {score_psi:.4g} is above its limit but within the sampling noise of {n} "
                         f"reports from {units} documents ({noise:.4g}): no alarm")  # fmt: skip
        review_share = self.review / n
        increase, judged = review_share - reference.review_share, None
        if increase > review_noise(reference.review_share, n, reference.n):
            judged = increase
        elif increase > review_share_increase_max + SLACK:
            notes.append(f"REVIEW share {review_share:.3f} is above the reference's {reference.review_share:.3f} "
                         f"but within the sampling noise of {n} reports: no alarm")  # fmt: skip
        batch_mix = shares(self.sources)
        keys = sorted(set(batch_mix) | set(reference.source_shares))  # sorted: the same sum on every run
        shift = 0.5 * sum(abs(batch_mix.get(k, 0.0) - reference.source_shares.get(k, 0.0)) for k in keys)
        return OutputMeasures(score_psi, noise, review_share, judged, batch_mix, shift, counts)


def output_reference(
    scores: Sequence[float], triage: Iterable[object], sources: Iterable[object], edges: tuple[float, ...]
) -> OutputReference:
    """The output reference of a held-out split's scores, triage and sources, binned at ``edges``."""
    values, triage_values, source_values = finite_scores(scores), strings(triage), strings(sources)
    if not len(values) == len(triage_values) == len(source_values) > 0:
        raise ValueError(f"{len(values)} scores, {len(triage_values)} triage, {len(source_values)} sources: the "
                         "reference needs one row per record, and at least one")  # fmt: skip
    return OutputReference(
        n=len(values),
        score_edges=edges,
        score_shares=tuple(float(c) / len(values) for c in bin_counts(values, edges)),
        review_share=float((triage_values == Triage.REVIEW.value).mean()),
        source_shares=shares(Counter(source_values)),
    )
