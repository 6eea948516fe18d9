"""Monitoring over time: each drift and realized-performance measurement in the order it was made (not by batch
name), against the plan's limits, as rows and as one plot. Plain Python; the Dagster layer feeds it events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gxp_assets.core.plots import _png, plt

#: (measure, label, limit key) drawn per panel; the REVIEW limit is per point (it depends on the model's reference).
DRIFT_PANELS = (
    ("score_psi", "score PSI", "score_psi_max"),
    ("unseen_ngram_share", "unseen n-gram share", "unseen_ngram_share_max"),
    ("review_share", "REVIEW share", "review_share_limit"),
)
PERFORMANCE_PANELS = (
    ("ae_recall", "realized AE recall", "ae_recall_min"),
    ("priority_precision", "PRIORITY precision", "priority_precision_min"),
)


@dataclass(frozen=True)
class TrendPoint:
    at: datetime  # UTC, when the measurement was recorded
    label: str  # the batch, or "adjudications"
    values: dict[str, float | None]
    alarms: tuple[str, ...]


def time_ordered(points: list[TrendPoint]) -> list[TrendPoint]:
    """Oldest first by the time of measurement; a batch named 'z' measured first stays first."""
    return sorted(points, key=lambda point: point.at)


def trend_rows(points: list[TrendPoint], measures: tuple[tuple[str, str, str], ...]) -> list[dict]:
    """One row per measurement for a table: time, label, each measure (limit alongside), alarms."""
    rows = []
    for point in time_ordered(points):
        row: dict = {"at": point.at.strftime("%Y-%m-%d %H:%M:%S UTC"), "measured": point.label}
        for key, _, limit in measures:
            row[key], row[limit] = point.values.get(key), point.values.get(limit)
        row["alarms"] = "; ".join(point.alarms) or "none"
        rows.append(row)
    return rows


def _panel(axis: plt.Axes, points: list[TrendPoint], key: str, label: str, limit: str, above_is_bad: bool) -> None:
    shown = [(p.at, p.values.get(key), p.values.get(limit)) for p in points if p.values.get(key) is not None]
    if not shown:
        axis.text(0.5, 0.5, "no measurement yet", ha="center", va="center", transform=axis.transAxes)
    else:
        times, values, limits = zip(*shown, strict=True)
        beyond = [(t, v) for t, v, lim in shown if lim is not None and ((v > lim) if above_is_bad else (v < lim))]
        axis.plot(times, values, marker="o", color="#4c72b0", label=label)
        if beyond:
            axis.scatter(*zip(*beyond, strict=True), color="#c4473a", zorder=3, label="beyond the limit")
        if any(lim is not None for lim in limits):
            axis.step(times, [lim if lim is not None else float("nan") for lim in limits], where="mid",
                      color="black", linestyle="--", label="plan limit")  # fmt: skip
        axis.legend(fontsize=8)
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    axis.set_title(label)


def trend_plot(drift: list[TrendPoint], performance: list[TrendPoint]) -> bytes:
    """Drift measures and realized performance over time, each with the plan's limit drawn as a dashed line."""
    figure, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for axis, (key, label, limit) in zip(axes[0], DRIFT_PANELS, strict=True):
        _panel(axis, time_ordered(drift), key, label, limit, above_is_bad=True)
    for axis, (key, label, limit) in zip(axes[1], PERFORMANCE_PANELS, strict=False):
        _panel(axis, time_ordered(performance), key, label, limit, above_is_bad=False)
    axes[1][2].axis("off")
    figure.suptitle("Monitoring over time (UTC), against the change control plan's limits")
    return _png(figure)
