"""The audit trail as a hash chain (21 CFR Part 11 §11.10(e)): pure logic, no I/O.

Each entry carries the hash of the one before it, so editing, deleting, inserting or reordering any entry breaks the
chain at that point. Cutting off the tail leaves a shorter chain that is still intact; that is caught by *anchors*,
head hashes recorded elsewhere (in model records and signatures) which the trail must still contain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gxp_assets.core.hashing import canonical_json, sha256_hex

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry: there is nothing before it."""

Anchor = tuple[int, str]
"""``(seq, entry_hash)`` of a head of the trail, recorded outside it."""


@dataclass(frozen=True)
class AuditEntry:
    """One immutable line of the trail: who did what to which subject, when, chained to the line before."""

    seq: int  # 1-based, no gaps
    recorded_at: str  # ISO 8601, UTC, microseconds
    actor: str  # user id, or "system"
    action: str  # "materialization", "transition", "signature", "refusal", "alarm", ...
    subject: str  # asset key, model version, ...
    details: dict[str, Any]  # JSON-compatible; treat as read-only
    prev_hash: str  # entry_hash of the previous entry, GENESIS_HASH for the first
    entry_hash: str  # SHA-256 of everything above

    @property
    def anchor(self) -> Anchor:
        """What to record elsewhere so that a later truncation of the trail is detectable."""
        return (self.seq, self.entry_hash)

    def as_dict(self) -> dict[str, Any]:
        """A plain mapping of all fields, for backends that store documents."""
        return {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        """The inverse of ``as_dict``; does not verify anything (that is ``verify_chain``'s job)."""
        return cls(
            seq=int(data["seq"]),
            recorded_at=str(data["recorded_at"]),
            actor=str(data["actor"]),
            action=str(data["action"]),
            subject=str(data["subject"]),
            details=dict(data["details"]),
            prev_hash=str(data["prev_hash"]),
            entry_hash=str(data["entry_hash"]),
        )


def entry_hash_of(
    seq: int,
    recorded_at: str,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 hex of the canonical JSON of all fields but the hash: one definition for writers and verifiers."""
    return sha256_hex(
        canonical_json(
            {
                "seq": seq,
                "recorded_at": recorded_at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details,
                "prev_hash": prev_hash,
            }
        )
    )


def computed_hash(entry: AuditEntry) -> str:
    """What the entry's hash should be given its content (differs from ``entry.entry_hash`` if it was edited)."""
    return entry_hash_of(
        entry.seq, entry.recorded_at, entry.actor, entry.action, entry.subject, entry.details, entry.prev_hash
    )


def utc_timestamp(now: datetime) -> str:
    """ISO 8601 in UTC with microseconds; a naive time is refused because its zone would be a guess."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("audit timestamps need a timezone-aware datetime (naive times are ambiguous)")
    return now.astimezone(UTC).isoformat(timespec="microseconds")


def next_entry(
    prev: AuditEntry | None,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    now: datetime,
) -> AuditEntry:
    """The entry that extends the trail whose head is ``prev`` (``None`` for an empty trail).

    ``details`` is copied through canonical JSON, so the entry holds exactly what will be read back from storage
    and later changes to the caller's dict cannot reach it.
    """
    for name, value in (("actor", actor), ("action", action), ("subject", subject)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"an audit entry needs a non-empty {name} (entries must be attributable)")
    if not isinstance(details, Mapping):
        raise TypeError(f"audit details must be a mapping, not {type(details).__name__}")
    frozen_details: dict[str, Any] = json.loads(canonical_json(dict(details)))
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.entry_hash
    recorded_at = utc_timestamp(now)
    return AuditEntry(
        seq=seq,
        recorded_at=recorded_at,
        actor=actor,
        action=action,
        subject=subject,
        details=frozen_details,
        prev_hash=prev_hash,
        entry_hash=entry_hash_of(seq, recorded_at, actor, action, subject, frozen_details, prev_hash),
    )


def _short(digest: str) -> str:
    return f"{digest[:12]}…"


def verify_chain(entries: list[AuditEntry], anchors: Iterable[Anchor] = ()) -> list[str]:
    """Every way ``entries`` (oldest first) and ``anchors`` show tampering, as sentences; empty means intact.

    Checks, per entry: its hash matches its content (edit), its seq follows the previous one (deletion, insertion,
    reordering) and its ``prev_hash`` is the previous entry's hash (the same, even when seqs were renumbered). Per
    anchor: the trail still holds that seq with that hash (truncation, or a rewrite with recomputed hashes).
    """
    problems: list[str] = []
    prev: AuditEntry | None = None
    for entry in entries:
        try:
            actual = computed_hash(entry)
        except (TypeError, ValueError) as error:  # details no longer JSON-compatible
            problems.append(f"seq {entry.seq}: its content cannot be hashed ({error}): it has been altered")
        else:
            if actual != entry.entry_hash:
                problems.append(
                    f"seq {entry.seq}: content hashes to {_short(actual)} but the entry records "
                    f"{_short(entry.entry_hash)}: the entry has been edited"
                )
        expected_seq = 1 if prev is None else prev.seq + 1
        if entry.seq != expected_seq:
            where = "the trail starts" if prev is None else f"it follows seq {prev.seq}"
            if entry.seq > expected_seq:
                missing = entry.seq - expected_seq
                problems.append(
                    f"seq {entry.seq}: {where}, so {missing} entr{'y is' if missing == 1 else 'ies are'} "
                    f"missing before it: deleted"
                )
            else:
                problems.append(f"seq {entry.seq}: {where}: entries are duplicated, inserted or out of order")
        expected_prev = GENESIS_HASH if prev is None else prev.entry_hash
        if entry.prev_hash != expected_prev:
            before = "the start of the trail" if prev is None else f"the hash of seq {prev.seq}"
            problems.append(
                f"seq {entry.seq}: prev_hash {_short(entry.prev_hash)} is not {before} ({_short(expected_prev)}): "
                f"an entry was deleted, inserted or moved here"
            )
        prev = entry

    by_seq: dict[int, AuditEntry] = {}
    for entry in entries:
        by_seq.setdefault(entry.seq, entry)
    last_seq = entries[-1].seq if entries else 0
    for seq, anchor_hash in anchors:
        found = by_seq.get(seq)
        if found is None:
            if seq > last_seq:
                problems.append(
                    f"anchor seq {seq} (head hash {_short(anchor_hash)}) is beyond the last entry "
                    f"(seq {last_seq}): the trail has been truncated"
                )
            else:
                problems.append(f"anchor seq {seq} (head hash {_short(anchor_hash)}): the trail has no such entry")
        elif found.entry_hash != anchor_hash:
            problems.append(
                f"anchor seq {seq}: recorded head hash {_short(anchor_hash)} but the trail holds "
                f"{_short(found.entry_hash)}: the trail has been rewritten"
            )
    return problems
