"""The standing suspension of a model is read from the audit trail alone."""

from __future__ import annotations

from pathlib import Path

from gxp_assets.governance.suspension import LIFTED, SUSPENDED, lift_decision_hash, standing_suspension
from gxp_assets.stores.audit_local import LocalAuditTrail


def test_a_suspension_stands_from_its_first_entry_until_a_lift_and_only_for_its_model(tmp_path: Path) -> None:
    trail = LocalAuditTrail(tmp_path)
    assert standing_suspension(trail.entries(), "v1") is None
    first = trail.append("system", SUSPENDED, "v1", {"reason": "auto_close_suspended: drift a", "batch": "b1"})
    trail.append("system", SUSPENDED, "v1", {"reason": "auto_close_suspended: drift b", "batch": "b2"})
    standing = standing_suspension(trail.entries(), "v1")
    assert standing is not None and standing.seq == first.seq and standing.batch == "b1"
    assert standing_suspension(trail.entries(), "v2") is None  # a new model starts without one
    trail.append("petra", LIFTED, "v1", {"suspension_entry": first.seq})
    assert standing_suspension(trail.entries(), "v1") is None
    again = trail.append("system", SUSPENDED, "v1", {"reason": "auto_close_suspended: drift c", "batch": "b3"})
    later = standing_suspension(trail.entries(), "v1")
    assert later is not None and later.seq == again.seq
    # A lift signs this suspension and no other: the decision hash names the entry and its reason.
    assert lift_decision_hash(later) != lift_decision_hash(standing)
