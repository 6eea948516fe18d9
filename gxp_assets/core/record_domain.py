"""Domain classifier for declared records without text: can a classifier tell a batch's records from the reference's?

Per-column PSI, missing and range shares (core.tabular_drift) watch each column alone. A batch can keep every
column's distribution and still be unlike the records the model was developed on: tablet hardness no longer rising
with compression force, or the batches of one product only. This runs core.domain_shift's test (the same
regularised logistic regression, folds, out-of-fold AUROC and null z, judged by ``judged_auc``) on records:

- features, made the same way for the reference sample and the batch sample: each numeric column standardised by
  the reference sample's mean and sd (a missing value: 0 plus its own indicator), the product of every pair of
  them, squares included, and each categorical column one-hot by the levels the training records held, plus one
  column for any other level and one for missing. The products are there because a linear classifier on the columns
  alone sees only shifts of their means: force and hardness paired in reverse order, every column unchanged, gave
  AUROC 0.48 on the columns and 0.91 (z 26) with their products (dissolution_risk, 400 records);
- the batch sample: :class:`RecordSampler`, the bottom ``DOMAIN_SAMPLE_ROWS`` records by a fixed hash of their id
  (ids are unique within a validated batch), so the same records are chosen however the batch is chunked;
- folds as for reports: reference rows dealt in turn, batch rows in contiguous runs, every record its own unit.
  Records of one product are alike, but folds by product cannot serve: a batch of one product puts all its records
  in one fold, whose model then trains without a batch record; and they bought nothing on steady batches (AUROC
  0.45 and 0.46, z -3.1 and -2.6, against 0.45, z -2.9, with these folds); with a test-split reference they gave
  0.28-0.35 (z -8 to -13), holding a product out tilting the fit against it. The clustering by product is met by
  the reference sample instead (core.record_reference: every split, so every product);
- one stratum: the reference sample keeps no subgroup, so the batch is compared with all of it (the subgroup mix is
  reported apart as ``source_shift``; the records' guarantee is not per subgroup).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gxp_assets.core.domain_shift import DOMAIN_SAMPLE_ROWS, BottomK, DomainShift, priority_keys, separability
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.record_reference import RecordReference, sample_values

Row = tuple[float | str | None, ...]


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class RecordScaling:
    """How a sampled record becomes a feature row: numeric columns first (means, scales), then categorical levels."""

    means: np.ndarray
    scales: np.ndarray
    levels: tuple[tuple[str, ...], ...]  # per categorical column, the training records' levels

    @classmethod
    def of(cls, reference: RecordReference) -> RecordScaling:
        """Means and sds of the reference sample's numeric values (an sd of 0, or no value: scale 1)."""
        spec = reference.feature_spec
        numbers = _numbers(reference.sample.rows, len(spec.numeric_columns))
        present = ~np.isnan(numbers)
        counts = present.sum(axis=0)
        means = np.divide(np.where(present, numbers, 0.0).sum(axis=0), counts, out=np.zeros(len(counts)),
                          where=counts > 0)  # fmt: skip
        deviations = np.where(present, numbers - means, 0.0)
        sds = np.sqrt(np.divide((deviations**2).sum(axis=0), counts, out=np.zeros(len(counts)), where=counts > 0))
        levels = {column.column: column.levels for column in reference.columns.categorical}
        return cls(means, np.where(sds > 0, sds, 1.0), tuple(levels.get(c, ()) for c in spec.categorical_columns))

    def matrix(self, rows: Sequence[Row]) -> sp.csr_matrix:
        """One feature row per sampled record (the module docstring lists the columns)."""
        k = len(self.means)
        numbers = _numbers(rows, k)
        missing = np.isnan(numbers)
        z = np.where(missing, 0.0, (numbers - self.means) / self.scales)
        first, second = np.triu_indices(k)
        blocks = [z, missing.astype(np.float64), z[:, first] * z[:, second]]
        for offset, levels in enumerate(self.levels):
            position = {level: index for index, level in enumerate(levels)}
            hot = np.zeros((len(rows), len(levels) + 2))
            other, absent = len(levels), len(levels) + 1
            for row, values in enumerate(rows):
                cell = values[k + offset]
                hot[row, absent if cell is None else position.get(str(cell), other)] = 1.0
            blocks.append(hot)
        return sp.csr_matrix(np.hstack(blocks))


def _numbers(rows: Sequence[Row], k: int) -> np.ndarray:
    """The first ``k`` values of each row as floats, NaN for missing."""
    return np.array([[np.nan if value is None else float(value) for value in row[:k]] for row in rows],
                    dtype=np.float64).reshape(len(rows), k)  # fmt: skip


class RecordSampler(BottomK):
    """Bottom-k sample of a batch's valid records by ``priority_keys`` of their ids, values as the reference keeps
    them (core.record_reference.sample_values): only records that can enter are converted."""

    def __init__(self, spec: FeatureSpec, size: int = DOMAIN_SAMPLE_ROWS) -> None:
        super().__init__(size)
        self.spec = spec

    def add(self, ids: Sequence[object], records: pd.DataFrame) -> None:
        """Offer one block: the validated records (numbers typed) and their ids, row for row."""
        if len(ids) != len(records):
            raise ValueError(f"{len(ids)} ids for {len(records)} records")
        keys = priority_keys([str(value) for value in ids])
        self.offer(keys, lambda offered: sample_values(records.iloc[offered], self.spec))


def record_domain_shift(reference: RecordReference, batch: Sequence[Row]) -> DomainShift:
    """core.domain_shift's test of the batch sample (rows in batch order) against the reference sample."""
    scaling = RecordScaling.of(reference)
    rows = reference.sample.rows
    return separability(scaling.matrix(rows), [""] * len(rows), scaling.matrix(batch) if batch else None,
                        [""] * len(batch), "records")  # fmt: skip
