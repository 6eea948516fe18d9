"""Realized performance on adjudicated reports, and the checks adjudication rows go through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from gxp_assets.core.adjudications import validate_adjudications
from gxp_assets.core.loaders import load_contract_files
from gxp_assets.core.realized import RealizedLimits, realized_performance

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
LIMITS = RealizedLimits(ae_recall_min=0.9, priority_precision_min=0.5, window_days=30, min_count=5)


def _adjudicated(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    """(triage, label, days ago) per report."""
    return pd.DataFrame(
        {
            "report_id": [f"r{i}" for i in range(len(rows))],
            "triage": [triage for triage, _, _ in rows],
            "label": [label for _, label, _ in rows],
            "adjudicated_at": [NOW - timedelta(days=days) for _, _, days in rows],
            "model_version": "m1",
        }
    )


def test_recall_counts_auto_closed_aes_as_misses_and_precision_counts_priority() -> None:
    rows = [("PRIORITY", 1, 1)] * 6 + [("REVIEW", 1, 1)] * 2 + [("AUTO_CLOSE", 1, 1)] * 2 + [("PRIORITY", 0, 1)] * 4
    performance = realized_performance(_adjudicated(rows), NOW, LIMITS)
    assert performance.adjudicated_ae == 10 and performance.ae_not_auto_closed == 8
    assert performance.ae_recall == 0.8
    assert performance.priority_precision == 0.6
    assert performance.alarms == ["realized_ae_recall 0.8000 < 0.9 (10 adjudicated AEs)"]


def test_old_adjudications_leave_the_window_and_small_counts_are_not_judged() -> None:
    rows = [("AUTO_CLOSE", 1, 40)] * 10 + [("PRIORITY", 1, 2)] * 3
    performance = realized_performance(_adjudicated(rows), NOW, LIMITS)
    assert performance.adjudicated == 3
    assert performance.ae_recall == 1.0
    assert performance.alarms == []
    assert any("not judged: 3 adjudicated AEs" in note for note in performance.notes)


def test_adjudication_rows_are_checked_and_bad_ones_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "report_id,label,adjudicated_at,adjudicator\n"
        "r1,1,2026-11-25T10:00:00Z,dr.who\n"
        "r2,yes,2026-11-25T10:00:00Z,dr.who\n"
        "r3,0,2026-11-25 10:00,dr.who\n"
        "r4,0,2026-11-25T10:00:00Z,\n"
        "unknown,1,2026-11-25T10:00:00Z,dr.who\n"
        "r1,0,2026-11-25T11:00:00+01:00,dr.no\n"
    )
    intake = load_contract_files(path)
    valid, quarantined = validate_adjudications(intake, lambda ids: set(ids) & {"r1", "r2", "r3", "r4"}, NOW)
    assert valid["report_id"].tolist() == ["r1", "r1"]
    assert valid["label"].tolist() == [1, 0]
    assert str(valid["adjudicated_at"].iloc[1]) == "2026-11-25 10:00:00+00:00"
    assert dict(zip(quarantined["report_id"], quarantined["reason"], strict=True)) == {
        "r2": "invalid_label",
        "r3": "timestamp_without_zone",
        "r4": "missing_field",
        "unknown": "unknown_report",
    }
    assert len(valid) + len(quarantined) == len(intake)
    assert quarantined["raw"].iloc[0].startswith(b"r2,yes")
