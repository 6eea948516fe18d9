"""Monitoring trends are in the order measured, carry the plan's limits, and plot as a PNG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gxp_assets.core.trends import DRIFT_PANELS, TrendPoint, trend_plot, trend_rows

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def point(name: str, minutes: int, psi: float, alarms: tuple[str, ...] = ()) -> TrendPoint:
    values = {"score_psi": psi, "score_psi_max": 0.2, "unseen_ngram_share": 0.01, "unseen_ngram_share_max": 0.1,
              "review_share": 0.4, "review_share_limit": 0.5}  # fmt: skip
    return TrendPoint(T0 + timedelta(minutes=minutes), name, values, alarms)


def test_rows_follow_the_time_of_measurement_not_the_batch_name() -> None:
    rows = trend_rows([point("a-batch", 30, 0.05), point("z-batch", 0, 0.4, ("score_psi 0.4 > 0.2",))], DRIFT_PANELS)
    assert [row["measured"] for row in rows] == ["z-batch", "a-batch"]
    assert rows[0]["at"] == "2026-11-01 00:00:00 UTC" and rows[0]["score_psi_max"] == 0.2
    assert rows[0]["alarms"] == "score_psi 0.4 > 0.2" and rows[1]["alarms"] == "none"


def test_the_trend_plot_is_a_png_also_without_measurements() -> None:
    assert trend_plot([point("b", 0, 0.1), point("c", 5, 0.3)], []).startswith(b"\x89PNG\r\n\x1a\n")
    assert trend_plot([], []).startswith(b"\x89PNG\r\n\x1a\n")
