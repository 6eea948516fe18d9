"""Sessions, CSRF, throttling and the per-instance secret of the review console, without a server."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gxp_assets.console import auth
from gxp_assets.console.reviewing import highlighted


def test_a_session_cookie_round_trips_and_a_forged_or_expired_one_is_no_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = auth.Sessions("secret one", max_age_s=60)
    session, cookie = sessions.new("petra")
    assert sessions.read(cookie) == session and session.csrf_ok(session.csrf) and not session.csrf_ok(None)
    assert sessions.read(cookie[:-2] + "xx") is None  # altered
    assert auth.Sessions("another secret", 60).read(cookie) is None  # signed by another instance
    clock = [1_000_000.0]
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: clock[0])
    _, fresh = sessions.new("petra")
    clock[0] += 61
    assert sessions.read(fresh) is None  # expired


def test_the_throttle_counts_failures_in_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    throttle = auth.Throttle(limit=2, window_s=10)
    throttle.failed("quinn")
    assert not throttle.blocked("quinn")
    throttle.failed("quinn")
    assert throttle.blocked("quinn") and not throttle.blocked("petra")
    clock[0] = 10.5
    assert not throttle.blocked("quinn")


def test_the_secret_is_generated_once_private_or_taken_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(auth.SECRET_ENV, raising=False)
    first = auth.instance_secret(tmp_path)
    assert len(first) >= 40 and auth.instance_secret(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "console" / "secret").stat().st_mode) == 0o600
    monkeypatch.setenv(auth.SECRET_ENV, "from the environment")
    assert auth.instance_secret(tmp_path) == "from the environment"


def test_highlighting_marks_explanation_terms_and_keeps_every_character() -> None:
    text = "Severe  RASH after <b>drug</b>; rashes too"
    words = [{"feature": "severe rash", "contribution": 0.4}, {"feature": "drug", "contribution": -0.1}]
    pieces = highlighted(text, words)
    assert "".join(piece for piece, _ in pieces) == text
    marked = [(piece, weight) for piece, weight in pieces if weight is not None]
    assert marked == [("Severe  RASH", 0.4), ("drug", -0.1)]
