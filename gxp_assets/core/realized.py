"""Realized performance: how the triage did on scored reports that people have since adjudicated.

Only adjudicated reports count, and reviewers adjudicate what they were shown: PRIORITY and REVIEW reports far more
often than AUTO_CLOSE ones, which are seen through audit sampling. The realized AE recall is therefore only as good
as the sampling of auto-closed reports; the counts travel with every figure so a reader can judge them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import pandas as pd

AUTO_CLOSE, PRIORITY = "AUTO_CLOSE", "PRIORITY"


@dataclass(frozen=True)
class RealizedLimits:
    ae_recall_min: float
    priority_precision_min: float
    window_days: int
    min_count: int  # a measure with a smaller denominator is reported, not judged


@dataclass(frozen=True)
class RealizedPerformance:
    window_start: str
    window_end: str
    adjudicated: int
    adjudicated_ae: int
    ae_not_auto_closed: int
    priority_adjudicated: int
    priority_ae: int
    ae_recall: float | None  # share of adjudicated AEs that were not auto-closed
    priority_precision: float | None  # share of adjudicated PRIORITY reports that were AEs
    model_versions: dict[str, int]
    alarms: list[str]
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def realized_performance(adjudicated: pd.DataFrame, now: datetime, limits: RealizedLimits) -> RealizedPerformance:
    """Realized AE recall of AUTO_CLOSE and precision of PRIORITY over the window ending at ``now``.

    ``adjudicated`` has one row per adjudicated report: its latest prediction (``triage``, ``model_version``) with
    its latest ``label`` and ``adjudicated_at`` (UTC).
    """
    start = now - timedelta(days=limits.window_days)
    stamps = pd.to_datetime(adjudicated["adjudicated_at"], utc=True)
    window = adjudicated[(stamps > start) & (stamps <= now)]
    labels = window["label"].astype(int).to_numpy()
    triage = window["triage"].astype(str).to_numpy()
    ae = labels == 1
    priority = triage == PRIORITY
    counts = {
        "adjudicated_ae": int(ae.sum()),
        "ae_not_auto_closed": int((ae & (triage != AUTO_CLOSE)).sum()),
        "priority_adjudicated": int(priority.sum()),
        "priority_ae": int((priority & ae).sum()),
    }
    recall = _share(counts["ae_not_auto_closed"], counts["adjudicated_ae"])
    precision = _share(counts["priority_ae"], counts["priority_adjudicated"])
    alarms, notes = [], []
    judged = (
        ("realized_ae_recall", recall, counts["adjudicated_ae"], limits.ae_recall_min, "adjudicated AEs"),
        (
            "realized_priority_precision",
            precision,
            counts["priority_adjudicated"],
            limits.priority_precision_min,
            "adjudicated PRIORITY reports",
        ),
    )
    for name, value, denominator, limit, what in judged:
        if denominator < limits.min_count:
            notes.append(f"{name} not judged: {denominator} {what} in the window, the plan needs {limits.min_count}")
        elif value is not None and value < limit:
            alarms.append(f"{name} {value:.4f} < {limit} ({denominator} {what})")
    versions = window["model_version"].astype(str).value_counts().sort_index()
    return RealizedPerformance(
        window_start=start.isoformat(),
        window_end=now.isoformat(),
        adjudicated=len(window),
        **counts,
        ae_recall=recall,
        priority_precision=precision,
        model_versions={str(version): int(count) for version, count in versions.items()},
        alarms=alarms,
        notes=notes,
    )
