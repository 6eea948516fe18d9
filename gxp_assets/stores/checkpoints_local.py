"""The embedded checkpoint chain: the system key under ``GXP_HOME/system`` and checkpoints in SQLite (append-only).

The key is created on first use (owner-only file) and its fingerprint written beside it, so `gxp audit verify` can
show which key anchors the trail. Someone who controls the whole of GXP_HOME can still re-sign a forged chain; the
copy of the head in the Dagster event log (DAGSTER_HOME) and, on aws, S3 Object Lock are the anchors outside it.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gxp_assets.governance.audit import Anchor
from gxp_assets.governance.checkpoints import Checkpoint, next_checkpoint, unanchored, verify_checkpoints
from gxp_assets.governance.signatures import key_fingerprint

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    n INTEGER PRIMARY KEY, audit_seq INTEGER NOT NULL, audit_hash TEXT NOT NULL, created_at TEXT NOT NULL,
    prev_hash TEXT NOT NULL, key_fingerprint TEXT NOT NULL, signature TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
"""
_COLUMNS = "n, audit_seq, audit_hash, created_at, prev_hash, key_fingerprint, signature"


class LocalCheckpoints:
    def __init__(self, home: Path) -> None:
        self.folder = home / "system"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key_path = self.folder / "checkpoint_key.pem"
        self.path = home / "checkpoints.sqlite"
        with closing(self._connect()) as connection:
            connection.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)

    def _key(self) -> Ed25519PrivateKey:
        if not self.key_path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                descriptor = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                return self._key()
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            (self.folder / "checkpoint_key.fingerprint").write_text(key_fingerprint(key.public_key()) + "\n")
        loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{self.key_path} is not an Ed25519 key")
        return loaded

    def fingerprint(self) -> str:
        return key_fingerprint(self._key().public_key())

    def all(self) -> list[Checkpoint]:
        with closing(self._connect()) as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM checkpoints ORDER BY n").fetchall()
        return [Checkpoint(*row) for row in rows]

    def record(self, anchor: Anchor) -> Checkpoint:
        """Sign and append a checkpoint of the head ``anchor`` (called under the audit trail's write lock)."""
        key = self._key()
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute(f"SELECT {_COLUMNS} FROM checkpoints ORDER BY n DESC LIMIT 1").fetchone()
                checkpoint = next_checkpoint(Checkpoint(*row) if row else None, anchor, key, datetime.now(UTC))
                connection.execute(
                    f"INSERT INTO checkpoints ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    tuple(checkpoint.to_dict().values()),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return checkpoint

    def check(self, head_seq: int) -> tuple[list[str], list[Anchor]]:
        """Problems of the checkpoint chain, and the anchor of its last checkpoint for the trail to hold."""
        checkpoints = self.all()
        problems = verify_checkpoints(checkpoints, self._key().public_key()) + unanchored(checkpoints, head_seq)
        return problems, [checkpoints[-1].anchor] if checkpoints else []
