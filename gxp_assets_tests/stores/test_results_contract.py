"""The ResultsStore contract on both backends (local SQLite + Parquet files; aws DynamoDB + Parquet in S3 on a moto
server): what `gxp queue`, `gxp trace`, the scoring asset and the monitoring sensors rely on."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gxp_assets import stores
from gxp_assets.core.hashing import sha256_file
from gxp_assets.stores.results_frames import STORED_COLUMNS
from gxp_assets.stores.results_protocol import ResultsStore
from gxp_assets_tests.stores.test_results_local import AE, T0, held, scored


def _write(store: ResultsStore, batch: str, run: str, *chunks: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    recorded: dict[str, Any] = {}
    with store.writer(batch, run, on_commit=recorded.update) as writer:
        for predictions, quarantined in chunks:
            writer.add(predictions, quarantined)
    return recorded


def _downgrade_first_priority(backend_name: str, batch: str) -> None:
    """Someone edits the stored index around the store: one PRIORITY row becomes AUTO_CLOSE."""
    if backend_name == "local":
        with sqlite3.connect(stores.results_store().root / "results.sqlite") as connection:  # type: ignore[attr-defined]
            connection.execute("UPDATE predictions SET triage = 'AUTO_CLOSE' WHERE rowid = "
                               "(SELECT MIN(rowid) FROM predictions WHERE triage = 'PRIORITY')")  # fmt: skip
        return
    table = stores.results_store().table  # type: ignore[attr-defined]
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"ROWS#{batch}"})
    item = next(item for item in items["Items"] if item["triage"] == "PRIORITY")
    row = json.loads(item["row"])
    row[STORED_COLUMNS.index("triage")] = "AUTO_CLOSE"
    table.put_item(Item={**item, "row": json.dumps(row), "triage": "AUTO_CLOSE"})


def test_chunks_land_with_counts_hashes_and_the_same_rows_by_batch_and_by_report(backend_name: str) -> None:
    store = stores.results_store()
    chunks = [(scored("2026-03-01", 0, 40), held(40, 2)), (scored("2026-03-01", 42, 40, product=None), held(82, 1))]
    facts = _write(store, "2026-03-01", "run-a", *chunks)
    summary = store.batch_summary("2026-03-01")
    assert summary is not None and summary.run_id == "run-a" and (summary.scored, summary.quarantined) == (80, 3)
    assert summary.triage_counts == pd.concat([c[0] for c in chunks])["triage"].value_counts().to_dict()
    assert summary.predictions_sha256 == sha256_file(summary.predictions_path) == facts["predictions_sha256"]
    assert summary.quarantine_sha256 == sha256_file(summary.quarantine_path) == facts["quarantine_sha256"]
    whole = store.predictions("2026-03-01")
    picked = store.predictions(report_ids=whole["report_id"].tolist())
    pd.testing.assert_frame_equal(picked, whole)
    assert list(whole.columns) == list(STORED_COLUMNS) and str(whole["scored_at"].dtype) == "datetime64[us, UTC]"
    assert whole["product"].tolist() == ["ibuprofen"] * 40 + [None] * 40
    assert store.quarantined("2026-03-01")["raw"].tolist() == [*held(40, 2)["raw"], *held(82, 1)["raw"]]
    assert store.verify({"2026-03-01": facts}) == []


def test_scoring_again_replaces_and_a_failed_attempt_changes_nothing(backend_name: str) -> None:
    store = stores.results_store()
    _write(store, "b", "run-1", (scored("b", 0, 30, run_id="run-1"), held(30, 2)))
    _write(store, "b", "run-2", (scored("b", 0, 20, run_id="run-2"), pd.DataFrame()))
    before = store.batch_summary("b")
    assert before is not None and (before.run_id, before.scored, before.quarantined) == ("run-2", 20, 0)
    assert store.predictions("b")["run_id"].unique().tolist() == ["run-2"]
    assert store.find_report("r25").empty and len(store.find_report("r5")) == 1  # rows of run-1 are gone
    with pytest.raises(RuntimeError, match="half way"), store.writer("b", "run-3") as writer:
        writer.add(scored("b", 0, 50, run_id="run-3"), pd.DataFrame())
        raise RuntimeError("scoring failed half way")
    assert store.batch_summary("b") == before and store.find_report("r40").empty
    with pytest.raises(ValueError, match="triage"), store.writer("new", "run-1") as writer:
        writer.add(scored("new", 0, 5, triage="URGENT"), pd.DataFrame())
    assert store.batch_summary("new") is None and [s.batch for s in store.batches()] == ["b"]


def test_batches_coexist_reports_are_traced_and_resubmissions_marked(backend_name: str) -> None:
    store = stores.results_store()
    _write(store, "monday", "run-1", (scored("monday", 0, 6), held(6, 1)))
    _write(store, "tuesday", "run-2", (scored("tuesday", 4, 4, scored_at=pd.Timestamp(T0 + timedelta(days=1))),
                                       pd.DataFrame()))  # fmt: skip
    assert [summary.batch for summary in store.batches()] == ["monday", "tuesday"]
    assert len(store.predictions()) == 10 and store.quarantined("tuesday").empty
    assert store.find_report("r5")["batch"].tolist() == ["monday", "tuesday"]  # oldest scoring first
    assert store.find_report("r5")["resubmitted"].tolist() == [False, True]
    picked = store.predictions(report_ids=["r1", "r7", "nobody"])
    assert sorted(zip(picked["batch"], picked["report_id"], strict=True)) == [("monday", "r1"), ("tuesday", "r7")]


def test_the_priority_queue_is_due_first_and_leaves_out_adjudicated_or_rescored(backend_name: str) -> None:
    store = stores.results_store()
    now = T0 + timedelta(days=1)
    cases = {"late": ("PRIORITY", now - timedelta(hours=2), 0.6), "sure": ("PRIORITY", now + timedelta(hours=10), 0.9),
             "unsure": ("PRIORITY", now + timedelta(hours=10), 0.7), "undated": ("PRIORITY", None, 0.99),
             "review": ("REVIEW", now + timedelta(hours=1), 0.5), "seen": ("PRIORITY", now + timedelta(hours=1), 0.95),
             "rescored": ("PRIORITY", now + timedelta(hours=1), 0.95)}  # fmt: skip
    frame = scored("day-1", 0, len(cases), report_id=list(cases), triage=[c[0] for c in cases.values()],
                   p_ae=[c[2] for c in cases.values()])  # fmt: skip
    frame["due_at"] = pd.Series([c[1] for c in cases.values()], dtype=object).astype("datetime64[us, UTC]")
    _write(store, "day-1", "run-1", (frame, pd.DataFrame()))
    later = scored("day-2", 0, 1, report_id="rescored", triage="REVIEW", scored_at=pd.Timestamp(now))
    _write(store, "day-2", "run-2", (later, pd.DataFrame()))
    label = {"report_id": "seen", "label": 1, "adjudicated_at": now, "adjudicator": "qa", "source_file": "a"}
    assert store.record_adjudications(pd.DataFrame([label]), AE) == 1
    assert store.record_adjudications(pd.DataFrame([label]), AE) == 0  # the same row again counts once
    queue = store.priority_queue(now)
    assert queue["report_id"].tolist() == ["late", "sure", "unsure", "undated"]
    assert queue["hours_left"].iloc[:3].tolist() == pytest.approx([-2.0, 10.0, 10.0])
    assert np.isnan(queue["hours_left"].iloc[3])
    adjudicated = store.adjudicated().set_index("report_id")
    assert adjudicated.loc["seen", ["label", "adjudicator", "batch"]].tolist() == [1, "qa", "day-1"]
    assert store.adjudicated(since=now + timedelta(seconds=1)).empty


def test_monitoring_events_grow_and_are_read_with_a_cursor(backend_name: str) -> None:
    store = stores.results_store()
    first = store.record_monitoring("drift", "b1", "model-1", [], {"psi": 0.02})
    second = store.record_monitoring("drift", "b2", "model-1", ["psi 0.31 > 0.2"], {"psi": 0.31, "bins": [1, 2]})
    assert first < second
    rest = store.monitoring_since(first)
    assert [event.id for event in rest] == [second] and rest[0].alarms == ("psi 0.31 > 0.2",)
    assert rest[0].evidence == {"bins": [1, 2], "psi": 0.31} and rest[0].created_at.tzinfo is not None
    assert store.monitoring_since(second) == []


def test_an_index_edited_around_the_store_fails_verification_and_is_rebuilt(backend_name: str) -> None:
    store = stores.results_store()
    facts = _write(store, "b", "run-1", (scored("b", 0, 9), pd.DataFrame()))
    _downgrade_first_priority(backend_name, "b")
    problems = store.verify({"b": facts})
    assert any("rows_sha256" in problem for problem in problems)
    assert store.verify({}) and store.verify({"b": facts, "gone": facts})  # unrecorded / missing batches
    assert store.rebuild({"b": facts}) == ["b"]
    assert store.verify({"b": facts}) == []
    rows = store.predictions(report_ids=[f"r{k}" for k in range(9)])
    assert rows["triage"].tolist().count("PRIORITY") == 3  # the edited row is back as it was scored


def test_the_work_queue_merges_levels_by_due_date_filters_and_pages(backend_name: str) -> None:
    from gxp_assets.stores.results_protocol import QueueFilter

    store = stores.results_store()
    now = T0 + timedelta(days=1)
    n = 24
    frame = scored("mon", 0, n, triage=["PRIORITY", "REVIEW", "AUTO_CLOSE"] * (n // 3),
                   source=["social_media", "literature"] * (n // 2),
                   p_ae=[(k * 37 % 100) / 100 for k in range(n)])  # fmt: skip
    frame["due_at"] = pd.Series([now + timedelta(hours=k % 7) if k != 4 else None for k in range(n)],
                                dtype=object).astype("datetime64[us, UTC]")  # fmt: skip
    _write(store, "mon", "run-1", (frame, pd.DataFrame()))
    other = scored("tue", 100, 6, triage="REVIEW", source="call_centre", scored_at=pd.Timestamp(now))
    _write(store, "tue", "run-2", (other, pd.DataFrame()))
    store.record_adjudications(pd.DataFrame([{"report_id": "r1", "label": 0, "adjudicated_at": now,
                                              "adjudicator": "qa", "source_file": "a"}]), AE)  # fmt: skip
    levels = ("PRIORITY", "REVIEW")
    whole = store.priority_queue(now, levels)
    expected = pd.concat([frame, other])
    expected = expected[expected["triage"].isin(levels) & (expected["report_id"] != "r1")]
    assert sorted(whole["report_id"]) == sorted(expected["report_id"])  # both levels, both batches, not r1
    due = whole["due_at"]
    assert due.iloc[:-1].is_monotonic_increasing and pd.isna(due.iloc[-1]) and whole["report_id"].iloc[-1] == "r4"
    for _, tied in whole.iloc[:-1].groupby("due_at"):
        assert tied["p_ae"].is_monotonic_decreasing  # ties: surest first
    assert store.queue_size(levels) == len(whole)
    assert store.queue_size(levels, at_most=5) == 5 and store.queue_size(levels, at_most=100) == len(whole)
    page = store.priority_queue(now, levels, limit=5, offset=3)
    assert page["report_id"].tolist() == whole["report_id"].iloc[3:8].tolist()
    assert store.priority_queue(now, levels, limit=5, offset=len(whole)).empty
    cut = now + timedelta(hours=3)
    cases = {QueueFilter(source="literature"): whole["source"] == "literature",
             QueueFilter(batch="tue"): whole["batch"] == "tue",
             QueueFilter(due_before=cut): whole["due_at"] < cut,
             QueueFilter(source="social_media", batch="mon", due_before=cut):
                 (whole["source"] == "social_media") & (whole["batch"] == "mon") & (whole["due_at"] < cut)}  # fmt: skip
    for where, chosen in cases.items():
        found = store.priority_queue(now, levels, where)
        assert found["report_id"].tolist() == whole.loc[chosen.fillna(False), "report_id"].tolist(), where
        assert store.queue_size(levels, where) == len(found) > 0
        assert store.priority_queue(now, levels, where, limit=2, offset=1)["report_id"].tolist() == \
            found["report_id"].iloc[1:3].tolist()  # fmt: skip
    assert store.priority_queue(now, ("PRIORITY",))["triage"].eq("PRIORITY").all()
    with pytest.raises(ValueError, match="queue levels"):
        store.priority_queue(now, ("URGENT",))
