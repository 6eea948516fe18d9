"""Two use cases in one instance: ae_triage's monitoring (adjudications from its landing folder, realized performance,
the monitoring summary, the retraining sensor) sees only ae_triage's scored rows, labels and events, while a second
declared use case (dissolution_risk, its scored rows and labels written through the results store) has its own."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from gxp_assets.definitions import defs
from gxp_assets.stores import audit_trail, landing_zone, results_store
from gxp_assets.stores.landing import ADJUDICATIONS
from gxp_assets.stores.results_integrity import RESULTS_ACTION
from gxp_assets.stores.results_protocol import ResultsStore
from gxp_assets_tests.conftest import AE, ae_scope
from gxp_assets_tests.stores.test_results_local import scored

DR = "dissolution_risk"
AE_MODEL, DR_MODEL = "ae_triage-aaaaaaaaaaaa", "dissolution_risk-bbbbbbbbbbbb"


def _write(store: ResultsStore, batch: str, use_case: str, frame: pd.DataFrame) -> None:
    """A scored batch, recorded in the audit trail as scoring records it (readers verify the index against it)."""
    with store.writer(batch, f"run-{batch}", use_case=use_case,
                      on_commit=lambda facts: audit_trail().append("system", RESULTS_ACTION, batch, facts)) as writer:
        writer.add(frame, pd.DataFrame())  # fmt: skip


def _labels(report_ids: list[str], label: int, now: datetime) -> pd.DataFrame:
    return pd.DataFrame({"report_id": report_ids, "label": label, "adjudicated_at": now, "adjudicator": "qa",
                         "source_file": "labels.csv"})  # fmt: skip


def test_realized_performance_summary_and_retraining_see_only_their_use_case(
    gxp_home: Path, dagster_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, now = results_store(), datetime.now(UTC)
    # ae_triage scored r0..r5 (AUTO_CLOSE, REVIEW, PRIORITY, ...); dissolution_risk r3..r8 an hour later, all
    # AUTO_CLOSE, and its people found every one positive: a realized recall of 0 in dissolution_risk alone.
    _write(store, "ae-1", AE, scored("ae-1", 0, 6, model_version=AE_MODEL, scored_at=pd.Timestamp(now)))
    later = pd.Timestamp(now).floor("s") + pd.Timedelta(hours=1)
    _write(store, "dr-1", DR, scored("dr-1", 3, 6, model_version=DR_MODEL, triage="AUTO_CLOSE", scored_at=later))
    assert store.record_adjudications(_labels([f"r{k}" for k in range(3, 9)], 1, now), DR) == 6
    dr_alarm = store.record_monitoring("performance", None, None, ["realized_ae_recall 0.0 < 0.9"], {}, use_case=DR)

    # ae_triage's labels arrive in its own landing folder; r7 is a report only dissolution_risk scored.
    folder = landing_zone(AE).folder(ADJUDICATIONS)
    ids = ["r0", "r1", "r2", "r3", "r4", "r5", "r7"]
    frame = _labels(ids, 0, now).drop(columns="source_file").assign(adjudicated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.to_csv(folder / "ae-labels.csv", index=False)
    os.utime(folder / "ae-labels.csv", (time.time() - 60, time.time() - 60))
    scope = ae_scope()
    run = defs.resolve_job_def(scope.name("monitor_performance")).execute_in_process(instance=dagster_instance)
    assert run.success

    taken = run.output_for_node(scope.name("adjudications")).set_index("report_id")
    assert (taken.loc["r7", "status"], taken.loc["r7", "reason"]) == ("quarantined", "unknown_report")
    assert taken.loc["r7", "detail"] == "report 'r7' was never scored in this use case"
    assert sorted(taken.index[taken["status"] == "accepted"]) == ids[:-1]
    performance = run.output_for_node(scope.name("realized_performance"))
    assert performance["adjudicated"] == 6 and performance["model_versions"] == {AE_MODEL: 6}
    assert performance["adjudicated_ae"] == 0  # dissolution_risk's positives of r3..r5 are not ae_triage's
    mine = store.adjudicated(use_case=AE)
    assert set(mine["batch"]) == {"ae-1"} and set(mine["label"]) == {0}  # its own scorings, though r3..r5 rescored
    assert set(store.adjudicated(use_case=DR)["label"]) == {1} and len(store.adjudicated(use_case=DR)) == 6
    [event] = [e for e in store.monitoring_since(dr_alarm) if e.kind == "performance"]
    assert event.use_case == AE and event.id == performance["monitoring_event"]
    summary = run.output_for_node(scope.name("monitoring_summary"))
    assert len(summary["performance"]) == 1  # dissolution_risk's alarmed measurement is not in ae_triage's trend

    # dissolution_risk's alarm is no trigger for ae_triage's retraining
    sensor = defs.resolve_sensor_def(scope.name("retraining_triggers"))
    store.record_monitoring("performance", None, None, ["realized_ae_recall 0.1 < 0.9"], {}, use_case=DR)
    result = sensor(build_sensor_context(instance=dagster_instance, cursor=str(event.id)))
    assert isinstance(result, SensorResult) and not result.run_requests
    assert "no trigger crossed" in str(result.skip_reason)
