"""The embedded audit trail: one SQLite file under GXP_HOME, append-only at the database level.

Triggers refuse UPDATE and DELETE, and refuse any INSERT that does not extend the head (seq = head + 1 and
prev_hash = head hash), so an ordinary client cannot rewrite history. Someone who drops the triggers can; the hash
chain (and anchors kept elsewhere) is what then shows it. Appends read the head and insert under ``BEGIN IMMEDIATE``,
so concurrent writers in several processes queue up instead of forking the chain. The file is in WAL mode, so
readers and the one appender do not wait for each other.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.audit import GENESIS_HASH, Anchor, AuditEntry, next_entry, verify_chain
from gxp_assets.stores.checkpoints_local import LocalCheckpoints
from gxp_assets.stores.local import default_home

# No UNIQUE constraint besides the primary key: ``INSERT OR REPLACE`` resolves a conflict by deleting the old row
# without firing DELETE triggers, and the INSERT trigger already rules out a conflict on seq.
_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS audit_entries (
    seq INTEGER PRIMARY KEY CHECK (seq >= 1),
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE is not allowed');
END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE is not allowed');
END;
CREATE TRIGGER IF NOT EXISTS audit_entries_extend_head BEFORE INSERT ON audit_entries
WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_entries), 0) + 1
  OR NEW.prev_hash IS NOT COALESCE(
       (SELECT entry_hash FROM audit_entries ORDER BY seq DESC LIMIT 1), '{GENESIS_HASH}')
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: a new entry must follow the head');
END;
COMMIT;
"""

_COLUMNS = "seq, recorded_at, actor, action, subject, details, prev_hash, entry_hash"


class LocalAuditTrail:
    """``AuditTrail`` backed by ``<home>/audit.sqlite``."""

    def __init__(self, home: Path | str | None = None, anchored: bool = True) -> None:
        self.home = Path(home).resolve() if home else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "audit.sqlite"
        #: Every append is checkpointed (signed by the system key) before it commits; see checkpoints_local.py.
        self.checkpoints = LocalCheckpoints(self.home) if anchored else None
        with closing(self._connect()) as connection:
            # Opened once per request by a server: the write lock of the schema script is taken only when the schema
            # is missing, so readers and appenders are not made to queue behind every open.
            found = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_entries_extend_head'")
            if not found.fetchone():
                connection.executescript(_SCHEMA)
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                # WAL: reading the whole trail (verify, export, a console page) never blocks an append, nor an append
                # a reader; a busy database is retried for ``timeout`` seconds instead of failing.
                with contextlib.suppress(sqlite3.OperationalError):  # busy now: the next open switches it
                    connection.execute("PRAGMA journal_mode=WAL")

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), never opened behind our back.
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    @staticmethod
    def _head(connection: sqlite3.Connection) -> sqlite3.Row | None:
        row: sqlite3.Row | None = connection.execute(
            f"SELECT {_COLUMNS} FROM audit_entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return row

    @staticmethod
    def _entry(row: sqlite3.Row) -> AuditEntry:
        details = json.loads(row["details"])
        if not isinstance(details, dict):
            raise ValueError(f"audit entry seq {row['seq']}: details are not a JSON object")
        return AuditEntry(
            seq=row["seq"],
            recorded_at=row["recorded_at"],
            actor=row["actor"],
            action=row["action"],
            subject=row["subject"],
            details=details,
            prev_hash=row["prev_hash"],
            entry_hash=row["entry_hash"],
        )

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any],
        now: datetime | None = None,
    ) -> AuditEntry:
        """Chain one entry to the head in a single write transaction, so concurrent appenders cannot fork the chain."""
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = self._head(connection)
                head = self._entry(row) if row else None
                # The clock is read inside the lock, so recorded times follow seq order.
                entry = next_entry(head, actor, action, subject, details, now if now is not None else datetime.now(UTC))
                connection.execute(
                    f"INSERT INTO audit_entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.seq,
                        entry.recorded_at,
                        entry.actor,
                        entry.action,
                        entry.subject,
                        canonical_json(entry.details).decode(),
                        entry.prev_hash,
                        entry.entry_hash,
                    ),
                )
                if self.checkpoints is not None:  # under the write lock, so checkpoints follow seq order
                    self.checkpoints.record(entry.anchor)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return entry

    def _rows(self) -> list[sqlite3.Row]:
        with closing(self._connect()) as connection:
            return connection.execute(f"SELECT {_COLUMNS} FROM audit_entries ORDER BY seq").fetchall()

    def entries(self) -> list[AuditEntry]:
        """Every entry, oldest first; raises ValueError if a stored entry is no longer readable."""
        return [self._entry(row) for row in self._rows()]

    def head_seq(self) -> int:
        with closing(self._connect()) as connection:
            return int(connection.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_entries").fetchone()[0])

    def head(self) -> AuditEntry | None:
        with closing(self._connect()) as connection:
            row = self._head(connection)
        return self._entry(row) if row else None

    def verify(self, anchors: Iterable[Anchor] = ()) -> list[str]:
        """``verify_chain`` over the stored entries against ``anchors`` and the last signed checkpoint, plus the
        checkpoint chain's own problems; an unreadable entry is a problem to report, not a crash."""
        problems: list[str] = []
        if self.checkpoints is not None:
            head = self.head_seq()
            found, last = self.checkpoints.check(head)
            problems += found
            anchors = [*anchors, *last]
        entries: list[AuditEntry] = []
        for row in self._rows():
            try:
                entries.append(self._entry(row))
            except ValueError as error:  # json.JSONDecodeError is a ValueError
                problems.append(f"seq {row['seq']}: details are not a readable JSON object ({error}): altered")
                entries.append(
                    AuditEntry(
                        seq=row["seq"],
                        recorded_at=row["recorded_at"],
                        actor=row["actor"],
                        action=row["action"],
                        subject=row["subject"],
                        details={"unreadable": row["details"]},
                        prev_hash=row["prev_hash"],
                        entry_hash=row["entry_hash"],
                    )
                )
        return problems + verify_chain(entries, anchors)
