"""The approver inbox's comparison with the ACTIVE version: metrics, criteria and the per-source table side by side,
with no ACTIVE version and with sources present on one side only."""

from __future__ import annotations

from gxp_assets.console.approving import SOURCE_FIGURES, compare
from gxp_assets.governance.registry import ModelVersion, State


def _version(name: str, state: State, metrics: dict, sources: list[dict], acceptance: list[dict]) -> ModelVersion:
    record = {"metrics": {**metrics, "subgroups": sources}, "acceptance": acceptance}
    return ModelVersion(name, "ae_triage", record, f"hash-{name}", state, "2026-03-01T00:00:00+00:00")


def _source(name: str, recall: float) -> dict:
    return {"source": name, "n": 100, "ae": 20, "auroc": 0.9, "ae_recall": recall, "auto_close_share": 0.4,
            "review_share": 0.3, "priority_precision": 0.8}  # fmt: skip


CANDIDATE = _version("v2", State.PENDING_APPROVAL, {"auroc": 0.91, "ae_recall": 0.96, "ece": 0.02},
                     [_source("social_media", 0.95), _source("call_centre", 0.97)],
                     [{"name": "auroc_min", "measured": 0.91, "limit": 0.8, "passed": True, "detail": "0.91 >= 0.8"},
                      {"name": "subgroup_positive_recall_min", "measured": 0.95, "limit": 0.9, "passed": True,
                       "detail": "worst source"}])  # fmt: skip
ACTIVE = _version("v1", State.ACTIVE, {"auroc": 0.88, "ae_recall": 0.94, "brier": 0.1},
                  [_source("social_media", 0.93), _source("literature", 0.92)],
                  [{"name": "auroc_min", "measured": 0.88, "limit": 0.8, "passed": True, "detail": ""}])  # fmt: skip


def test_a_candidate_beside_the_active_version_shows_both_sides_and_what_one_side_lacks() -> None:
    found = compare(CANDIDATE, ACTIVE)
    assert found.active == "v1"
    assert found.metrics == [("auroc", 0.91, 0.88), ("ae_recall", 0.96, 0.94), ("ece", 0.02, None),
                             ("brier", None, 0.1)]  # fmt: skip
    assert [(c[0], c[1], c[4]) for c in found.criteria] == [("auroc_min", 0.91, 0.88),
                                                            ("subgroup_positive_recall_min", 0.95, None)]  # fmt: skip
    rows = {row.source: row for row in found.sources}
    assert list(rows) == ["call_centre", "literature", "social_media"]
    recall = SOURCE_FIGURES.index("ae_recall")
    assert rows["call_centre"].theirs is None and rows["call_centre"].mine[recall] == 0.97  # new channel
    assert rows["literature"].mine is None and rows["literature"].theirs[recall] == 0.92  # only the ACTIVE saw it
    assert (rows["social_media"].mine[recall], rows["social_media"].theirs[recall]) == (0.95, 0.93)


def test_without_an_active_version_or_for_the_active_one_itself_nothing_is_compared() -> None:
    for found in (compare(CANDIDATE, None), compare(ACTIVE, ACTIVE)):
        assert found.active is None
        assert all(theirs is None for _, _, theirs in found.metrics)
        assert all(row.theirs is None for row in found.sources) and all(row.mine for row in found.sources)
    assert [c[4] for c in compare(CANDIDATE, None).criteria] == [None, None]
