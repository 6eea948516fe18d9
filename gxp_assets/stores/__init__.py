"""Where things are kept, behind small protocols; ``GXP_ENV`` picks the backend (DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path

from gxp_assets.stores.local import LocalArtifactStore
from gxp_assets.stores.protocols import ArtifactStore

BACKENDS = ("local",)


def artifact_store(home: Path | str | None = None) -> ArtifactStore:
    """The artifact store of the environment: ``local`` (filesystem + SQLite under GXP_HOME) by default."""
    environment = os.environ.get("GXP_ENV", "local") or "local"
    if environment == "local":
        return LocalArtifactStore(home)
    raise ValueError(f"GXP_ENV={environment!r} is not available; choose one of {BACKENDS}")
