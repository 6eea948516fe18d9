"""The audit trail protocol every backend implements, so callers never know where the trail is kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from gxp_assets.governance.audit import Anchor, AuditEntry


class AuditTrail(Protocol):
    """An append-only, hash-chained log: entries are added at the head and never changed or removed."""

    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any],
        now: datetime | None = None,
    ) -> AuditEntry:
        """Chain one entry to the current head atomically, even with other writers; ``now`` defaults to UTC now."""
        ...

    def entries(self) -> list[AuditEntry]:
        """Every entry, oldest first."""
        ...

    def head(self) -> AuditEntry | None:
        """The newest entry (its ``anchor`` is what model records and signatures keep), or None when empty."""
        ...

    def verify(self, anchors: Iterable[Anchor] = ()) -> list[str]:
        """Problems found in the stored chain and against the anchors; empty means intact."""
        ...
