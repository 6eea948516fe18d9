"""Which batches keep their auto-close decisions, and what a suspension does to the published rows."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from gxp_assets.core.drift import MIN_JUDGED_REPORTS, DriftLimits, DriftMeasurement
from gxp_assets.core.fail_safe import FailSafe, apply_suspension, is_standing, suspension_reason

LIMITS = DriftLimits(score_psi_max=0.2, unseen_ngram_share_max=0.35, review_share_increase_max=0.2)
CALM = DriftMeasurement(
    n_reports=500, score_psi=0.01, length_psi=0.01, unseen_ngram_share=0.05, review_share=0.3, source_shares={},
    source_shift=0.0, score_counts=(), length_counts=(), word_pairs=10, unseen_word_pairs=1, limits=LIMITS,
    alarms=[], notes=[], reference_sha256="0" * 64,
)  # fmt: skip


@pytest.fixture
def watching() -> FailSafe:
    return FailSafe(reference=object(), limits=LIMITS, suspend_on_drift=True)  # type: ignore[arg-type]


def test_a_calm_batch_keeps_auto_close(watching: FailSafe) -> None:
    assert suspension_reason(watching, CALM) is None


def test_a_drift_alarm_suspends_and_stands(watching: FailSafe) -> None:
    reason = suspension_reason(watching, replace(CALM, alarms=["score_psi 1.4 > 0.2"]))
    assert reason == "auto_close_suspended: drift score_psi 1.4 > 0.2" and is_standing(reason)


def test_a_standing_suspension_holds_even_a_calm_batch(watching: FailSafe) -> None:
    standing = replace(watching, standing_suspension="auto_close_suspended: drift domain_auc 0.97 > 0.8")
    assert suspension_reason(standing, CALM) == standing.standing_suspension


def test_batches_nothing_can_watch_are_withheld_alone(watching: FailSafe) -> None:
    tiny = suspension_reason(watching, replace(CALM, n_reports=MIN_JUDGED_REPORTS - 1))
    blind = suspension_reason(replace(watching, reference=None), None)
    for reason in (tiny, blind):
        assert reason is not None and reason.startswith("auto_close_withheld") and not is_standing(reason)
    assert suspension_reason(replace(watching, suspend_on_drift=False), replace(CALM, alarms=["x"])) is None


def test_suspension_turns_auto_close_into_review_with_both_reasons() -> None:
    rows = pd.DataFrame(
        {
            "triage": ["AUTO_CLOSE", "PRIORITY", "REVIEW"],
            "triage_reason": ["AE excluded at 95 %; no AE not excluded", "p", "r"],
        }
    )
    held, count = apply_suspension(rows, "auto_close_suspended: drift x")
    assert count == 1 and list(held["triage"]) == ["REVIEW", "PRIORITY", "REVIEW"]
    assert held["triage_reason"].iloc[0] == (
        "auto_close_suspended: drift x (conformal: AE excluded at 95 %; no AE not excluded)"
    )
    assert list(rows["triage"]) == ["AUTO_CLOSE", "PRIORITY", "REVIEW"]  # the input is not changed
    assert apply_suspension(rows, None) == (rows, 0)
