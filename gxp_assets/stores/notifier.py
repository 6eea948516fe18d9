"""Telling people that something needs them (PRIORITY reports, a retraining request), behind a small protocol.

The embedded default is an outbox folder of JSON files under GXP_HOME, one per message, which a mail or chat
forwarder (or a person) can read; each message also goes to the ``gxp.notify`` log at WARNING so it shows in the
Dagster run log. A file is written under a temporary name and renamed, so a reader never sees half a message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gxp_assets.core.hashing import sha256_hex
from gxp_assets.stores.local import default_home

_LOG = logging.getLogger("gxp.notify")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Notification:
    """One message: ``kind`` is a stable code to route by, ``payload`` the machine-readable details."""

    kind: str
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: Messages with the same key are sent once (e.g. one batch scored twice at once notifies once).
    dedupe_key: str | None = None

    def __post_init__(self) -> None:
        if not self.kind.strip():
            raise ValueError("a notification needs a kind")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must carry a time zone (UTC)")
        object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
        }


class Notifier(Protocol):
    def send(self, notification: Notification) -> str:
        """Deliver the message; returns where it went (a path, a URL, a message id) for the run log."""
        ...


def _jsonable(value: Any) -> Any:
    """Payloads often carry timestamps, paths and numpy numbers; anything else is a caller's mistake."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    raise TypeError(f"a notification payload cannot hold a {type(value).__name__}")


def notification_json(notification: Notification) -> str:
    """The message as JSON text, the same for every backend (outbox file, queue message, e-mail attachment)."""
    return json.dumps(
        notification.to_dict(), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False, default=_jsonable
    )


def _outbox_folder(home: Path | str | None) -> Path:
    return (Path(home).resolve() if home else default_home()) / "outbox"


class LocalOutboxNotifier:
    """``Notifier`` writing ``<home>/outbox/<UTC time>-<kind>-<hash>.json``; names sort in the order sent."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.outbox = _outbox_folder(home)
        self.outbox.mkdir(parents=True, exist_ok=True)

    def send(self, notification: Notification) -> str:
        if notification.dedupe_key is not None:
            marker = self.outbox / ".sent" / sha256_hex(notification.dedupe_key.encode())
            marker.parent.mkdir(exist_ok=True)
            try:  # O_EXCL: of two senders at once, exactly one creates the marker and sends
                descriptor = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                _LOG.info("%s: already sent (%s)", notification.kind, notification.dedupe_key)
                return f"already sent ({notification.dedupe_key})"
            os.close(descriptor)
        content = (notification_json(notification) + "\n").encode()
        kind = _UNSAFE.sub("_", notification.kind)[:60]
        path = self.outbox / f"{notification.created_at:%Y%m%dT%H%M%S%fZ}-{kind}-{sha256_hex(content)[:12]}.json"
        with tempfile.NamedTemporaryFile(dir=self.outbox, prefix=".sending-", suffix=".tmp", delete=False) as handle:
            try:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
                os.chmod(handle.name, 0o644)
            except BaseException:
                os.unlink(handle.name)
                raise
        os.replace(handle.name, path)
        _LOG.warning("%s: %s (%s)", notification.kind, notification.subject, path)
        return str(path)


def outbox(home: Path | str | None = None) -> list[dict[str, Any]]:
    """Every message in the outbox, oldest first; files still being written (dot-named) are not messages yet."""
    folder = _outbox_folder(home)
    if not folder.is_dir():
        return []
    files = sorted(path for path in folder.glob("*.json") if not path.name.startswith("."))
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]
