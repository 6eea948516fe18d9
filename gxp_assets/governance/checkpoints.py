"""Signed checkpoints of the audit trail's head: anchors that a rewrite of the trail cannot quietly follow.

After every append the system signs ``(audit seq, audit entry hash)`` with its own Ed25519 key, chained to the
previous checkpoint. A deleted tail leaves a checkpoint beyond the trail's last entry; a trail rechained with
recomputed hashes no longer holds the hash a checkpoint signed. The key's fingerprint is in every checkpoint, so a
replaced key shows too. Pure logic; the store keeps the key and the chain, and the Dagster event log keeps a second,
independent copy of the head (materialization metadata).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.governance.audit import GENESIS_HASH, Anchor
from gxp_assets.governance.signatures import key_fingerprint


@dataclass(frozen=True)
class Checkpoint:
    n: int  # 1-based, no gaps
    audit_seq: int
    audit_hash: str
    created_at: str  # UTC
    prev_hash: str  # checkpoint_hash of checkpoint n - 1, GENESIS_HASH for the first
    key_fingerprint: str
    signature: str  # base64 Ed25519 over every field above

    def payload(self) -> bytes:
        data = asdict(self)
        del data["signature"]
        return canonical_json(data)

    @property
    def checkpoint_hash(self) -> str:
        return sha256_hex(canonical_json(asdict(self)))

    @property
    def anchor(self) -> Anchor:
        return (self.audit_seq, self.audit_hash)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def next_checkpoint(prev: Checkpoint | None, anchor: Anchor, key: Ed25519PrivateKey, now: datetime) -> Checkpoint:
    unsigned = Checkpoint(
        n=1 if prev is None else prev.n + 1,
        audit_seq=anchor[0],
        audit_hash=anchor[1],
        created_at=now.astimezone(UTC).isoformat(timespec="microseconds"),
        prev_hash=GENESIS_HASH if prev is None else prev.checkpoint_hash,
        key_fingerprint=key_fingerprint(key.public_key()),
        signature="",
    )
    return replace(unsigned, signature=base64.b64encode(key.sign(unsigned.payload())).decode())


def verify_checkpoints(checkpoints: Sequence[Checkpoint], key: Ed25519PublicKey) -> list[str]:
    """Every way the checkpoint chain itself shows tampering: signature, key, links, order."""
    problems: list[str] = []
    fingerprint = key_fingerprint(key)
    prev: Checkpoint | None = None
    for checkpoint in checkpoints:
        where = f"checkpoint {checkpoint.n}"
        if checkpoint.key_fingerprint != fingerprint:
            problems.append(f"{where}: signed by key {checkpoint.key_fingerprint}, not the system key {fingerprint}")
        try:
            key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            problems.append(f"{where}: its signature does not verify: it was edited or forged")
        expected_n, expected_prev = (1, GENESIS_HASH) if prev is None else (prev.n + 1, prev.checkpoint_hash)
        if checkpoint.n != expected_n or checkpoint.prev_hash != expected_prev:
            problems.append(f"{where}: does not follow checkpoint {expected_n - 1}: checkpoints were deleted or moved")
        if prev is not None and checkpoint.audit_seq < prev.audit_seq:
            problems.append(f"{where}: anchors audit seq {checkpoint.audit_seq}, before the previous one")
        prev = checkpoint
    return problems


def unanchored(checkpoints: Sequence[Checkpoint], head_seq: int) -> list[str]:
    """Entries appended after the last checkpoint: written behind the system's back (every append checkpoints)."""
    last = checkpoints[-1].audit_seq if checkpoints else 0
    if checkpoints and head_seq > last:
        return [f"audit entries {last + 1}..{head_seq} carry no checkpoint: they were written behind the system's back"]
    return []
