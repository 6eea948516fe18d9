"""The recall guarantee on the AE side: its settings, its order statistic and what calibration data it needs.

Training-conditional (PAC): with probability >= 1 - delta over the calibration units, the k-th smallest AE score of n
units (one AE record per document) misses at most ``miss_rate`` of AEs, for the largest k with
P(Binomial(n, miss_rate) <= k - 1) <= delta (Vovk 2012, "Conditional validity of inductive conformal predictors",
Prop. 2a). Only exchangeability of the units is assumed; excluding AE strictly below the threshold keeps it valid
for tied scores.

With ``batch_documents`` m, the promise is about what a reviewer can count: the share auto-closed among the AE
documents of a batch (or monitoring window) of m. The number of those below the k-th smallest of n calibration
scores is Beta-Binomial(m, k, n - k + 1) (Marques 2023, "Universal distribution of the empirical coverage in split
conformal prediction"), so k is the largest with P(that share > miss_rate) <= delta. It is stricter than the
population promise because a finite batch adds its own sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import betabinom, binom


@dataclass(frozen=True)
class Guarantee:
    """What the plan promises about missed AEs, and how the calibration data is sampled."""

    type: str = "pac"  # "pac": training-conditional; "marginal": on average over calibration draws
    miss_rate: float = 0.05  # at most this share of AE reports auto-closed
    delta: float = 0.10  # pac: the promise may fail for at most this share of calibration draws
    unit: str = "document"  # "document": one AE record per document; "record": records taken as independent
    by_source: bool = True  # Mondrian by source: a threshold per source with enough documents
    # pac: the promise holds for the AE documents of a batch of this many (None: for the population of them)
    batch_documents: int | None = None

    def __post_init__(self) -> None:
        if self.type not in ("pac", "marginal"):
            raise ValueError(f"guarantee type must be 'pac' or 'marginal', got {self.type!r}")
        if self.unit not in ("document", "record"):
            raise ValueError(f"guarantee unit must be 'document' or 'record', got {self.unit!r}")
        if not 0 < self.miss_rate < 1:
            raise ValueError(f"miss_rate lies strictly between 0 and 1, got {self.miss_rate}")
        if not 0 < self.delta < 1:
            raise ValueError(f"delta lies strictly between 0 and 1, got {self.delta}")
        if self.batch_documents is not None and (self.type != "pac" or self.batch_documents < 1):
            raise ValueError(f"batch_documents is a positive count for a pac guarantee, got {self.batch_documents}")

    @property
    def confidence(self) -> float:
        return round(1 - self.miss_rate, 12)

    def units_needed(self) -> int:
        """Fewest calibration units (AE documents, or AE records) that support the guarantee at all."""
        if self.type == "marginal":
            return math.ceil(1 / self.miss_rate)
        if self.batch_documents is None:
            return math.ceil(math.log(self.delta) / math.log(1 - self.miss_rate) - 1e-12)
        # k = 1 qualifies once n is large enough, and the tail shrinks as n grows: bisect for the first n.
        def passes(n: int) -> bool:
            return bool(_batch_tail(n, 1, self.batch_documents, self.miss_rate) <= self.delta)

        low, high = 0, 1  # passes(high), not passes(low)
        while not passes(high):
            low, high = high, high * 2
            if high > 10**9:
                raise ValueError(f"no calibration size supports miss rate {self.miss_rate} at delta {self.delta}")
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if passes(middle) else (middle, high)
        return high

    def rank(self, n: int) -> int:
        """The order statistic of n AE calibration units that carries this guarantee (0: none does)."""
        return pac_rank(n, self.miss_rate, self.delta, self.batch_documents)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Guarantee:
        return cls(**values)


def pac_rank(n: int, miss_rate: float, delta: float, batch_documents: int | None = None) -> int:
    """The largest k (1-based) such that the k-th smallest of n AE scores misses more than ``miss_rate`` of AEs
    with probability <= ``delta``: P(Binomial(n, miss_rate) <= k - 1) <= delta, or, for a batch of m AE documents,
    P(Beta-Binomial(m, k, n - k + 1) > miss_rate x m) <= delta. 0 when no k qualifies."""
    if n <= 0:
        return 0
    ranks = np.arange(1, n + 1)
    if batch_documents is None:
        tail = binom.cdf(ranks - 1, n, miss_rate)
    else:
        tail = _batch_tail(n, ranks, batch_documents, miss_rate)
    allowed = ranks[tail <= delta]
    return int(allowed.max()) if len(allowed) else 0


def _batch_tail(n: np.ndarray | int, k: np.ndarray | int, m: int, miss_rate: float) -> np.ndarray:
    """P(more than miss_rate x m of m new AE units fall below the k-th smallest of n calibration units)."""
    allowed_misses = math.floor(miss_rate * m + 1e-9)
    return np.asarray(betabinom.sf(allowed_misses, m, k, np.asarray(n) - np.asarray(k) + 1))


def one_per_unit(units: np.ndarray, seed: int) -> np.ndarray:
    """Indices of one record per unit, chosen by a seeded shuffle (never by score), in input order."""
    order = np.random.default_rng(seed).permutation(len(units))
    _, first = np.unique(np.asarray(units, dtype=str)[order], return_index=True)
    return np.sort(order[first])


@dataclass(frozen=True)
class AEThreshold:
    """One source's AE threshold: AE is excluded from the set only for raw scores strictly below ``value``."""

    value: float | None  # None: AE is never excluded (no auto-close)
    units: int  # calibration units (documents or records) with an AE behind it
    rank: int  # the order statistic used (0 = none)
    note: str

    def to_dict(self) -> dict:
        return asdict(self)


class CalibrationTooSmall(ValueError):
    """The calibration data cannot support the plan's guarantee; raised before anything is trained."""


def calibration_shortfall(
    labels: np.ndarray,
    units: Sequence[object] | np.ndarray,
    guarantee: Guarantee,
    negative_confidence: float | None = None,
    min_positive_units: int = 0,
    positive: str = "positive",
    negative: str = "negative",
) -> list[str]:
    """Why the calibration part cannot support the guarantee, with the numbers (empty: it can).

    The positive units (distinct ``units`` of positive records for ``unit: document``, positive records for ``unit:
    record`` or a marginal guarantee) must reach ``Guarantee.units_needed`` (the PAC order statistic's) and the
    plan's ``min_positive_units``; the negative records must reach 1 / (1 - ``negative_confidence``) for the
    negative side's coverage. Plain numbers in, so that a check before training needs no plan object."""
    labels = np.asarray(labels, dtype=int)
    is_positive = labels == 1
    by_document = guarantee.unit == "document" and guarantee.type == "pac"
    have = len(set(np.asarray(units, dtype=str)[is_positive])) if by_document else int(is_positive.sum())
    what = f"{positive} {guarantee.unit}s" if guarantee.type == "pac" else f"{positive} records"
    needed = guarantee.units_needed()
    problems = []
    if have < needed:
        detail = f" at delta {guarantee.delta}" if guarantee.type == "pac" else ""
        problems.append(
            f"the calibration split holds {have} {what}; a miss rate of {guarantee.miss_rate}{detail} needs at "
            f"least {needed}: add adjudicated data, or raise the miss rate or delta in a new plan"
        )
    elif have < min_positive_units:
        problems.append(f"the calibration split holds {have} {what}; the plan requires at least {min_positive_units}")
    if negative_confidence is not None:
        needed_negative = math.ceil(1 / (1 - negative_confidence))
        if (~is_positive).sum() < needed_negative:
            problems.append(
                f"the calibration split holds {int((~is_positive).sum())} {negative} records; covering them at "
                f"{negative_confidence:.0%} needs at least {needed_negative}"
            )
    return problems


def check_calibration_supports(
    guarantee: Guarantee, labels: np.ndarray, units: Sequence[object] | np.ndarray, no_ae_confidence: float
) -> None:
    """Refuse, with the numbers, calibration data that cannot support the guarantee as a whole."""
    problems = calibration_shortfall(labels, units, guarantee, no_ae_confidence, positive="AE", negative="no-AE")
    if problems:
        raise CalibrationTooSmall(problems[0])
