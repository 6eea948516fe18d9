"""The monitoring page's content: drift and realized performance over time beside the plan's limits, and the
auto-close suspensions with who lifted them; read from the results store's monitoring events and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from gxp_assets.governance.service import Governance
from gxp_assets.governance.suspension import LIFTED, SUSPENDED
from gxp_assets.stores.results_protocol import ResultsStore

#: Measures shown per event kind, in the order people read them, with the plan limit that judges each.
DRIFT_MEASURES = (("score_psi", "score_psi_max"), ("unseen_ngram_share", "unseen_ngram_share_max"),
                  ("review_share", "review_share_increase_max"), ("domain_auc", "domain_auc_max"))  # fmt: skip
PERFORMANCE_MEASURES = (("ae_recall", "realized_ae_recall_min"),
                        ("priority_precision", "realized_priority_precision_min"))  # fmt: skip


@dataclass(frozen=True)
class Row:
    at: object
    kind: str
    batch: str | None
    model_version: str | None
    values: list[object]
    alarms: tuple[str, ...]


def _value(evidence: dict, name: str) -> object:
    found = evidence.get(name)
    if found is None and isinstance(evidence.get("measures"), dict):
        found = evidence["measures"].get(name)
    return found


def monitoring_view(results: ResultsStore, governance: Governance) -> dict:
    """Events (newest first) with their measures, the plan's limits, and every suspension and lift with its actor."""
    triggers = governance.plan.plan.retraining_triggers
    limits = {**triggers.drift.model_dump(), **triggers.model_dump(exclude={"drift"})}
    drift, performance = [], []
    for event in reversed(results.monitoring_since(0)):
        measures = DRIFT_MEASURES if event.kind == "drift" else PERFORMANCE_MEASURES
        row = Row(event.created_at, event.kind, event.batch, event.model_version,
                  [_value(event.evidence, name) for name, _ in measures], event.alarms)  # fmt: skip
        (drift if event.kind == "drift" else performance).append(row)
    suspensions = [e for e in governance.audit.entries() if e.action in (SUSPENDED, LIFTED)]
    return {
        "drift": drift, "performance": performance, "suspensions": suspensions,
        "drift_heads": [(name, limits.get(limit)) for name, limit in DRIFT_MEASURES],
        "performance_heads": [(name, limits.get(limit)) for name, limit in PERFORMANCE_MEASURES],
        "lifted": LIFTED,
    }  # fmt: skip
