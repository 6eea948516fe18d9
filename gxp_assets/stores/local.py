"""The embedded default: artifacts as read-only files under GXP_HOME, indexed in SQLite.

A file's name is its SHA-256, so a version is never overwritten: writing equal bytes again finds the file already
there (and checks it), writing other bytes makes another file. The index records every materialization in order,
which is what ``latest`` and ``versions`` read. A file is written under ``<home>/scratch/artifacts`` and renamed into
place once complete; what a killed writer left there is removed when the store is next opened.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import quote

from gxp_assets.core.embedding_cache import gxp_home
from gxp_assets.core.hashing import sha256_copy, sha256_file, sha256_hex
from gxp_assets.stores.protocols import ArtifactNotFound, ArtifactRef, IntegrityError
from gxp_assets.stores.scratch import Scratch

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    asset TEXT NOT NULL,
    partition TEXT,
    sha256 TEXT NOT NULL,
    suffix TEXT NOT NULL,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_by_asset ON artifacts (asset, partition, seq);
CREATE INDEX IF NOT EXISTS artifacts_by_run ON artifacts (asset, partition, run_id, seq);
"""


def open_regular(source: Path) -> IO[bytes]:
    """``source`` opened for reading only if it is a regular file itself: no link is followed (O_NOFOLLOW), and a
    device or pipe is not opened for reading at all (O_NONBLOCK, then fstat)."""
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise ValueError(f"{source} is refused: not a regular file that can be opened without following a link "
                         f"({error.strerror})") from error  # fmt: skip
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ValueError(f"{source} is refused: not a regular file (a device, pipe, socket or folder)")
    return os.fdopen(descriptor, "rb")


def default_home() -> Path:
    """GXP_HOME, or ``.gxp`` in the working directory (DESIGN.md conventions)."""
    return gxp_home()


def key_folder() -> Path:
    """Where people's private keys are kept by default (GXP_HOME/keys/USER.pem), for `gxp approve` and `gxp serve`."""
    return default_home() / "keys"


class LocalArtifactStore:
    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home).resolve() if home else default_home()
        self.root = self.home / "artifacts"
        self.root.mkdir(parents=True, exist_ok=True)
        self._index = self.home / "artifacts.sqlite"
        self._scratch = Scratch(self.home / "scratch" / "artifacts")
        self._scratch.sweep()  # what writers killed before left behind
        with closing(self._connect()) as connection, connection:
            connection.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._index, timeout=30)
        connection.row_factory = sqlite3.Row
        return connection

    def _folder(self, asset: str, partition: str | None) -> Path:
        folder = self.root.joinpath(*(quote(part, safe="") for part in asset.split("/")))
        return folder / quote(partition, safe="") if partition is not None else folder

    def _path(self, asset: str, partition: str | None, sha256: str, suffix: str) -> Path:
        return self._folder(asset, partition) / f"{sha256}{suffix}"

    def put(self, asset: str, partition: str | None, payload: bytes, suffix: str, run_id: str) -> ArtifactRef:
        sha256 = sha256_hex(payload)
        path = self._path(asset, partition, sha256, suffix)
        if path.exists():
            self._verify(asset, path, sha256)
        else:
            with self._scratch.claim() as claim:
                self._staged(claim.path("incoming"), lambda handle: handle.write(payload))
                self._settle(claim.path("incoming"), path)
        return self._index_ref(asset, partition, sha256, suffix, len(payload), path, run_id)

    def put_file(self, asset: str, partition: str | None, source: Path, suffix: str, run_id: str) -> ArtifactRef:
        """Keep a copy of a regular file of any size, hashed as it is copied: one read, whatever its size. A symbolic
        link, device or pipe is refused, never followed or read."""
        # The hash is of the bytes the copy holds, even if the source changed while it was read.
        with open_regular(source) as opened, self._scratch.claim() as claim:
            staged = claim.path("incoming")
            sha256 = self._staged(staged, lambda handle: sha256_copy(opened, handle))
            path = self._path(asset, partition, sha256, suffix)
            if path.exists():
                self._verify_file(asset, path, sha256)
            else:
                self._settle(staged, path)
        return self._index_ref(asset, partition, sha256, suffix, path.stat().st_size, path, run_id)

    def local_path(self, ref: ArtifactRef) -> Path:
        """The verified local file of an artifact, for readers that stream it instead of loading it whole."""
        path = self._path(ref.asset, ref.partition, ref.sha256, ref.suffix)
        if not path.exists():
            raise ArtifactNotFound(f"artifact of asset '{ref.asset}' with SHA-256 {ref.sha256} is missing at {path}")
        self._verify_file(ref.asset, path, ref.sha256)
        return path

    @staticmethod
    def _staged(staged: Path, write: Callable[[IO[bytes]], T]) -> T:
        """``staged`` (a claimed temporary file) holding what ``write`` wrote, on disk before it gets its final name;
        returns what ``write`` returned."""
        with staged.open("xb") as handle:
            written = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        return written

    @staticmethod
    def _settle(staged: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o444)
        os.replace(staged, path)

    def _index_ref(
        self, asset: str, partition: str | None, sha256: str, suffix: str, size: int, path: Path, run_id: str
    ) -> ArtifactRef:
        ref = ArtifactRef(
            asset=asset,
            partition=partition,
            sha256=sha256,
            suffix=suffix,
            size=size,
            uri=path.as_uri(),
            run_id=run_id,
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        )
        with closing(self._connect()) as connection, connection:
            connection.execute(
                "INSERT INTO artifacts (asset, partition, sha256, suffix, size, path, run_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (asset, partition, sha256, suffix, ref.size, str(path), run_id, ref.created_at),
            )
        return ref

    @staticmethod
    def _mismatch(asset: str, path: Path, expected: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"artifact of asset '{asset}' at {path} was recorded with SHA-256 {expected} "
            f"but its bytes hash to {actual}: it has been altered"
        )

    def _verify_file(self, asset: str, path: Path, expected: str) -> None:
        actual = sha256_file(path)
        if actual != expected:
            raise self._mismatch(asset, path, expected, actual)

    def _verify(self, asset: str, path: Path, expected: str) -> bytes:
        payload = path.read_bytes()
        actual = sha256_hex(payload)
        if actual != expected:
            raise self._mismatch(asset, path, expected, actual)
        return payload

    def read(self, ref: ArtifactRef) -> bytes:
        path = self._path(ref.asset, ref.partition, ref.sha256, ref.suffix)
        if not path.exists():
            raise ArtifactNotFound(f"artifact of asset '{ref.asset}' with SHA-256 {ref.sha256} is missing at {path}")
        return self._verify(ref.asset, path, ref.sha256)

    def _ref(self, row: sqlite3.Row) -> ArtifactRef:
        return ArtifactRef(
            asset=row["asset"],
            partition=row["partition"],
            sha256=row["sha256"],
            suffix=row["suffix"],
            size=row["size"],
            uri=Path(row["path"]).as_uri(),
            run_id=row["run_id"],
            created_at=row["created_at"],
        )

    def latest(self, asset: str, partition: str | None = None, run_id: str | None = None) -> ArtifactRef | None:
        """The newest version (stored by ``run_id`` when given): one query on an index that ends in seq."""
        query, params = "SELECT * FROM artifacts WHERE asset = ? AND partition IS ?", [asset, partition]
        if run_id is not None:
            query += " AND run_id = ?"
            params.append(run_id)
        with closing(self._connect()) as connection:
            row = connection.execute(query + " ORDER BY seq DESC LIMIT 1", params).fetchone()
        return self._ref(row) if row else None

    def find(self, asset: str, sha256: str) -> ArtifactRef:
        if len(sha256) < 8:
            raise ValueError("give at least 8 hex digits of the data version")
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT * FROM artifacts WHERE asset = ? AND sha256 LIKE ? ORDER BY seq DESC",
                (asset, f"{sha256.lower()}%"),
            ).fetchall()
        if len({row["sha256"] for row in rows}) > 1:
            raise ValueError(f"data version {sha256} of asset '{asset}' is ambiguous: give more digits")
        if not rows:
            raise ArtifactNotFound(f"asset '{asset}' has no stored version {sha256}")
        return self._ref(rows[0])

    def versions(self, asset: str | None = None, partition: str | None = None) -> list[ArtifactRef]:
        query, params = "SELECT * FROM artifacts", []
        if asset is not None:
            query += " WHERE asset = ?"
            params.append(asset)
            if partition is not None:
                query += " AND partition = ?"
                params.append(partition)
        with closing(self._connect()) as connection:
            rows = connection.execute(query + " ORDER BY seq", params).fetchall()
        return [self._ref(row) for row in rows]
