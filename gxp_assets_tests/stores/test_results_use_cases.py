"""Two use cases in one results store, on both backends (local SQLite + Parquet; aws DynamoDB + S3 on a moto server):
each reader given a use case sees only its rows, labels and events, even where report ids and batch names meet; rows,
labels and events stored before they carried a use case read as their model version's."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from gxp_assets import stores
from gxp_assets.stores.results_frames import version_use_case
from gxp_assets.stores.results_protocol import QueueFilter, ResultsStore
from gxp_assets_tests.stores.test_results_local import AE, MODEL, scored

DR = "dissolution_risk"
DR_MODEL = "dissolution_risk-0123456789ab"
NOW = datetime.now(UTC).replace(microsecond=0)
LEVELS = ("PRIORITY", "REVIEW")


def _write(store: ResultsStore, batch: str, use_case: str | None, frame: pd.DataFrame) -> dict[str, Any]:
    recorded: dict[str, Any] = {}
    with store.writer(batch, f"run-{batch}", on_commit=recorded.update, use_case=use_case) as writer:
        writer.add(frame, pd.DataFrame())
    return recorded


def _label(report_id: str, label: int, source_file: str = "labels.csv") -> pd.DataFrame:
    return pd.DataFrame([{"report_id": report_id, "label": label, "adjudicated_at": NOW, "adjudicator": "qa",
                          "source_file": source_file}])  # fmt: skip


def _two_use_cases(store: ResultsStore) -> tuple[dict, dict]:
    """ae_triage scores r0..r5, dissolution_risk r3..r8 an hour later: r3, r4, r5 are ids of both."""
    ae = _write(store, "ae-1", AE, scored("ae-1", 0, 6, triage="PRIORITY", scored_at=pd.Timestamp(NOW)))
    later = pd.Timestamp(NOW + timedelta(hours=1))
    dr = _write(store, "dr-1", DR, scored("dr-1", 3, 6, triage="REVIEW", model_version=DR_MODEL, scored_at=later))
    return ae, dr


def test_two_use_cases_rows_labels_and_events_are_kept_apart(backend_name: str) -> None:
    store = stores.results_store()
    ae, dr = _two_use_cases(store)
    assert (ae["use_case"], dr["use_case"]) == (AE, DR)  # in the facts the audit trail records
    assert store.verify({"ae-1": ae, "dr-1": dr}) == []
    assert [s.batch for s in store.batches(AE)] == ["ae-1"] and [s.batch for s in store.batches(DR)] == ["dr-1"]
    assert [s.use_case for s in store.batches()] == [AE, DR]
    mine = store.predictions(use_case=AE)
    assert mine["report_id"].tolist() == [f"r{k}" for k in range(6)] and set(mine["use_case"]) == {AE}
    assert store.predictions(report_ids=["r4"], use_case=DR)["batch"].tolist() == ["dr-1"]
    assert store.find_report("r4", use_case=AE)["batch"].tolist() == ["ae-1"]
    assert store.find_report("r4")["batch"].tolist() == ["ae-1", "dr-1"]
    # A report id scored by another use case is no resubmission of this one's.
    assert not store.predictions("dr-1")["resubmitted"].any()

    # Each use case's queue holds its own latest scorings: dissolution_risk's later r4 does not hide ae_triage's.
    queue = store.priority_queue(NOW, LEVELS, QueueFilter(use_case=AE))
    assert sorted(queue["report_id"]) == [f"r{k}" for k in range(6)] and set(queue["batch"]) == {"ae-1"}
    assert store.queue_size(LEVELS, QueueFilter(use_case=DR)) == 6

    # A label given in dissolution_risk closes its r4, not ae_triage's.
    assert store.record_adjudications(_label("r4", 1), DR) == 1
    assert store.record_adjudications(_label("r4", 1), AE) == 1  # the same row in the other use case is its own
    assert store.record_adjudications(_label("r4", 1), AE) == 0
    assert store.record_adjudications(_label("r5", 0), DR) == 1
    assert "r4" not in set(store.priority_queue(NOW, LEVELS, QueueFilter(use_case=DR))["report_id"])
    assert store.adjudicated(use_case=DR)[["report_id", "batch", "label"]].values.tolist() == [
        ["r4", "dr-1", 1], ["r5", "dr-1", 0]]  # fmt: skip
    assert store.adjudicated(use_case=AE)[["report_id", "batch"]].values.tolist() == [["r4", "ae-1"]]
    assert sorted(store.adjudicated()["batch"]) == ["ae-1", "dr-1", "dr-1"]  # per use case and report
    with pytest.raises(ValueError, match="use case"):
        store.record_adjudications(_label("r1", 1), "")

    first = store.record_monitoring("performance", None, None, ["recall 0.5 < 0.9"], {"recall": 0.5}, use_case=DR)
    second = store.record_monitoring("drift", "ae-1", MODEL, [], {"psi": 0.01}, use_case=AE)
    assert [e.id for e in store.monitoring_since(0, use_case=AE)] == [second]
    assert [(e.id, e.use_case) for e in store.monitoring_since(0)] == [(first, DR), (second, AE)]


def test_a_batch_name_of_one_use_case_is_never_replaced_by_another(backend_name: str) -> None:
    store = stores.results_store()
    facts = _write(store, "b", AE, scored("b", 0, 4))
    with pytest.raises(ValueError, match="holds results of use case 'ae_triage'"):
        _write(store, "b", DR, scored("b", 0, 2, model_version=DR_MODEL))
    assert store.verify({"b": facts}) == [] and len(store.predictions("b")) == 4
    with pytest.raises(ValueError, match="rows of use cases"):  # rows that say they belong to another use case
        _write(store, "c", AE, scored("c", 0, 2).assign(use_case=DR))


def _legacy_label(backend_name: str, report_id: str) -> None:
    """A label as stored before labels carried their use case."""
    at = NOW.isoformat(timespec="microseconds")
    if backend_name == "local":
        with sqlite3.connect(stores.results_store().root / "results.sqlite") as connection:  # type: ignore[attr-defined]
            connection.execute("INSERT INTO adjudications (report_id, label, adjudicated_at, adjudicator, source_file,"
                               " recorded_at) VALUES (?, 1, ?, 'old', 'old.csv', ?)", (report_id, at, at))  # fmt: skip
        return
    stores.results_store().table.put_item(Item={  # type: ignore[attr-defined]
        "pk": f"ADJ#{report_id}", "sk": f"{at}#1#old.csv", "report_id_adj": report_id, "label": 1,
        "adjudicated_at": at, "adjudicator": "old", "source_file": "old.csv", "recorded_at": at})  # fmt: skip


def test_rows_labels_and_events_stored_before_use_cases_read_as_their_model_versions(backend_name: str) -> None:
    store = stores.results_store()
    _write(store, "old", None, scored("old", 0, 3, triage="PRIORITY", scored_at=pd.Timestamp(NOW)))
    _write(store, "dr-old", None, scored("dr-old", 10, 2, model_version=DR_MODEL, scored_at=pd.Timestamp(NOW)))
    assert store.predictions("old")["use_case"].isna().all()  # nothing was filled in or rewritten
    assert store.predictions(use_case=AE)["report_id"].tolist() == ["r0", "r1", "r2"]
    assert [s.batch for s in store.batches(AE)] == ["old"] and [s.batch for s in store.batches(DR)] == ["dr-old"]
    _legacy_label(backend_name, "r1")  # counts for the use case whose scoring of r1 it joins
    assert store.adjudicated(use_case=AE)["report_id"].tolist() == ["r1"] and store.adjudicated(use_case=DR).empty
    assert "r1" not in set(store.priority_queue(NOW, LEVELS, QueueFilter(use_case=AE))["report_id"])
    drift = store.record_monitoring("drift", "old", MODEL, [], {"psi": 0.01})
    performance = store.record_monitoring("performance", None, None, [], {"model_versions": {DR_MODEL: 2}})
    unknown = store.record_monitoring("performance", None, None, [], {"model_versions": {MODEL: 1, DR_MODEL: 1}})
    assert [e.id for e in store.monitoring_since(0, use_case=AE)] == [drift]
    assert [e.id for e in store.monitoring_since(0, use_case=DR)] == [performance]
    assert [e.use_case for e in store.monitoring_since(0)] == [AE, DR, None] and unknown


def test_a_version_id_names_its_use_case() -> None:
    assert version_use_case("ae_triage-0123456789ab") == AE
    assert version_use_case("ae-triage-0123456789ab") == AE  # ids registered before use case ids existed
    assert version_use_case(DR_MODEL) == DR
    assert version_use_case("model-1") is None and version_use_case(None) is None


def test_an_older_local_index_gets_the_use_case_columns_and_keeps_its_rows(tmp_path: Any) -> None:
    from gxp_assets.stores.results_local import LocalResultsStore, _lacking

    store = LocalResultsStore(tmp_path)
    _write(store, "old", None, scored("old", 0, 3))
    database = tmp_path / "results" / "results.sqlite"
    with sqlite3.connect(database) as connection:  # as an index from before: no use case anywhere
        for index in ("predictions_queue", "predictions_by_report_time"):
            connection.execute(f"DROP INDEX {index}")
        connection.execute("ALTER TABLE predictions DROP COLUMN row_use_case")
        connection.execute("ALTER TABLE predictions DROP COLUMN use_case")
        for table in ("batches", "monitoring"):
            connection.execute(f"ALTER TABLE {table} DROP COLUMN use_case")
    reopened = LocalResultsStore(tmp_path)
    assert reopened.predictions(use_case=AE)["report_id"].tolist() == ["r0", "r1", "r2"]
    assert [s.use_case for s in reopened.batches()] == [AE]
    with sqlite3.connect(database) as connection:
        [(sql,)] = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'predictions_queue'").fetchall()
        assert _lacking(connection) == ([], [])  # so opening the store again takes no write lock
    assert "row_use_case" in sql
