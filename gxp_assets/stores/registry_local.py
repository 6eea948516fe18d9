"""The model registry in SQLite under GXP_HOME: versions, their transitions (kept for ever) and signatures."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.registry import (
    ModelVersion,
    State,
    Transition,
    check_transition,
    record_hash,
)
from gxp_assets.stores.local import default_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version TEXT PRIMARY KEY,
    use_case TEXT NOT NULL,
    record TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_per_use_case ON versions (use_case) WHERE state = 'ACTIVE';
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL REFERENCES versions (version),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signatures (
    signature_id TEXT PRIMARY KEY,
    version TEXT NOT NULL REFERENCES versions (version),
    body TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roles_approvals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    roles_sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS roles_approvals_append_only_u BEFORE UPDATE ON roles_approvals
    BEGIN SELECT RAISE(ABORT, 'roles approvals are append-only'); END;
CREATE TRIGGER IF NOT EXISTS roles_approvals_append_only_d BEFORE DELETE ON roles_approvals
    BEGIN SELECT RAISE(ABORT, 'roles approvals are append-only'); END;
CREATE TRIGGER IF NOT EXISTS transitions_append_only_u BEFORE UPDATE ON transitions
    BEGIN SELECT RAISE(ABORT, 'the transition history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS transitions_append_only_d BEFORE DELETE ON transitions
    BEGIN SELECT RAISE(ABORT, 'the transition history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS signatures_append_only_u BEFORE UPDATE ON signatures
    BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER IF NOT EXISTS signatures_append_only_d BEFORE DELETE ON signatures
    BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_immutable BEFORE UPDATE OF record, record_hash ON versions
    BEGIN SELECT RAISE(ABORT, 'a model record never changes once registered'); END;
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class LocalRegistry:
    def __init__(self, home: Path | str | None = None) -> None:
        home = Path(home).resolve() if home else default_home()
        home.mkdir(parents=True, exist_ok=True)
        self._path = home / "registry.sqlite"
        with closing(self._connect()) as connection, connection:
            connection.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    def register(self, version: str, use_case: str, record: dict, actor: str) -> ModelVersion:
        """A new CANDIDATE. The version id comes from the model's and conformal record's hashes, so registering it
        again (a rerun that rebuilt the same model) returns the first record unchanged: records never change."""
        existing = self.get(version)
        if existing is not None:
            return existing
        at = _now()
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                (version, use_case, canonical_json(record).decode(), record_hash(record), State.CANDIDATE, at),
            )
            connection.execute(
                "INSERT INTO transitions (version, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                (version, None, State.CANDIDATE, actor, "registered", at),
            )
            connection.execute("COMMIT")
        return self.get(version)  # type: ignore[return-value]

    def get(self, version: str) -> ModelVersion | None:
        with closing(self._connect()) as connection:
            row = connection.execute("SELECT * FROM versions WHERE version = ?", (version,)).fetchone()
        return ModelVersion.from_stored(row) if row else None

    def versions(self, use_case: str | None = None) -> list[ModelVersion]:
        query, params = "SELECT * FROM versions", ()
        if use_case:
            query, params = query + " WHERE use_case = ?", (use_case,)
        with closing(self._connect()) as connection:
            rows = connection.execute(query + " ORDER BY registered_at", params)
            return [ModelVersion.from_stored(row) for row in rows]

    def active(self, use_case: str) -> ModelVersion | None:
        with closing(self._connect()) as connection:
            row = connection.execute(
                "SELECT * FROM versions WHERE use_case = ? AND state = 'ACTIVE'", (use_case,)
            ).fetchone()
        return ModelVersion.from_stored(row) if row else None

    def transition(self, version: str, target: State, actor: str, reason: str) -> list[Transition]:
        """Move ``version`` to ``target``; activating retires the use case's ACTIVE version in the same transaction.

        Returns every transition made, in order.
        """
        made: list[Transition] = []
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute("SELECT * FROM versions WHERE version = ?", (version,)).fetchone()
                if row is None:
                    raise LookupError(f"no model version {version} in the registry")
                current = ModelVersion.from_stored(row)
                check_transition(version, current.state, target)
                if target == State.ACTIVE:
                    previous = connection.execute(
                        "SELECT version FROM versions WHERE use_case = ? AND state = 'ACTIVE'", (current.use_case,)
                    ).fetchone()
                    if previous is not None:
                        made.append(
                            self._move(connection, previous["version"], State.ACTIVE, State.RETIRED, actor,
                                       f"replaced by {version}")
                        )  # fmt: skip
                made.append(self._move(connection, version, current.state, target, actor, reason))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return made

    def _move(
        self, connection: sqlite3.Connection, version: str, current: State, target: State, actor: str, reason: str
    ) -> Transition:
        at = _now()
        connection.execute("UPDATE versions SET state = ? WHERE version = ?", (target, version))
        connection.execute(
            "INSERT INTO transitions (version, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
            (version, current, target, actor, reason, at),
        )
        return Transition(version, current, target, actor, reason, at)

    def history(self, version: str | None = None) -> list[Transition]:
        query, params = "SELECT * FROM transitions", ()
        if version:
            query, params = query + " WHERE version = ?", (version,)
        with closing(self._connect()) as connection:
            rows = connection.execute(query + " ORDER BY seq", params).fetchall()
        return [
            Transition(
                row["version"],
                State(row["from_state"]) if row["from_state"] else None,
                State(row["to_state"]),
                row["actor"],
                row["reason"],
                row["at"],
            )
            for row in rows
        ]

    def add_signature(self, version: str, signature: dict) -> None:
        """Stores a verified signature; a signature id can be stored once only (no replays)."""
        with closing(self._connect()) as connection:
            connection.execute(
                "INSERT INTO signatures VALUES (?, ?, ?, ?)",
                (signature["signature_id"], version, canonical_json(signature).decode(), _now()),
            )

    def signatures(self, version: str | None = None) -> list[dict]:
        query, params = "SELECT body FROM signatures", ()
        if version:
            query, params = query + " WHERE version = ?", (version,)
        with closing(self._connect()) as connection:
            return [json.loads(row["body"]) for row in connection.execute(query + " ORDER BY recorded_at", params)]

    def add_roles_approval(self, approval: dict) -> None:
        """Keeps a role administrator's signed approval of a roles file (verified by whoever reads it)."""
        with closing(self._connect()) as connection:
            connection.execute(
                "INSERT INTO roles_approvals (roles_sha256, body, recorded_at) VALUES (?, ?, ?)",
                (approval["roles_sha256"], canonical_json(approval).decode(), _now()),
            )

    def roles_approvals(self) -> list[dict]:
        with closing(self._connect()) as connection:
            return [
                json.loads(row["body"]) for row in connection.execute("SELECT body FROM roles_approvals ORDER BY seq")
            ]
