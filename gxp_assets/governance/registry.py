"""The model registry's state machine: transitions are the only way a model version's state changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gxp_assets.core.hashing import canonical_json, sha256_hex


class State(StrEnum):
    CANDIDATE = "CANDIDATE"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"
    REJECTED = "REJECTED"


#: Legal transitions. RETIRED -> ACTIVE is a signed rollback to a version that was approved and active before.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.CANDIDATE: frozenset({State.PENDING_APPROVAL, State.REJECTED}),
    State.PENDING_APPROVAL: frozenset({State.APPROVED, State.REJECTED}),
    State.APPROVED: frozenset({State.ACTIVE, State.REJECTED}),
    State.ACTIVE: frozenset({State.RETIRED}),
    State.RETIRED: frozenset({State.ACTIVE}),
    State.REJECTED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def check_transition(version: str, current: State, target: State) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        raise IllegalTransition(f"model {version} is {current}; it cannot become {target} (allowed: {allowed})")


def record_hash(record: dict) -> str:
    """The hash a signature binds to: the canonical JSON of the whole model record."""
    return sha256_hex(canonical_json(record))


def version_id(use_case: str, model_sha256: str, conformal_sha256: str) -> str:
    """Readable and content-derived: the same model and conformal record register as the same version."""
    return f"{use_case}-{sha256_hex(f'{model_sha256}:{conformal_sha256}'.encode())[:12]}"


@dataclass(frozen=True)
class ModelVersion:
    version: str
    use_case: str
    record: dict
    record_hash: str
    state: State
    registered_at: str

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> ModelVersion:
        """From a stored row or item (any backend) whose ``record`` is the record's JSON text."""
        return cls(
            version=stored["version"],
            use_case=stored["use_case"],
            record=json.loads(stored["record"]),
            record_hash=stored["record_hash"],
            state=State(stored["state"]),
            registered_at=stored["registered_at"],
        )


@dataclass(frozen=True)
class Transition:
    version: str
    from_state: State | None
    to_state: State
    actor: str
    reason: str
    at: str
