"""The embedded results store against real SQLite and Parquet files under tmp_path."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, SCORED_COLUMNS
from gxp_assets.stores import results_local_writer
from gxp_assets.stores.protocols import IntegrityError
from gxp_assets.stores.results_frames import STORED_COLUMNS
from gxp_assets.stores.results_integrity import rows_sha256
from gxp_assets.stores.results_local import LocalResultsStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRIAGE = np.array(["AUTO_CLOSE", "REVIEW", "PRIORITY"])
AE = "ae_triage"
MODEL = "ae_triage-0123456789ab"  # a registered version id names its use case


def scored(batch: str, start: int, n: int, **columns: object) -> pd.DataFrame:
    """n synthetic scored rows with intake positions start.. ; keyword arguments override whole columns."""
    seq = np.arange(start, start + n)
    received = pd.Series(pd.Timestamp(T0) - pd.to_timedelta(seq % 97, unit="min")).astype("datetime64[us, UTC]")
    frame = pd.DataFrame(
        {
            "batch": batch,
            "report_id": [f"r{k}" for k in seq],
            "input_sha256": [hashlib.sha256(b"%d" % k).hexdigest() for k in seq],
            "p_ae": (seq % 100) / 100.0,
            "prediction_set": "{1}",
            "triage": TRIAGE[seq % 3],
            "triage_reason": "AE not excluded at 95 %; no AE excluded at 95 %",
            "explanation": json.dumps([{"feature": "headache", "contribution": 0.4}]),
            "model_version": MODEL,
            "plan_version": "pv-triage 1.0",
            "run_id": f"run-of-{batch}",
            "scored_at": pd.Timestamp(T0),
            "raw_score": (seq % 100) / 120.0,
            "document_id": [f"doc-{k // 2}" for k in seq],
            "source": "social_media",
            "text": [f"report {k}: " + "headache after the tablet, then nausea; " * 3 for k in seq],
            "product": "ibuprofen",
            "received_at": received,
            "due_at": received + pd.Timedelta(days=15),
            "source_file": "landing/batch.csv",
            "source_line": seq + 2,
            "intake_seq": seq,
        }
    )
    for name, value in columns.items():
        frame[name] = value
    return frame


def held(start: int, n: int, **extra: object) -> pd.DataFrame:
    """n quarantined intake rows whose raw bytes are not valid UTF-8, as a loader hands them over."""
    frame = pd.DataFrame({name: pd.Series([None] * n, dtype=object) for name in REPORT_FIELDS})
    frame["report_id"] = [f"q{k}" for k in range(start, start + n)]
    frame["intake_seq"] = np.arange(start, start + n, dtype="int64")
    frame["source_file"] = "landing/batch.csv"
    frame["source_line"] = np.arange(start, start + n, dtype="int64") + 2
    frame["raw"] = pd.Series([b"q%d,\xff\xfe,\x00caf\xe9\r\n" % k for k in range(start, start + n)], dtype=object)
    frame["encoding"] = "utf-8"
    frame["parse_error"] = None
    frame["encoding_error"] = "text holds bytes 0xff that are not valid in the file's encoding"
    frame["reason"] = "invalid_encoding"
    frame["detail"] = "text holds bytes that are not valid UTF-8"
    for name, value in extra.items():
        frame[name] = value
    return frame


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_in_sqlite(home: Path, batch: str) -> int:
    with sqlite3.connect(home / "results" / "results.sqlite") as connection:
        return connection.execute("SELECT COUNT(*) FROM predictions WHERE batch = ?", (batch,)).fetchone()[0]


@pytest.mark.parametrize("stage_rows", [None, 7])  # 7: each chunk is staged in SQLite in several blocks
def test_a_batch_in_three_chunks_lands_in_sqlite_and_parquet_with_counts_and_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage_rows: int | None
) -> None:
    if stage_rows is not None:
        monkeypatch.setattr(results_local_writer, "STAGE_ROWS", stage_rows)
    store = LocalResultsStore(tmp_path)
    chunks = [
        (scored("2026-03-01", 0, 40), held(40, 2)),
        (scored("2026-03-01", 42, 40, product=None), held(82, 1)),  # an all-None product column
        (scored("2026-03-01", 83, 20).drop(columns="batch"), pd.DataFrame()),  # batch filled in
    ]
    with store.writer("2026-03-01", "run-a") as writer:
        for predictions, quarantined in chunks:
            writer.add(predictions, quarantined)
    summary = store.batch_summary("2026-03-01")
    assert summary is not None and summary.run_id == "run-a"
    assert (summary.scored, summary.quarantined) == (100, 3)
    triage = pd.concat([predictions for predictions, _ in chunks])["triage"].value_counts()
    assert summary.triage_counts == {"AUTO_CLOSE": 35, "REVIEW": 32, "PRIORITY": 33} == triage.to_dict()
    assert summary.written_at.utcoffset() == timedelta(0)
    assert summary.predictions_sha256 == file_sha256(summary.predictions_path)
    assert summary.quarantine_sha256 == file_sha256(summary.quarantine_path)

    from_parquet = store.predictions("2026-03-01")  # a whole batch is read from its file
    from_sqlite = store.predictions(report_ids=from_parquet["report_id"].tolist())
    pd.testing.assert_frame_equal(from_sqlite, from_parquet)
    assert rows_in_sqlite(tmp_path, "2026-03-01") == pq.ParquetFile(summary.predictions_path).metadata.num_rows == 100
    assert list(from_sqlite.columns) == list(STORED_COLUMNS)
    assert from_sqlite["intake_seq"].tolist() == [*range(40), *range(42, 82), *range(83, 103)]
    assert from_sqlite["intake_seq"].tolist() == from_parquet["intake_seq"].tolist()
    assert from_sqlite["text"].tolist() == from_parquet["text"].tolist()
    expected = {"p_ae": "float64", "raw_score": "float64", "source_line": "int64", "intake_seq": "int64"}
    expected |= {name: "datetime64[us, UTC]" for name in ("scored_at", "received_at", "due_at")}
    assert {name: str(from_sqlite[name].dtype) for name in expected} == expected
    assert from_sqlite["product"].tolist() == ["ibuprofen"] * 40 + [None] * 40 + ["ibuprofen"] * 20
    original = scored("2026-03-01", 0, 40)
    pd.testing.assert_series_equal(from_sqlite["received_at"].head(40), original["received_at"])
    with sqlite3.connect(tmp_path / "results" / "results.sqlite") as connection:
        stored_at = connection.execute("SELECT scored_at FROM predictions LIMIT 1").fetchone()[0]
    assert stored_at == "2026-03-01T12:00:00.000000+00:00"  # ISO 8601 UTC text


def test_scoring_a_batch_again_replaces_its_results(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    for run in ("run-1", "run-2"):
        with store.writer("b", run) as writer:
            writer.add(scored("b", 0, 30, run_id=run), held(30, 2))
            writer.add(scored("b", 32, 30, run_id=run), pd.DataFrame())
    summary = store.batch_summary("b")
    assert summary is not None and summary.run_id == "run-2"
    assert rows_in_sqlite(tmp_path, "b") == summary.scored == 60
    assert store.predictions("b")["run_id"].unique().tolist() == ["run-2"]
    assert len(store.quarantined("b")) == summary.quarantined == 2
    assert len(store.batches()) == 1
    assert len(store.find_report("r0")) == 1


def test_an_exception_in_the_writer_leaves_the_previous_results_untouched(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("b", "run-1") as writer:
        writer.add(scored("b", 0, 50), held(50, 3))
    before = store.batch_summary("b")
    assert before is not None
    folder = before.predictions_path.parent
    files_before = {path.name: path.read_bytes() for path in folder.iterdir()}
    rows_before = store.predictions("b")

    with pytest.raises(RuntimeError, match="scoring failed"), store.writer("b", "run-2") as writer:
        writer.add(scored("b", 0, 80, run_id="run-2"), held(80, 5))
        raise RuntimeError("scoring failed half way")

    assert {path.name: path.read_bytes() for path in folder.iterdir()} == files_before  # and no temp files
    assert sorted(files_before) == ["predictions.parquet", "quarantine.parquet"]
    assert store.batch_summary("b") == before
    pd.testing.assert_frame_equal(store.predictions("b"), rows_before)
    assert rows_in_sqlite(tmp_path, "b") == 50 and store.find_report("r60").empty


def test_a_first_attempt_that_fails_leaves_no_batch(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with pytest.raises(ValueError, match="triage"), store.writer("new", "run-1") as writer:
        writer.add(scored("new", 0, 10), pd.DataFrame())
        writer.add(scored("new", 10, 10, triage="URGENT"), pd.DataFrame())  # refused: not a triage level
    assert store.batch_summary("new") is None and rows_in_sqlite(tmp_path, "new") == 0
    assert list((tmp_path / "results" / "batches" / "new").iterdir()) == []


def test_a_refused_chunk_leaves_nothing_of_itself(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("b", "run-1") as writer:
        writer.add(scored("b", 0, 10), held(10, 1))
        with pytest.raises(TypeError, match="bytes"):  # raw given as text: the original bytes would be lost
            writer.add(scored("b", 11, 10), held(21, 1, raw="q21,not bytes"))
        with pytest.raises(ValueError, match="report_id"):
            writer.add(scored("b", 11, 10, report_id=None), pd.DataFrame())
        with pytest.raises(ValueError, match="batches \\['other'\\]"):
            writer.add(scored("other", 11, 10), pd.DataFrame())
        writer.add(scored("b", 22, 5), pd.DataFrame())
    summary = store.batch_summary("b")
    assert summary is not None and (summary.scored, summary.quarantined) == (15, 1)
    assert rows_in_sqlite(tmp_path, "b") == pq.ParquetFile(summary.predictions_path).metadata.num_rows == 15
    assert store.quarantined("b")["intake_seq"].tolist() == [10]


def test_two_batches_coexist_and_a_report_is_traced_across_them(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("monday", "run-1") as writer:
        writer.add(scored("monday", 0, 20), held(20, 1))
    with store.writer("tuesday", "run-2") as writer:
        writer.add(scored("tuesday", 0, 5, scored_at=pd.Timestamp(T0 + timedelta(days=1))), pd.DataFrame())
    assert [summary.batch for summary in store.batches()] == ["monday", "tuesday"]
    assert len(store.predictions()) == 25 and len(store.predictions("monday")) == 20
    assert store.quarantined("tuesday").empty and len(store.quarantined("monday")) == 1
    picked = store.predictions(report_ids=["r1", "r7", "nobody"])
    assert sorted(zip(picked["batch"], picked["report_id"], strict=True)) == [
        ("monday", "r1"), ("monday", "r7"), ("tuesday", "r1")
    ]  # fmt: skip
    assert store.find_report("r3")["batch"].tolist() == ["monday", "tuesday"]  # oldest scoring first


def test_a_report_scored_in_an_earlier_batch_is_kept_scored_and_marked_resubmitted(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("monday", "run-1") as writer:
        writer.add(scored("monday", 0, 6, triage="PRIORITY"), pd.DataFrame())
    later = scored("tuesday", 4, 4, triage="PRIORITY", scored_at=pd.Timestamp(T0 + timedelta(days=1)))
    with store.writer("tuesday", "run-2") as writer:
        writer.add(later.iloc[:2], pd.DataFrame())  # r4, r5: scored on monday
        writer.add(later.iloc[2:], pd.DataFrame())  # r6, r7: new
    tuesday = store.predictions("tuesday")  # from the batch's Parquet file
    assert dict(zip(tuesday["report_id"], tuesday["resubmitted"], strict=True)) == {
        "r4": True, "r5": True, "r6": False, "r7": False
    }  # fmt: skip
    assert not store.predictions("monday")["resubmitted"].any()
    assert store.find_report("r5")["resubmitted"].tolist() == [False, True]  # what `gxp trace` shows
    queue = store.priority_queue(T0).set_index("report_id")
    assert queue.loc["r5", "resubmitted"] and not queue.loc["r6", "resubmitted"]  # what `gxp queue` shows
    with store.writer("tuesday", "run-3") as writer:  # the same batch scored again is not a resubmission
        writer.add(later.iloc[2:], pd.DataFrame())
    assert not store.predictions("tuesday")["resubmitted"].any()


def test_results_stored_before_the_resubmitted_column_still_read_and_hash_as_recorded(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("old", "run-1") as writer:
        writer.add(scored("old", 0, 5, triage="PRIORITY"), pd.DataFrame())
    database, summary = tmp_path / "results" / "results.sqlite", store.batch_summary("old")
    assert summary is not None
    # Make it what an index and batch file from before the column are: no such column, anywhere.
    pq.write_table(pq.read_table(summary.predictions_path).drop_columns(["resubmitted"]), summary.predictions_path)
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("ALTER TABLE predictions DROP COLUMN resubmitted")
        connection.execute("UPDATE batches SET predictions_sha256 = ?", (file_sha256(summary.predictions_path),))
        columns = ", ".join(SCORED_COLUMNS)
        rows = connection.execute(f"SELECT {columns} FROM predictions ORDER BY intake_seq").fetchall()
    recorded = hashlib.sha256(
        b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows)
    ).hexdigest()

    reopened = LocalResultsStore(tmp_path)  # adds the column, empty
    assert reopened.predictions("old")["resubmitted"].isna().all()
    assert reopened.find_report("r1")["resubmitted"].isna().all() and len(reopened.priority_queue(T0)) == 5
    with closing(sqlite3.connect(database)) as connection:
        assert rows_sha256(connection, "old") == recorded  # what the audit trail holds for it still matches
    with reopened.writer("new", "run-2") as writer:
        writer.add(scored("new", 0, 2, scored_at=pd.Timestamp(T0 + timedelta(days=1))), pd.DataFrame())
    assert reopened.predictions("new")["resubmitted"].tolist() == [True, True]


def test_any_batch_name_gets_its_own_folder_inside_the_store(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    for batch in ("..", "2026/03/01", ".hidden"):
        with store.writer(batch, "run-1") as writer:
            writer.add(scored(batch, 0, 2), pd.DataFrame())
    folders = {summary.batch: summary.predictions_path.parent for summary in store.batches()}
    assert len(set(folders.values())) == 3
    assert all(folder.parent == tmp_path / "results" / "batches" for folder in folders.values())
    assert not any(folder.name.startswith(".") for folder in folders.values())


def test_an_empty_batch_still_writes_valid_empty_parquet_files(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("quiet", "run-1") as writer:
        writer.add(pd.DataFrame(), pd.DataFrame())
    summary = store.batch_summary("quiet")
    assert summary is not None and (summary.scored, summary.quarantined) == (0, 0)
    predictions = pq.read_table(summary.predictions_path)
    quarantine = pq.read_table(summary.quarantine_path)
    assert predictions.num_rows == 0 and predictions.column_names == list(STORED_COLUMNS)
    assert quarantine.num_rows == 0 and quarantine.column_names == [*REPORT_FIELDS, *INTAKE_COLUMNS, "reason",
                                                                    "detail", "extra"]  # fmt: skip
    assert str(predictions.schema.field("scored_at").type) == "timestamp[us, tz=UTC]"
    assert store.predictions("quiet").empty and list(store.quarantined("quiet").columns) == quarantine.column_names


def test_quarantined_bytes_survive_the_round_trip_exactly(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    chunk = held(0, 4, feature_age="54", feature_dose=None)
    with store.writer("b", "run-1") as writer:
        writer.add(scored("b", 4, 3), chunk)
    back = store.quarantined("b")
    assert back["raw"].tolist() == chunk["raw"].tolist()
    assert all(isinstance(raw, bytes) for raw in back["raw"])
    assert back["intake_seq"].tolist() == [0, 1, 2, 3] and back["reason"].unique().tolist() == ["invalid_encoding"]
    assert json.loads(back["extra"].iloc[0]) == {"feature_age": "54", "feature_dose": None}  # extra columns folded


def test_type_errors_are_kept_and_quarantine_rows_from_before_the_column_still_store(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    typed = held(0, 1, type_error="report_id is a number (7), not a string", reason="invalid_type")
    with store.writer("b", "run-1") as writer:
        writer.add(pd.DataFrame(), typed)
        writer.add(pd.DataFrame(), held(1, 1))  # a producer that knows no type_error column
    back = store.quarantined("b")
    assert back["type_error"].tolist() == ["report_id is a number (7), not a string", None]
    assert back["extra"].tolist() == [None, None]  # the column is the contract's, not folded as an extra one


def test_an_altered_quarantine_file_is_refused(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("b", "run-1") as writer:
        writer.add(pd.DataFrame(), held(0, 2))
    summary = store.batch_summary("b")
    assert summary is not None
    summary.quarantine_path.write_bytes(summary.quarantine_path.read_bytes() + b"x")
    with pytest.raises(IntegrityError, match="quarantine of batch 'b'"):
        store.quarantined("b")


def test_priority_queue_orders_by_due_date_and_leaves_out_adjudicated_or_rescored_reports(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    now = T0 + timedelta(days=1)
    cases = {  # report_id: (triage, due_at, p_ae)
        "late": ("PRIORITY", now - timedelta(hours=2), 0.6),
        "sure": ("PRIORITY", now + timedelta(hours=10), 0.9),
        "unsure": ("PRIORITY", now + timedelta(hours=10), 0.7),
        "undated": ("PRIORITY", None, 0.99),
        "review": ("REVIEW", now + timedelta(hours=1), 0.5),
        "seen": ("PRIORITY", now + timedelta(hours=1), 0.95),
        "rescored": ("PRIORITY", now + timedelta(hours=1), 0.95),
    }
    frame = scored("day-1", 0, len(cases), report_id=list(cases), triage=[c[0] for c in cases.values()],
                   p_ae=[c[2] for c in cases.values()])  # fmt: skip
    frame["due_at"] = pd.Series([c[1] for c in cases.values()], dtype=object).astype("datetime64[us, UTC]")
    with store.writer("day-1", "run-1") as writer:
        writer.add(frame, pd.DataFrame())
    with store.writer("day-2", "run-2") as writer:  # a later scoring of the same report wins
        writer.add(
            scored("day-2", 0, 1, report_id="rescored", triage="REVIEW", scored_at=pd.Timestamp(now)), pd.DataFrame()
        )
    adjudication = {"report_id": "seen", "label": 1, "adjudicated_at": now, "adjudicator": "qa", "source_file": "a"}
    store.record_adjudications(pd.DataFrame([adjudication]), AE)

    queue = store.priority_queue(now)
    assert queue["report_id"].tolist() == ["late", "sure", "unsure", "undated"]
    assert queue["hours_left"].iloc[:3].tolist() == pytest.approx([-2.0, 10.0, 10.0])
    assert np.isnan(queue["hours_left"].iloc[3]) and queue["hours_left"].dtype == "float64"
    assert queue["text"].str.startswith("report").all()
    with pytest.raises(ValueError, match="time zone"):
        store.priority_queue(datetime(2026, 3, 2))


def test_adjudications_keep_history_latest_wins_and_repeats_count_once(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("b1", "run-1") as writer:
        writer.add(scored("b1", 0, 3), pd.DataFrame())
    with store.writer("b2", "run-2") as writer:  # r0 scored again later: the join takes this scoring
        writer.add(scored("b2", 0, 1, scored_at=pd.Timestamp(T0 + timedelta(hours=1))), pd.DataFrame())
    t1, t2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    labels = pd.DataFrame(
        [("r0", 1, t1, "alice", "labels-1.csv"), ("r0", 0, t2, "bob", "labels-2.csv"), ("r1", "1", t1, "alice",
          "labels-1.csv")],
        columns=["report_id", "label", "adjudicated_at", "adjudicator", "source_file"],
    )  # fmt: skip
    assert store.record_adjudications(labels, AE) == 3
    assert store.record_adjudications(labels, AE) == 0  # the same rows again count once
    older = labels.iloc[[0]].assign(adjudicated_at=T0, source_file="labels-0.csv")
    assert store.record_adjudications(older, AE) == 1  # recorded later, but adjudicated earlier: it does not win
    with sqlite3.connect(tmp_path / "results" / "results.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM adjudications").fetchone()[0] == 4
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute("UPDATE adjudications SET label = 1")

    latest = store.adjudicated().set_index("report_id")
    assert list(latest.columns) == [*STORED_COLUMNS[:1], *STORED_COLUMNS[2:], "label", "adjudicated_at", "adjudicator"]
    assert latest.loc["r0", ["label", "adjudicator", "batch"]].tolist() == [0, "bob", "b2"]
    assert latest.loc["r1", "label"] == 1 and latest["label"].dtype == "int64"
    assert str(latest["adjudicated_at"].dtype) == "datetime64[us, UTC]"
    assert store.adjudicated(since=t2)["report_id"].tolist() == ["r0"]
    naive = labels.iloc[[1]].assign(adjudicated_at=datetime(2026, 3, 5))
    with pytest.raises(ValueError, match="time zone"):
        store.record_adjudications(naive, AE)


def test_monitoring_events_are_read_with_a_cursor(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    first = store.record_monitoring("drift", "b1", "model-1", [], {"psi": 0.02})
    second = store.record_monitoring("drift", "b2", "model-1", ["psi 0.31 > 0.2"], {"psi": 0.31, "bins": [1, 2]})
    third = store.record_monitoring("performance", None, None, ["recall 0.88 < 0.93"], {"recall": 0.88})
    assert first < second < third
    assert [event.id for event in store.monitoring_since(0)] == [first, second, third]
    rest = store.monitoring_since(first)
    assert [event.kind for event in rest] == ["drift", "performance"]
    assert rest[0].alarms == ("psi 0.31 > 0.2",) and rest[0].evidence == {"bins": [1, 2], "psi": 0.31}
    assert rest[1].batch is None and rest[1].created_at.utcoffset() == timedelta(0)
    assert store.monitoring_since(third) == []
    assert [event.id for event in LocalResultsStore(tmp_path).monitoring_since(second)] == [third]  # persisted


def test_two_hundred_thousand_rows_in_chunks(tmp_path: Path) -> None:
    store = LocalResultsStore(tmp_path)
    with store.writer("big", "run-1") as writer:
        for start in range(0, 200_000, 50_000):
            writer.add(scored("big", start, 50_000), held(200_000 + start // 50_000, 1))
    summary = store.batch_summary("big")
    assert summary is not None and (summary.scored, summary.quarantined) == (200_000, 4)
    assert sum(summary.triage_counts.values()) == 200_000
    assert rows_in_sqlite(tmp_path, "big") == pq.ParquetFile(summary.predictions_path).metadata.num_rows == 200_000
    assert summary.predictions_sha256 == file_sha256(summary.predictions_path)
    back = store.predictions("big")  # read in blocks of 50,000 rows
    assert len(back) == 200_000 and back["intake_seq"].tolist() == list(range(200_000))
    assert str(back["due_at"].dtype) == "datetime64[us, UTC]" and back["product"].dtype == object


def test_a_queue_page_walks_the_queue_index_in_order_and_an_older_index_gets_it(tmp_path: Path) -> None:
    """The page query is one ordered walk of ``predictions_queue`` per level, merged: no sort of the whole queue."""
    from gxp_assets.stores.results_local import _queue_arms
    from gxp_assets.stores.results_protocol import QueueFilter

    store = LocalResultsStore(tmp_path)
    with store.writer("b", "run-1") as writer:
        writer.add(scored("b", 0, 30), pd.DataFrame())
    path = tmp_path / "results" / "results.sqlite"
    arms, params = _queue_arms(("PRIORITY", "REVIEW"), QueueFilter(source="social_media"))
    query = " UNION ALL ".join(f"SELECT p.*, p.due_at IS NULL AS undated FROM predictions AS p {arm}" for arm in arms)
    with closing(sqlite3.connect(path)) as connection:
        plan = [row[-1] for row in connection.execute(
            f"EXPLAIN QUERY PLAN {query} ORDER BY undated, due_at, p_ae DESC, report_id LIMIT 50", params)]  # fmt: skip
        assert "MERGE (UNION ALL)" in plan and not any("TEMP B-TREE" in step for step in plan), plan
        assert sum("USING INDEX predictions_queue" in step for step in plan) == 2, plan
        connection.execute("DROP INDEX predictions_queue")  # as an index made before the queue index existed
        connection.commit()
    LocalResultsStore(tmp_path)
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'predictions_queue'").fetchone()
