"""Many people at once: concurrent logins and adjudications against `gxp serve` in a real process all succeed and
are all recorded (a 500 was once seen after login under load). The clients are the load benchmark's own."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from gxp_assets_tests.conftest import PROJECT_ROOT

REVIEWERS = 12


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("console_load", PROJECT_ROOT / "benchmarks" / "console_load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations there
    spec.loader.exec_module(module)
    return module


def test_concurrent_logins_and_adjudications_all_succeed_and_are_audited(
    gxp_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gxp_assets.stores import audit_trail, results_store

    bench = _load_benchmark()
    roles, keys, people = bench._people(tmp_path, REVIEWERS)
    monkeypatch.setenv("GXP_ROLES", str(roles))
    monkeypatch.setenv("GXP_ENV", "local")
    batches = bench.seed(600, 2)
    server, url = bench._serve(keys, tmp_path / "serve.log")
    try:
        tally = bench.Tally()
        reviewers = [bench.Reviewer(url, user, secret, ["social_media", "literature"], batches, tally, k)
                     for k, (user, secret) in enumerate(people.items())]  # fmt: skip
        threads = [threading.Thread(target=r.work, args=(time.monotonic() + 600, 3, 1)) for r in reviewers]
        for thread in threads:  # all log in at the same moment, then each adjudicates three reports
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = (tmp_path / "serve.log").read_text()
    assert tally.errors == [], tally.errors[:5]
    assert "Traceback" not in log, log[-3000:]
    made = len(tally.durations["adjudicate"])  # a turn whose queue page came up empty adjudicates nothing
    assert len(tally.durations["login"]) == 2 * REVIEWERS and made >= 2 * REVIEWERS
    entries = audit_trail().entries()
    logins = {e.actor for e in entries if e.action == "console_login"}
    assert logins == set(people)
    verdicts = [e for e in entries if e.action == "adjudication"]
    assert len(verdicts) == made
    assert all(e.details["printed_name"].startswith("Reviewer ") for e in verdicts)
    labels = results_store().adjudicated()
    assert set(labels["adjudicator"]) == set(people)
