"""Controlled roles: a roles file counts only once the plan's role administrator has signed it.

Anyone with write access to the repository or the server can edit ``roles.yaml``; what they cannot do is sign with
the role administrator's key, whose fingerprint the change control plan pins (``signatures.role_administrator_
fingerprint``). An approval carries the whole roles content, so signatures made under an earlier approved roles file
can still be verified against it after the file has changed. Pure logic; the registry keeps the approvals.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.roles import Roles, parse_public_key
from gxp_assets.governance.signatures import key_fingerprint, public_key_line


class RolesApprovalRefused(ValueError):
    """A roles approval that must not count; the message says why."""


@dataclass(frozen=True)
class RolesApproval:
    """The role administrator's signed statement that one roles file (by content hash) is in force."""

    roles_sha256: str
    roles: dict[str, Any]  # the content itself, so older signatures stay verifiable
    administrator: str
    reason: str
    approved_at: str  # system time (UTC) when made
    public_key: str
    key_fingerprint: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolesApproval:
        expected = set(cls.__dataclass_fields__)
        if not isinstance(data, Mapping) or set(data) != expected:
            raise RolesApprovalRefused(f"a roles approval needs exactly the fields {sorted(expected)}")
        return cls(**dict(data))

    def signed_payload(self) -> bytes:
        data = self.to_dict()
        del data["signature"]
        return canonical_json(data)


def approve_roles(
    roles: Roles, private_key: Ed25519PrivateKey, administrator: str, reason: str, now: datetime | None = None
) -> RolesApproval:
    if not reason.strip():
        raise ValueError("a roles approval needs a reason")
    now = now or datetime.now(UTC)
    key = private_key.public_key()
    unsigned = RolesApproval(
        roles_sha256=roles.digest(),
        roles=roles.model_dump(mode="json"),
        administrator=administrator,
        reason=reason,
        approved_at=now.astimezone(UTC).isoformat(timespec="microseconds"),
        public_key=public_key_line(key),
        key_fingerprint=key_fingerprint(key),
        signature="",
    )
    return replace(unsigned, signature=base64.b64encode(private_key.sign(unsigned.signed_payload())).decode())


def verify_roles_approval(approval: RolesApproval, pinned_fingerprint: str | None) -> Roles:
    """The roles file the approval puts in force, or RolesApprovalRefused."""
    if pinned_fingerprint is None:
        raise RolesApprovalRefused("the plan pins no role administrator, so no roles file can be approved")
    try:
        key = parse_public_key(approval.public_key)
    except ValueError as exc:
        raise RolesApprovalRefused(f"the approval's public key is unusable: {exc}") from exc
    if key_fingerprint(key) != pinned_fingerprint or approval.key_fingerprint != pinned_fingerprint:
        raise RolesApprovalRefused(
            f"signed with key {key_fingerprint(key)}, not the role administrator's {pinned_fingerprint} the plan pins"
        )
    try:
        key.verify(base64.b64decode(approval.signature, validate=True), approval.signed_payload())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise RolesApprovalRefused("the approval does not verify: it was changed after signing") from exc
    try:
        roles = Roles.model_validate(approval.roles)
    except ValidationError as exc:
        raise RolesApprovalRefused(f"the approved roles content is invalid: {exc}") from exc
    if roles.digest() != approval.roles_sha256:
        raise RolesApprovalRefused("the approved roles content does not hash to the approved roles_sha256")
    return roles


def approved_roles(approvals: Iterable[Mapping[str, Any]], pinned_fingerprint: str | None) -> dict[str, Roles]:
    """roles_sha256 -> roles file, for every approval that verifies against the plan's role administrator."""
    found: dict[str, Roles] = {}
    for stored in approvals:
        try:
            roles = verify_roles_approval(RolesApproval.from_dict(stored), pinned_fingerprint)
        except (RolesApprovalRefused, TypeError):
            continue
        found[roles.digest()] = roles
    return found
