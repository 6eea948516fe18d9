"""Every notification sent is an audit entry: who was told what, and where it went, beside the event that caused it.

A wrapper around any ``Notifier`` backend (outbox folder, e-mail, queues), so inspectors find notifications in the
audit trail and its export without knowing where messages were delivered.
"""

from __future__ import annotations

from gxp_assets.governance.service import AuditLog
from gxp_assets.stores.notifier import Notification, Notifier

NOTIFICATION_ACTION = "notification"


class AuditedNotifier:
    """``Notifier`` that sends through ``backend`` and then appends a ``notification`` entry to ``audit``."""

    def __init__(self, backend: Notifier, audit: AuditLog) -> None:
        self.backend, self.audit = backend, audit

    def send(self, notification: Notification) -> str:
        where = self.backend.send(notification)
        if where.startswith("already sent"):  # a duplicate the backend refused: nothing was sent, nothing to record
            return where
        payload = notification.payload or {}
        subject = str(payload.get("batch") or payload.get("model_version") or notification.kind)
        self.audit.append("system", NOTIFICATION_ACTION, subject,
                          {"kind": notification.kind, "subject": notification.subject, "sent_to": where})  # fmt: skip
        return where
