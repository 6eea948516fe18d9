"""The statistics of drift: PSI over quantile bins, and what sampling noise alone reaches.

Pure functions of counts and shares, kept apart from the accumulation of a batch (core.drift) so that each can be
read and tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import chi2

SHARE_FLOOR = 1e-4  # shares below this count as this in PSI, so an empty bin gives a large but finite term
PSI_ALPHA = 0.001  # a PSI alarm must also lie beyond what two samples of one distribution reach this often


def psi(actual: Sequence[float], expected: Sequence[float], floor: float = SHARE_FLOOR) -> float:
    """Population stability index of batch shares ``actual`` against reference shares ``expected``, bin by bin:

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i),  with a_i = max(actual_i, floor) and e_i = max(expected_i, floor).

    0 for identical distributions; by the usual rule of thumb < 0.1 is stable and > 0.25 a major shift.
    """
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    if a.shape != e.shape:
        raise ValueError(f"PSI needs the same bins on both sides, got {a.shape} and {e.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def psi_noise(n_batch: int, n_reference: int, bins: int) -> float:
    """The PSI that two samples of one distribution exceed with probability ``PSI_ALPHA``: for small differences PSI
    is the chi-square distance, so PSI / (1/n + 1/m) is about chi-square with bins - 1 degrees of freedom. About
    0.49 for 60 reports in 10 bins, 0.06 for 1,000: small batches must not alarm on sampling noise."""
    if bins < 2:
        return 0.0
    return float(chi2.ppf(1 - PSI_ALPHA, bins - 1) * (1 / n_batch + 1 / n_reference))


def review_noise(reference_share: float, n_batch: int, n_reference: int, z: float = 3.0) -> float:
    """The REVIEW-share increase that sampling alone exceeds rarely: z binomial standard errors of the difference of
    two shares (z = 3: reports of one document are correlated, so the nominal rate is optimistic)."""
    p = min(max(reference_share, 1 / max(n_reference, 1)), 1 - 1 / max(n_reference, 1))
    return float(z * np.sqrt(p * (1 - p) * (1 / max(n_batch, 1) + 1 / max(n_reference, 1))))


def quantile_edges(values: np.ndarray, bins: int) -> tuple[float, ...]:
    """Inner bin edges at the reference quantiles, each one a reference value; repeated quantiles (ties) collapse
    and an edge at the minimum is dropped, so no bin is empty on the reference side."""
    inner = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf")
    return tuple(float(edge) for edge in np.unique(inner) if edge > values.min())


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts in the bins (-inf, e0), [e0, e1), ..., [e_last, inf): the outer edges are open, every value lands."""
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    return np.bincount(index, minlength=len(edges) + 1).astype(np.int64)


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {key: counts[key] / total for key in sorted(counts)} if total else {}
