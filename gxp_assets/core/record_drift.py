"""Drift of a batch of declared records (no text) against the model's record reference (core.record_reference).

Two parts, counted chunk by chunk while the batch is scored (core.batch_scoring) and judged once before anything is
published: the model's output as for every use case (core.output_drift: score PSI above its noise, REVIEW-share
increase beyond noise, the subgroup mix shown), and every declared column as core.tabular_drift measures it (numeric:
PSI, missing share, share outside the training range; categorical: PSI, missing share, share of levels never seen in
training). Each column measure is judged against the plan's limit for its type (``numeric_psi_max``,
``categorical_psi_max``, ``missing_share_max``, ``out_of_range_share_max``, ``unseen_level_share_max``); a column's
PSI alarms only above its own sampling noise too, as the score PSI does.

Records count as independent units for the score PSI's noise (the plan's guarantee unit for records is the record).
All declared columns jointly: the domain classifier (core.record_domain) on a bounded sample of the batch's valid
records, ``domain_auc`` judged against ``domain_auc_max`` as for reports (above the limit and ``DOMAIN_MIN_Z`` null
sds above 0.5), so a batch whose columns each look as usual but whose records do not is an alarm too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import scipy.sparse as sp

from gxp_assets.core.domain_shift import judged_auc
from gxp_assets.core.drift import DriftLimits, judged
from gxp_assets.core.output_drift import OutputCounts, OutputReference, alarms_of
from gxp_assets.core.record_domain import RecordSampler, record_domain_shift
from gxp_assets.core.record_reference import RecordReference
from gxp_assets.core.tabular_drift import ColumnDrift, TabularCounts

MEASUREMENT_KIND = "records"
NUMERIC_MEASURES = ("psi", "missing_share", "out_of_range_share")
CATEGORICAL_MEASURES = ("psi", "missing_share", "unseen_level_share")


def column_limits(limits: DriftLimits, kind: str) -> dict[str, float | None]:
    """The plan's limit of each measure of a column of ``kind`` ("numeric" or "categorical")."""
    if kind == "numeric":
        return {"psi": limits.numeric_psi_max, "missing_share": limits.missing_share_max,
                "out_of_range_share": limits.out_of_range_share_max}  # fmt: skip
    return {"psi": limits.categorical_psi_max, "missing_share": limits.missing_share_max,
            "unseen_level_share": limits.unseen_level_share_max}  # fmt: skip


def column_alarms(column: ColumnDrift, limits: DriftLimits) -> list[str]:
    """One alarm per measure of ``column`` above its limit (a PSI also above its noise), named by column."""
    judged = []
    for measure, limit in column_limits(limits, column.kind).items():
        value = getattr(column, measure)
        if measure == "psi" and value is not None and column.psi_noise is not None and value <= column.psi_noise:
            value = None
        judged.append((f"{column.column} {measure}", value, limit))
    return alarms_of(judged)


@dataclass(frozen=True)
class RecordDriftMeasurement:
    """One batch of records against the reference; what the fail-safe judges (``n_reports``, ``alarms``)."""

    n_reports: int
    score_psi: float | None
    score_psi_noise: float | None
    review_share: float | None
    source_shares: dict[str, float]  # the subgroup mix
    source_shift: float | None
    score_counts: tuple[int, ...]
    columns: tuple[ColumnDrift, ...]
    limits: DriftLimits
    alarms: list[str]
    notes: list[str]
    reference_sha256: str
    # Out-of-fold AUROC of reference-vs-batch records, its z against 0.5, and the batch records it was fitted on (a
    # bounded sample); None where not measured (core.record_domain).
    domain_auc: float | None = None
    domain_auc_z: float | None = None
    domain_rows: int = 0

    @property
    def drifted(self) -> bool:
        return bool(self.alarms)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["kind"] = MEASUREMENT_KIND
        values["drifted"] = self.drifted
        return values


class RecordDriftAccumulator:
    """Counts of one batch of records: the output counts, every declared column's bins and a bounded sample of
    records for the domain classifier."""

    def __init__(self, reference: RecordReference) -> None:
        self.reference = reference
        self._output = OutputCounts(OutputReference(reference.n_records, reference.score_edges,
                                                    reference.score_shares, reference.review_share,
                                                    reference.source_shares))  # fmt: skip
        self._columns = TabularCounts(reference.columns)
        self._sampler = RecordSampler(reference.feature_spec)

    def add_scored(self, valid: pd.DataFrame, features: sp.csr_matrix, predictions: pd.DataFrame) -> None:
        """Count a scored block: its validated records (numbers typed) and its predictions (SCORED_COLUMNS)."""
        self._columns.add(valid)
        self._output.add(predictions["raw_score"].to_numpy(), predictions["triage"].to_numpy(),
                         predictions["source"].tolist())  # fmt: skip
        self._sampler.add(predictions["report_id"].tolist(), valid)

    def result(self, limits: DriftLimits) -> RecordDriftMeasurement:
        """The measurement so far, judged against ``limits``; each crossed limit is one alarm."""
        n, notes = self._output.n, []
        if n == 0:
            notes.append("empty batch: no record to measure, so no drift is judged")
        output = self._output.measure(limits.score_psi_max, limits.review_share_increase_max, notes)
        columns = self._columns.result().columns if n else ()
        alarms = alarms_of(output.monitored(limits.score_psi_max, limits.review_share_increase_max))
        for column in columns:
            alarms += column_alarms(column, limits)
        shift = record_domain_shift(self.reference, self._sampler.kept()) if n else None  # fitted once per batch
        if shift is not None:
            alarms += alarms_of([("domain_auc", judged_auc(shift, limits.domain_auc_max, notes, "records"),
                                  limits.domain_auc_max)])  # fmt: skip
        return RecordDriftMeasurement(
            n_reports=n,
            score_psi=output.score_psi,
            score_psi_noise=output.score_psi_noise,
            review_share=output.review_share,
            source_shares=output.source_shares,
            source_shift=output.source_shift,
            score_counts=output.score_counts,
            columns=tuple(columns),
            limits=limits,
            alarms=judged(alarms, n, notes, "records"),
            notes=notes,
            reference_sha256=self.reference.sha256,
            domain_auc=shift.auc if shift is not None else None,
            domain_auc_z=shift.z if shift is not None else None,
            domain_rows=shift.batch_rows if shift is not None else 0,
        )
