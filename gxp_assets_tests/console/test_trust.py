"""The console's verified results: verified again when a batch changes or the verdict is old, never answered from
an index that fails verification (real SQLite results store and audit trail under a temporary GXP_HOME)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.console.trust import VerifiedResults
from gxp_assets.stores import audit_trail, results_store, verified_results
from gxp_assets.stores.results_integrity import RESULTS_ACTION, ResultsIntegrityError
from gxp_assets_tests.stores.test_results_local import scored


def _publish(batch: str, start: int) -> None:
    trail = audit_trail()
    with results_store().writer(batch, f"run-{batch}",
                                on_commit=lambda facts: trail.append("system", RESULTS_ACTION, batch, facts)) as writer:
        writer.add(scored(batch, start, 6), pd.DataFrame())  # fmt: skip


def test_the_verdict_is_kept_until_a_batch_changes_or_it_is_old_and_a_bad_index_is_refused(gxp_home: Path) -> None:
    _publish("monday", 0)
    gate = VerifiedResults(results_store, verified_results, max_age_s=3600)
    gate()
    gate()
    assert gate.verifications == 1  # nothing changed: the verdict stands
    _publish("tuesday", 10)
    assert len(gate().predictions()) == 12 and gate.verifications == 2  # a new batch is verified before it is read
    with closing(sqlite3.connect(gxp_home / "results" / "results.sqlite")) as connection, connection:
        connection.execute("UPDATE predictions SET triage = 'AUTO_CLOSE' WHERE triage = 'PRIORITY'")
    gate()  # an edit around the store is found once the verdict is old, not before
    gate.max_age_s = 0
    for _ in range(2):  # and from then on on every request, audited as an alarm
        with pytest.raises(ResultsIntegrityError, match="rows_sha256"):
            gate()
    assert [e.action for e in audit_trail().entries()].count("alarm") == 2
