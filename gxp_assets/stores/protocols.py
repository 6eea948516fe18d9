"""The storage protocol every backend implements; layers above see only this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class IntegrityError(RuntimeError):
    """Stored bytes do not hash to the version they were recorded under. Never a warning."""


class ArtifactNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ArtifactRef:
    """One stored version of an asset (or of one partition): its SHA-256 is its data version."""

    asset: str
    partition: str | None
    sha256: str
    suffix: str
    size: int
    uri: str
    run_id: str
    created_at: str  # ISO 8601, UTC


class ArtifactStore(Protocol):
    """Immutable, content-addressed artifacts: written once, verified on every read, never overwritten."""

    def put(self, asset: str, partition: str | None, payload: bytes, suffix: str, run_id: str) -> ArtifactRef: ...

    def put_file(self, asset: str, partition: str | None, source: Path, suffix: str, run_id: str) -> ArtifactRef:
        """Keep a copy of a file of any size, hashed and copied in blocks."""
        ...

    def local_path(self, ref: ArtifactRef) -> Path:
        """A verified local file holding the artifact's bytes, for readers that stream it."""
        ...

    def read(self, ref: ArtifactRef) -> bytes:
        """The artifact's bytes; raises IntegrityError naming the asset and both hashes on a mismatch."""
        ...

    def latest(self, asset: str, partition: str | None = None, run_id: str | None = None) -> ArtifactRef | None:
        """The newest version of the asset (of that partition); with ``run_id``, the newest that run stored."""
        ...

    def find(self, asset: str, sha256: str) -> ArtifactRef:
        """A past version by its data version (a prefix of at least 8 hex digits will do)."""
        ...

    def versions(self, asset: str | None = None, partition: str | None = None) -> list[ArtifactRef]:
        """Every recorded materialization, oldest first."""
        ...
