"""Drift of a tabular batch, column by column, against a reference summarised from the training records.

Per numeric column: PSI over the reference's quantile bins, the share of missing values, and the share of values
outside the range the training records spanned (validation already quarantines values outside the declared valid
range, so this counts extrapolation: values a valid record may hold that no model was fitted on). Per categorical
column: PSI over the levels seen in training plus one bin for any other level, the missing share, and the share of
levels never seen in training (an undeclared level reaches here only at scoring, core.record_validation).

PSI is computed on the non-missing values (missing is its own measure) with a pseudo-count of 1/2 in every bin on
both sides (Jeffreys), so an empty bin in a small batch gives a finite term instead of a floor-sized spike, and two
samples of one distribution give a PSI near the chi-square noise that ``psi_noise`` reports beside it. A column
that was constant in training gets three bins (below, at, above the constant), so any change shows. The reference
is plain JSON (``to_dict``), hashed, and rebuilt exactly by ``from_dict``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from gxp_assets.core.drift_stats import bin_counts, psi_noise, quantile_edges
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.record_contract import numeric_values

PSEUDO_COUNT = 0.5  # per bin, both sides (Jeffreys): smoothing for empty bins
OTHER_LEVEL = "(other)"  # the bin of every level the training records did not hold


def smoothed_shares(counts: Sequence[float]) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return (counts + PSEUDO_COUNT) / (counts.sum() + PSEUDO_COUNT * len(counts))


def smoothed_psi(batch_counts: Sequence[float], reference_counts: Sequence[float]) -> float:
    """PSI = sum (a - e) ln(a / e) of the two sides' smoothed shares over the same bins."""
    a, e = smoothed_shares(batch_counts), smoothed_shares(reference_counts)
    if a.shape != e.shape:
        raise ValueError(f"PSI needs the same bins on both sides, got {a.shape} and {e.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class NumericReference:
    column: str
    edges: tuple[float, ...]  # inner edges; bins (-inf, e0), [e0, e1), ..., [e_last, inf)
    counts: tuple[int, ...]  # training values per bin
    low: float | None  # the smallest and largest training value (None: no value at all)
    high: float | None
    missing: int
    n: int


@dataclass(frozen=True)
class CategoricalReference:
    column: str
    levels: tuple[str, ...]  # the levels the training records held, sorted; OTHER_LEVEL's bin follows them
    counts: tuple[int, ...]  # per level, then 0 for OTHER_LEVEL
    missing: int
    n: int


def _numbers(values: pd.Series, decimal: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(numeric_values(values.tolist(), decimal), dtype=np.float64)


def _levels(values: pd.Series) -> list[str | None]:
    """Cells as levels; None, NaN and blank are missing."""
    return [None if not isinstance(value, str) and pd.isna(value) else str(value).strip() or None
            for value in values.tolist()]  # fmt: skip


def _numeric_edges(values: np.ndarray, bins: int) -> tuple[float, ...]:
    if not len(values):
        return ()
    if values.min() == values.max():  # constant: below, at and above it, so that any change shows
        return (float(values.min()), float(np.nextafter(values.min(), np.inf)))
    return quantile_edges(values, bins)


@dataclass(frozen=True)
class TabularReference:
    """What a batch is compared with: per column, the training records' bins and counts."""

    numeric: tuple[NumericReference, ...]
    categorical: tuple[CategoricalReference, ...]
    n_records: int

    def to_dict(self) -> dict:
        return {"n_records": self.n_records, "numeric": [asdict(part) for part in self.numeric],
                "categorical": [asdict(part) for part in self.categorical]}  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> TabularReference:
        def numeric(part: dict) -> NumericReference:
            return NumericReference(**{**part, "edges": tuple(part["edges"]), "counts": tuple(part["counts"])})

        def categorical(part: dict) -> CategoricalReference:
            return CategoricalReference(**{**part, "levels": tuple(part["levels"]), "counts": tuple(part["counts"])})

        return cls(tuple(map(numeric, values["numeric"])), tuple(map(categorical, values["categorical"])),
                   int(values["n_records"]))  # fmt: skip

    @property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(self.to_dict()))


def build_tabular_reference(
    records: pd.DataFrame,
    numeric_columns: Sequence[str],
    categorical_columns: Sequence[str],
    bins: int = 10,
    decimal: str = ".",
) -> TabularReference:
    """The reference from training records (``records``: the train split's validated rows)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if records.empty:
        raise ValueError("the reference holds no record: there is nothing to compare a batch with")
    numeric = []
    for column in numeric_columns:
        values = _numbers(records[column], decimal)
        present = values[~np.isnan(values)]
        edges = _numeric_edges(present, bins)
        numeric.append(NumericReference(
            column, edges, tuple(int(c) for c in bin_counts(present, edges)),
            float(present.min()) if len(present) else None, float(present.max()) if len(present) else None,
            int(np.isnan(values).sum()), len(values),
        ))  # fmt: skip
    categorical = []
    for column in categorical_columns:
        cells = _levels(records[column])
        seen = Counter(cell for cell in cells if cell is not None)
        levels = tuple(sorted(seen))
        categorical.append(CategoricalReference(
            column, levels, (*(seen[level] for level in levels), 0), sum(cell is None for cell in cells), len(cells)
        ))  # fmt: skip
    return TabularReference(tuple(numeric), tuple(categorical), len(records))


@dataclass(frozen=True)
class ColumnDrift:
    """One column of one batch against its reference; a share is None where the batch has no value to share."""

    column: str
    kind: str  # "numeric" or "categorical"
    n: int
    psi: float | None  # None: no non-missing value in the batch or the reference
    psi_noise: float | None  # what two samples of one distribution exceed rarely (drift_stats.psi_noise)
    missing_share: float | None
    reference_missing_share: float
    out_of_range_share: float | None = None  # numeric: outside the training records' [low, high]
    unseen_level_share: float | None = None  # categorical: a level the training records did not hold
    counts: tuple[int, ...] = ()  # the batch's non-missing values per reference bin


@dataclass(frozen=True)
class TabularDrift:
    n_records: int
    columns: tuple[ColumnDrift, ...]
    reference_sha256: str

    def column(self, name: str) -> ColumnDrift:
        return next(drift for drift in self.columns if drift.column == name)

    def to_dict(self) -> dict:
        return {"n_records": self.n_records, "reference_sha256": self.reference_sha256,
                "columns": [asdict(drift) for drift in self.columns]}  # fmt: skip


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _psi(batch: np.ndarray, reference: Sequence[int], n_reference_present: int) -> tuple[float | None, float | None]:
    present = int(batch.sum())
    if not present or not n_reference_present:
        return None, None
    return smoothed_psi(batch, reference), psi_noise(present, n_reference_present, len(reference))


class TabularCounts:
    """A batch's counts per reference column, fed chunk by chunk (memory: the bins, not the batch)."""

    def __init__(self, reference: TabularReference, decimal: str = ".") -> None:
        self.reference, self.decimal, self.n = reference, decimal, 0
        self._bins = {part.column: np.zeros(len(part.counts), dtype=np.int64)
                      for part in (*reference.numeric, *reference.categorical)}  # fmt: skip
        self._present = Counter[str]()  # non-missing values per column
        self._outside = Counter[str]()  # numeric values outside the training records' range

    def add(self, batch: pd.DataFrame) -> None:
        """Count validated records (numbers as numbers or as written)."""
        self.n += len(batch)
        for part in self.reference.numeric:
            values = _numbers(batch[part.column], self.decimal)
            present = values[~np.isnan(values)]
            self._bins[part.column] += bin_counts(present, part.edges)
            self._present[part.column] += len(present)
            inside = (present >= part.low) & (present <= part.high) if part.low is not None else np.zeros(0, bool)
            self._outside[part.column] += len(present) - int(inside.sum())
        for part in self.reference.categorical:
            cells = [cell for cell in _levels(batch[part.column]) if cell is not None]
            index = {level: position for position, level in enumerate(part.levels)}
            self._bins[part.column] += np.bincount([index.get(cell, len(part.levels)) for cell in cells],
                                                   minlength=len(part.levels) + 1)  # fmt: skip
            self._present[part.column] += len(cells)

    def result(self) -> TabularDrift:
        n, columns = self.n, []
        for part in self.reference.numeric:
            counts, present = self._bins[part.column], self._present[part.column]
            psi, noise = _psi(counts, part.counts, part.n - part.missing)
            columns.append(ColumnDrift(
                part.column, "numeric", n, psi, noise, _share(n - present, n), part.missing / part.n,
                out_of_range_share=_share(self._outside[part.column], present), counts=tuple(int(c) for c in counts),
            ))  # fmt: skip
        for part in self.reference.categorical:
            counts, present = self._bins[part.column], self._present[part.column]
            psi, noise = _psi(counts, part.counts, part.n - part.missing)
            columns.append(ColumnDrift(
                part.column, "categorical", n, psi, noise, _share(n - present, n), part.missing / part.n,
                unseen_level_share=_share(int(counts[-1]), present), counts=tuple(int(c) for c in counts),
            ))  # fmt: skip
        return TabularDrift(n, tuple(columns), self.reference.sha256)


def measure_tabular_drift(reference: TabularReference, batch: pd.DataFrame, decimal: str = ".") -> TabularDrift:
    """Every reference column's measures on ``batch`` in one piece: :class:`TabularCounts` fed a single chunk."""
    counts = TabularCounts(reference, decimal)
    counts.add(batch)
    return counts.result()
