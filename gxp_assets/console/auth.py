"""Who is at the keyboard: login by user id and passphrase, signed expiring session cookies, CSRF tokens, throttling.

Login proves both components of the user's signature (21 CFR 11.200(a)): the passphrase must unlock the private key
kept for that user id, and the key must be the one the roles file registers. The server keeps no session table: the
session is a cookie signed with a per-instance secret (GXP_CONSOLE_SECRET, else GXP_HOME/console/secret, 0600), so a
forged or expired cookie is simply not a session. Passphrases are never stored or logged.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

SECRET_ENV = "GXP_CONSOLE_SECRET"
SESSION_COOKIE = "gxp_session"
CSRF_FIELD = "csrf"


def instance_secret(home: Path) -> str:
    """The cookie-signing secret: from the environment, else generated once per GXP_HOME and kept private (0600)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = home / "console" / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server process made it first
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True)
class Session:
    """A signed cookie's content: the user (None before login) and the CSRF token every form must echo."""

    user_id: str | None
    csrf: str

    def csrf_ok(self, submitted: object) -> bool:
        return isinstance(submitted, str) and hmac.compare_digest(submitted, self.csrf)


class Sessions:
    """Signs and reads session cookies; a cookie older than ``max_age_s`` is no session (it expires)."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="gxp-console-session")
        self.max_age_s = max_age_s

    def new(self, user_id: str | None) -> tuple[Session, str]:
        session = Session(user_id, secrets.token_urlsafe(32))
        return session, self.serializer.dumps({"user": user_id, "csrf": session.csrf})

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:  # forged, altered or expired (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        user = data.get("user")
        return Session(user if isinstance(user, str) else None, data["csrf"])


class Throttle:
    """At most ``limit`` failed logins per key (user id, client address) in ``window_s``; then refused until the
    oldest failure leaves the window. Counts only failures, so a person who types well is never slowed."""

    def __init__(self, limit: int = 5, window_s: float = 900.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)


def private_key_pem(key_folder: Path, user_id: str) -> bytes:
    """The user's encrypted private key kept on the server (``gxp serve --keys``); it signs only once the passphrase
    typed for that signature unlocks it."""
    path = key_folder / f"{user_id}.pem"
    if "/" in user_id or not path.is_file():
        raise LookupError(f"no private key for {user_id} on this server")
    return path.read_bytes()
