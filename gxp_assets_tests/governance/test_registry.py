from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gxp_assets.governance.registry import IllegalTransition, State, record_hash
from gxp_assets.stores.registry_local import LocalRegistry


def registered(registry: LocalRegistry, version: str) -> None:
    registry.register(version, "ae-triage-v1", {"use_case": "ae-triage-v1", "version": version}, "alice")


def promote(registry: LocalRegistry, version: str) -> None:
    for state in (State.PENDING_APPROVAL, State.APPROVED, State.ACTIVE):
        registry.transition(version, state, "quinn", f"to {state}")


def test_only_legal_transitions_and_history_is_kept(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path)
    registered(registry, "v1")
    with pytest.raises(IllegalTransition, match="v1 is CANDIDATE; it cannot become ACTIVE"):
        registry.transition("v1", State.ACTIVE, "mallory", "skip the approvals")
    promote(registry, "v1")
    registry.transition("v1", State.RETIRED, "quinn", "done")
    with pytest.raises(IllegalTransition):
        registry.transition("v1", State.PENDING_APPROVAL, "quinn", "back to start")
    states = [(t.from_state, t.to_state) for t in registry.history("v1")]
    assert states == [
        (None, State.CANDIDATE),
        (State.CANDIDATE, State.PENDING_APPROVAL),
        (State.PENDING_APPROVAL, State.APPROVED),
        (State.APPROVED, State.ACTIVE),
        (State.ACTIVE, State.RETIRED),
    ]


def test_one_active_version_per_use_case(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path)
    registered(registry, "v1")
    registered(registry, "v2")
    promote(registry, "v1")
    promote(registry, "v2")
    assert registry.get("v1").state == State.RETIRED and registry.active("ae-triage-v1").version == "v2"
    with sqlite3.connect(tmp_path / "registry.sqlite") as connection, pytest.raises(sqlite3.IntegrityError):
        connection.execute("UPDATE versions SET state = 'ACTIVE' WHERE version = 'v1'")  # the index forbids two


def test_records_and_history_cannot_be_rewritten(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path)
    registered(registry, "v1")
    assert registry.get("v1").record_hash == record_hash({"use_case": "ae-triage-v1", "version": "v1"})
    with sqlite3.connect(tmp_path / "registry.sqlite") as connection:
        for statement in (
            "UPDATE versions SET record = '{}' WHERE version = 'v1'",
            "DELETE FROM transitions",
            "UPDATE transitions SET actor = 'someone'",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                connection.execute(statement)
    again = registry.register("v1", "ae-triage-v1", {"use_case": "ae-triage-v1", "version": "v1", "rerun": 2}, "bob")
    assert again.record == {"use_case": "ae-triage-v1", "version": "v1"}  # the first record stands
    assert len(registry.history("v1")) == 1
