"""The audit trail must show every kind of tampering, and refuse the ordinary kinds outright (Part 11 §11.10(e))."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gxp_assets.governance.audit import (
    GENESIS_HASH,
    AuditEntry,
    computed_hash,
    entry_hash_of,
    next_entry,
    verify_chain,
)
from gxp_assets.governance.audit_export import export_csv, export_html
from gxp_assets.stores.audit_local import LocalAuditTrail
from gxp_assets.stores.audit_protocol import AuditTrail

T0 = datetime(2025, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
ACTIONS = ("materialization", "transition", "signature", "refusal", "alarm")


def _trail(home: Path, count: int = 5, anchored: bool = True) -> LocalAuditTrail:
    trail = LocalAuditTrail(home, anchored=anchored)
    for i in range(count):
        trail.append(
            actor="system" if i % 2 == 0 else "jdoe",
            action=ACTIONS[i % len(ACTIONS)],
            subject=f"conformal_model/v{i + 1}",
            details={"index": i, "reason": f"step {i + 1}"},
            now=T0 + timedelta(seconds=i),
        )
    return trail


@contextmanager
def _tampering(trail: LocalAuditTrail) -> Iterator[sqlite3.Connection]:
    """A raw connection with the append-only triggers dropped: what it takes to alter the trail at all."""
    with closing(sqlite3.connect(trail.path, isolation_level=None)) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
        assert len(names) == 3
        for name in names:
            connection.execute(f"DROP TRIGGER {name}")
        yield connection


def _insert(connection: sqlite3.Connection, entry: AuditEntry) -> None:
    connection.execute(
        "INSERT INTO audit_entries (seq, recorded_at, actor, action, subject, details, prev_hash, entry_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.seq,
            entry.recorded_at,
            entry.actor,
            entry.action,
            entry.subject,
            json.dumps(entry.details),
            entry.prev_hash,
            entry.entry_hash,
        ),
    )


def _seq_problems(problems: list[str], seq: int) -> list[str]:
    return [problem for problem in problems if problem.startswith(f"seq {seq}:")]


# --- the chain itself ---------------------------------------------------------------------------------------------


def test_appended_entries_form_an_intact_chain_in_utc(tmp_path: Path) -> None:
    trail: AuditTrail = _trail(tmp_path, 5)
    entries = trail.entries()
    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert [entry.prev_hash for entry in entries[1:]] == [entry.entry_hash for entry in entries[:-1]]
    assert all(entry.entry_hash == computed_hash(entry) for entry in entries)
    assert entries[2].recorded_at == "2025-03-01T09:30:02.123456+00:00"
    assert entries[1].actor == "jdoe" and entries[1].details == {"index": 1, "reason": "step 2"}
    assert trail.head() == entries[-1]
    assert trail.verify() == []
    assert trail.verify([entries[1].anchor, entries[-1].anchor]) == []
    assert (tmp_path / "audit.sqlite").is_file()


def test_an_empty_trail_has_no_head_and_verifies(tmp_path: Path) -> None:
    trail = LocalAuditTrail(tmp_path)
    assert trail.head() is None and trail.entries() == [] and trail.verify() == []
    assert trail.verify([(1, "a" * 64)]) != []  # but an anchor proves it once held something


def test_the_default_home_is_gxp_home(gxp_home: Path) -> None:
    LocalAuditTrail().append("system", "alarm", "drift", {})
    assert LocalAuditTrail(gxp_home).head() is not None


def test_the_hash_covers_every_field() -> None:
    entry = next_entry(None, "jdoe", "signature", "model/v1", {"meaning": "approval"}, T0)
    changes: dict[str, Any] = {
        "seq": 2,
        "recorded_at": "2025-03-01T09:30:00.123457+00:00",
        "actor": "jdoe2",
        "action": "refusal",
        "subject": "model/v2",
        "details": {"meaning": "review"},
        "prev_hash": "1" * 64,
    }
    for field, value in changes.items():
        assert computed_hash(replace(entry, **{field: value})) != entry.entry_hash, field
    assert entry.entry_hash == entry_hash_of(
        1, entry.recorded_at, "jdoe", "signature", "model/v1", entry.details, entry.prev_hash
    )


def test_next_entry_normalises_time_to_utc_and_refuses_what_is_not_attributable() -> None:
    eastern = timezone(timedelta(hours=-5))
    entry = next_entry(None, "system", "alarm", "drift", {}, datetime(2025, 3, 1, 4, 0, tzinfo=eastern))
    assert entry.recorded_at == "2025-03-01T09:00:00.000000+00:00"
    with pytest.raises(ValueError, match="timezone"):
        next_entry(None, "system", "alarm", "drift", {}, datetime(2025, 3, 1, 4, 0))
    with pytest.raises(ValueError, match="actor"):
        next_entry(None, " ", "alarm", "drift", {}, T0)
    details = {"nested": {"k": [1, 2]}}
    frozen = next_entry(entry, "system", "alarm", "drift", details, T0)
    details["nested"]["k"].append(3)  # the caller's later change must not reach the recorded entry
    assert frozen.details == {"nested": {"k": [1, 2]}} and frozen.seq == 2 and frozen.prev_hash == entry.entry_hash


# --- the database refuses ordinary tampering ----------------------------------------------------------------------


def test_update_and_delete_are_refused_by_the_database(tmp_path: Path) -> None:
    trail = _trail(tmp_path, 3)
    before = trail.entries()
    with sqlite3.connect(trail.path) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE audit_entries SET details = '{}' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM audit_entries WHERE seq = 3")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # REPLACE would delete without the trigger
            connection.execute(
                "INSERT OR REPLACE INTO audit_entries VALUES (2, 't', 'a', 'b', 'c', '{}', ?, ?)",
                (before[0].entry_hash, "f" * 64),
            )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # an insert must extend the head
            connection.execute(
                "INSERT INTO audit_entries VALUES (4, 't', 'a', 'b', 'c', '{}', ?, ?)", (GENESIS_HASH, "f" * 64)
            )
    connection.close()
    assert trail.entries() == before and trail.verify() == []


# --- tampering that bypasses the database is found by the chain ---------------------------------------------------


def test_an_edited_field_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    with _tampering(trail) as connection:
        connection.execute(
            """UPDATE audit_entries SET details = '{"index":2,"reason":"nothing to see"}' WHERE seq = 3"""
        )
    problems = trail.verify()
    assert _seq_problems(problems, 3) and "edited" in _seq_problems(problems, 3)[0]
    assert len(problems) == 1  # the stored hashes still chain; only entry 3's content no longer matches its own


def test_a_deleted_entry_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    with _tampering(trail) as connection:
        connection.execute("DELETE FROM audit_entries WHERE seq = 3")
    problems = trail.verify()
    at_4 = _seq_problems(problems, 4)
    assert any("missing" in problem for problem in at_4) and any("prev_hash" in problem for problem in at_4)


def test_deleting_the_first_entry_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    with _tampering(trail) as connection:
        connection.execute("DELETE FROM audit_entries WHERE seq = 1")
    assert len(_seq_problems(trail.verify(), 2)) == 2  # starts at 2, and does not start from the genesis hash


def test_an_inserted_entry_is_detected_by_the_chain_alone(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    original = trail.entries()
    with _tampering(trail) as connection:  # make room after entry 2, then slip in a self-consistent forgery
        connection.execute("UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 3")
        connection.execute("UPDATE audit_entries SET seq = seq - 999 WHERE seq > 1000")
        forged = next_entry(original[1], "jdoe", "signature", "conformal_model/v2", {"meaning": "approval"}, T0)
        _insert(connection, forged)
    assert computed_hash(forged) == forged.entry_hash and forged.seq == 3
    problems = trail.verify()
    assert _seq_problems(problems, 3) == []  # the forgery is consistent in itself...
    assert any("prev_hash" in problem for problem in _seq_problems(problems, 4))  # ...but the chain breaks after it


def test_an_inserted_entry_with_a_duplicate_seq_is_detected() -> None:
    entries = [next_entry(None, "system", "alarm", "drift", {"i": 0}, T0)]
    for i in range(1, 4):
        entries.append(next_entry(entries[-1], "system", "alarm", "drift", {"i": i}, T0))
    forged = next_entry(entries[1], "mallory", "signature", "model/v9", {}, T0)  # seq 3, chained to seq 2
    problems = verify_chain([*entries[:2], forged, *entries[2:]])
    assert any("out of order" in problem for problem in _seq_problems(problems, 3))
    assert any("prev_hash" in problem for problem in _seq_problems(problems, 3))


@pytest.mark.parametrize(
    "columns",
    [
        ("recorded_at", "actor", "action", "subject", "details"),  # the content only
        ("recorded_at", "actor", "action", "subject", "details", "prev_hash", "entry_hash"),  # whole rows but seq
    ],
)
def test_two_swapped_entries_are_detected(tmp_path: Path, columns: tuple[str, ...]) -> None:
    trail = _trail(tmp_path)
    rows = {entry.seq: entry.as_dict() for entry in trail.entries()}
    with _tampering(trail) as connection:
        for seq, other in ((2, 4), (4, 2)):
            values = [json.dumps(rows[other][c]) if c == "details" else rows[other][c] for c in columns]
            assignments = ", ".join(f"{column} = ?" for column in columns)
            connection.execute(f"UPDATE audit_entries SET {assignments} WHERE seq = ?", (*values, seq))
    problems = trail.verify()
    assert _seq_problems(problems, 2) and _seq_problems(problems, 4)


def test_a_dropped_tail_is_detected_only_with_an_anchor(tmp_path: Path) -> None:
    trail = _trail(tmp_path, anchored=False)  # the chain alone; the checkpointed trail is tested below
    anchor = trail.head().anchor  # e.g. kept in a model record or a signature
    earlier = trail.entries()[1].anchor
    with _tampering(trail) as connection:
        connection.execute("DELETE FROM audit_entries WHERE seq >= 4")
    assert trail.verify() == []  # a shorter chain is still a valid chain
    assert trail.verify([earlier]) == []
    problems = trail.verify([earlier, anchor])
    assert len(problems) == 1 and "anchor seq 5" in problems[0] and "truncated" in problems[0]


def test_a_rewritten_tail_with_recomputed_hashes_is_detected_only_with_an_anchor(tmp_path: Path) -> None:
    trail = _trail(tmp_path, anchored=False)
    original = trail.entries()
    with _tampering(trail) as connection:
        connection.execute("DELETE FROM audit_entries WHERE seq >= 3")
        head = original[1]
        for i in range(3):
            head = next_entry(head, "system", "materialization", f"forged/{i}", {"i": i}, T0)
            _insert(connection, head)
    assert trail.verify() == []
    problems = trail.verify([original[-1].anchor])
    assert len(problems) == 1 and "rewritten" in problems[0]


def test_every_append_is_checkpointed_so_a_dropped_or_rechained_tail_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    checkpoints = trail.checkpoints.all()
    assert [c.audit_seq for c in checkpoints] == [1, 2, 3, 4, 5] and trail.verify() == []
    assert len({c.key_fingerprint for c in checkpoints}) == 1
    original = trail.entries()
    with _tampering(trail) as connection:
        connection.execute("DELETE FROM audit_entries WHERE seq >= 4")
    assert any("seq 5" in p and "truncated" in p for p in trail.verify())
    with closing(sqlite3.connect(trail.path, isolation_level=None)) as connection:  # triggers dropped above
        # the whole trail rechained from the start, hashes recomputed
        connection.execute("DELETE FROM audit_entries")
        head = None
        for entry in original:
            head = next_entry(head, entry.actor, entry.action, entry.subject, {**entry.details, "x": 1}, T0)
            _insert(connection, head)
    assert any("rewritten" in p for p in trail.verify())
    with closing(sqlite3.connect(trail.path, isolation_level=None)) as connection:
        # an entry appended behind the system's back carries no checkpoint
        _insert(connection, next_entry(head, "mallory", "signature", "v", {}, T0))
    assert any("carry no checkpoint" in p for p in trail.verify())


def test_a_forged_or_truncated_checkpoint_chain_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    with sqlite3.connect(trail.checkpoints.path) as connection:
        connection.execute("DROP TRIGGER checkpoints_no_update")
        connection.execute("UPDATE checkpoints SET audit_hash = ? WHERE n = 2", ("0" * 64,))
    assert any("checkpoint 2" in p and "signature" in p for p in trail.verify())


def test_unreadable_details_are_reported_not_raised(tmp_path: Path) -> None:
    trail = _trail(tmp_path, 3)
    with _tampering(trail) as connection:
        connection.execute("UPDATE audit_entries SET details = 'not json' WHERE seq = 2")
    problems = trail.verify()
    assert _seq_problems(problems, 2) and all(problem.startswith("seq 2:") for problem in problems)
    with pytest.raises(ValueError):
        trail.entries()


# --- concurrent writers -------------------------------------------------------------------------------------------


def _append_many(home: str, worker: int, count: int, start: Any) -> None:
    trail = LocalAuditTrail(home)
    start.wait(30)
    for i in range(count):
        trail.append("system", "materialization", f"worker-{worker}", {"worker": worker, "i": i})


def test_two_processes_appending_concurrently_keep_one_intact_chain(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_append_many, args=(str(tmp_path), n, 50, start)) for n in (1, 2)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0, 0]
    trail = LocalAuditTrail(tmp_path)
    entries = trail.entries()
    assert [entry.seq for entry in entries] == list(range(1, 101))
    assert trail.verify() == []
    for n in (1, 2):
        assert [entry.details["i"] for entry in entries if entry.details["worker"] == n] == list(range(50))
    assert [entry.recorded_at for entry in entries] == sorted(entry.recorded_at for entry in entries)


# --- copies for inspectors ----------------------------------------------------------------------------------------


def _export_trail(home: Path) -> list[AuditEntry]:
    trail = _trail(home, 2)
    trail.append("jdoe", "refusal", '=HYPERLINK("http://x")', {"note": "<script>alert('x')</script> & more"}, T0)
    return trail.entries()


def test_csv_export_holds_every_entry(tmp_path: Path) -> None:
    entries = _export_trail(tmp_path)
    rows = list(csv.DictReader(io.StringIO(export_csv(entries))))
    assert [int(row["seq"]) for row in rows] == [entry.seq for entry in entries]
    for row, entry in zip(rows, entries, strict=True):
        assert row["entry_hash"] == entry.entry_hash and row["prev_hash"] == entry.prev_hash
        assert row["recorded_at"] == entry.recorded_at and row["actor"] == entry.actor
        assert json.loads(row["details"]) == entry.details
    assert rows[2]["subject"].startswith("'=")  # a spreadsheet must not run it as a formula


def test_html_export_holds_every_entry_escaped_with_a_verdict(tmp_path: Path) -> None:
    entries = _export_trail(tmp_path)
    page = export_html(entries, [], generated_at=T0)
    assert "Chain verified" in page and "FAILED" not in page
    for entry in entries:
        assert f'title="{entry.entry_hash}"' in page and f'title="{entry.prev_hash}"' in page
        assert f"<td>{entry.seq}</td>" in page and entry.recorded_at in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "2025-03-01T09:30:00.123456+00:00" in page
    failed = export_html(entries, ["seq 2: <b>edited</b>"], generated_at=T0)
    assert "FAILED" in failed and "Chain verified" not in failed and "&lt;b&gt;edited" in failed


def test_exports_print_names_and_readable_details_and_filter_per_model_version(tmp_path: Path) -> None:
    from gxp_assets.governance.audit_export import entries_for_version

    trail = LocalAuditTrail(tmp_path)
    trail.append("quinn", "signature", "model-v1", {"signature_id": "s1", "meaning": "approval"}, T0)
    trail.append("system", "results", "batch-7", {"model_version": "model-v1", "files": {"rows": 3}}, T0)
    trail.append("sensor:retraining_triggers", "retraining_requested", "ae", {"triggers": ["drift"]}, T0)
    trail.append("petra", "signature", "model-v2", {"signature_id": "s2"}, T0)
    entries, names = trail.entries(), {"quinn": "Quinn Quality", "petra": "Petra Physician"}
    rows = list(csv.DictReader(io.StringIO(export_csv(entries, names))))
    assert [row["printed_name"] for row in rows] == [
        "Quinn Quality", "(system)", "(system)", "Petra Physician"]  # fmt: skip
    assert rows[1]["details_readable"] == "files.rows: 3\nmodel_version: model-v1"
    assert json.loads(rows[1]["details"]) == entries[1].details  # the exact JSON stays
    page = export_html(entries, [], generated_at=T0, names=names)
    assert "<td>Quinn Quality</td>" in page and "triggers: drift" in page and "{&quot;" not in page
    assert [entry.subject for entry in entries_for_version(entries, "model-v1")] == ["model-v1", "batch-7"]
