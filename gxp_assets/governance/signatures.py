"""Electronic signatures in the manner of 21 CFR Part 11 (§11.50, §11.70, §11.100, §11.200).

A signature binds a person (user id and printed name from the roles file), a meaning, a reason and a UTC time to the
SHA-256 of one canonical model record, with an Ed25519 key only that person holds. The two components of §11.200 are
the private key file and the passphrase that unlocks it. Because the record hash is inside the signed bytes, a
signature cannot be copied to another record (§11.70), and because every other field is too, none can be edited
afterwards. Verification against the roles file names each reason for refusal with a stable code.

Keys: the private key is PKCS#8 PEM encrypted with the passphrase; the public key is an OpenSSH line
(``ssh-ed25519 <base64>``), as the roles file holds it. Each signature carries the key's fingerprint in the format of
``ssh-keygen -lf`` (``SHA256:<base64>``), so that "signed with someone else's key" can be told apart from "edited".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.roles import KNOWN_ROLES, RoleEntry, Roles

MIN_PASSPHRASE_LENGTH = 12
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Meaning(StrEnum):
    """What the signer means by signing (§11.50(a)(3)); shown in every manifestation of the signature."""

    REVIEW = "review"
    APPROVAL = "approval"
    RESPONSIBILITY = "responsibility"
    REJECTION = "rejection"


class Refusal(StrEnum):
    """Stable codes for every refusal, so that the CLI, the audit trail and tests can tell them apart."""

    UNKNOWN_USER = "unknown_user"
    WRONG_KEY = "wrong_key"
    MISSING_ROLE = "missing_role"
    SEPARATION_OF_DUTIES = "separation_of_duties"
    OTHER_RECORD = "other_record"
    REPLAYED = "replayed"
    TAMPERED = "tampered"
    PRINTED_NAME_MISMATCH = "printed_name_mismatch"
    WEAK_PASSPHRASE = "weak_passphrase"
    WRONG_PASSPHRASE = "wrong_passphrase"
    INVALID_KEY = "invalid_key"
    ROLES_NOT_RECORDED = "roles_not_recorded"
    ROLES_NOT_APPROVED = "roles_not_approved"
    OTHER_ROLES = "other_roles"
    CLOCK_SKEW = "clock_skew"


class SignatureRefused(Exception):
    """A signature that must not count, or a key that must not be used; `message` is written for a person."""

    def __init__(self, code: Refusal | str, message: str) -> None:
        super().__init__(message)
        self.code = Refusal(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code.value}]"


# Keys ------------------------------------------------------------------------------------------------------------


def create_key_pair(passphrase: str) -> tuple[bytes, str]:
    """A new Ed25519 key pair: (PKCS#8 PEM encrypted with the passphrase, OpenSSH public key line)."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise SignatureRefused(
            Refusal.WEAK_PASSPHRASE,
            f"The passphrase has {len(passphrase)} characters; at least {MIN_PASSPHRASE_LENGTH} are required, "
            "because it is the second component of the signature.",
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    return pem, public_key_line(key.public_key())


def load_private_key(pem: bytes, passphrase: str) -> Ed25519PrivateKey:
    """The private key, unlocked; an unencrypted or non-Ed25519 key file is refused, not silently accepted."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode())
    except TypeError as exc:  # cryptography's signal that the PEM is not encrypted
        raise SignatureRefused(
            Refusal.INVALID_KEY, "The private key file is not protected by a passphrase, so it cannot be used to sign."
        ) from exc
    except ValueError as exc:
        if b"ENCRYPTED" in pem:
            raise SignatureRefused(
                Refusal.WRONG_PASSPHRASE, "The passphrase is wrong: it does not unlock this private key file."
            ) from exc
        raise SignatureRefused(Refusal.INVALID_KEY, f"The private key file cannot be read: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureRefused(
            Refusal.INVALID_KEY, f"The private key file holds a {type(key).__name__}, not an Ed25519 key."
        )
    return key


def public_key_line(key: Ed25519PublicKey) -> str:
    """The OpenSSH line of a public key, without comment: the form the roles file holds."""
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """``SHA256:<base64>`` as ``ssh-keygen -lf`` prints it, so a person can match a signature to their key."""
    blob = base64.b64decode(public_key_line(key).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# Signatures ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditHead:
    """The audit trail's head when the signature was made, so the signature has a place in the trail's order."""

    seq: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditHead:
        if not isinstance(data, dict) or set(data) != {"seq", "hash"}:
            raise ValueError(f"audit_head must be a mapping with exactly 'seq' and 'hash', got {data!r}")
        if not isinstance(data["seq"], int) or isinstance(data["seq"], bool) or not isinstance(data["hash"], str):
            raise ValueError(f"audit_head must have an integer seq and a string hash, got {data!r}")
        return cls(seq=data["seq"], hash=data["hash"])


@dataclass(frozen=True)
class Signature:
    """One signed statement; `signature` is base64 Ed25519 over the canonical JSON of every other field."""

    signature_id: str
    user_id: str
    printed_name: str
    meaning: Meaning
    reason: str
    signed_at: str  # ISO 8601, UTC
    record_hash: str
    audit_head: AuditHead | None
    key_fingerprint: str
    signature: str
    #: SHA-256 (``Roles.digest()``) of the roles file the signer was checked against; signed with the rest.
    #: None only in signatures made before roles were recorded: they are readable, and refused (roles_not_recorded).
    roles_sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "meaning", Meaning(self.meaning))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["meaning"] = self.meaning.value
        data["audit_head"] = self.audit_head.to_dict() if self.audit_head is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """Strict: a missing or unknown key is an error, since an unknown key would not be covered by the signature."""
        expected = {field.name for field in fields(cls)}
        if not isinstance(data, dict):
            raise ValueError(f"a signature must be a mapping, got {type(data).__name__}")
        data = {"roles_sha256": None, **data}  # older signatures carry no roles hash (and do not count)
        missing, unknown = expected - set(data), set(data) - expected
        if missing or unknown:
            raise ValueError(f"signature fields do not match: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for name in expected - {"audit_head", "roles_sha256"}:
            if not isinstance(data[name], str):
                raise ValueError(f"signature field {name!r} must be a string, got {type(data[name]).__name__}")
        if data["roles_sha256"] is not None and not _SHA256_HEX.match(str(data["roles_sha256"])):
            raise ValueError("signature field 'roles_sha256' must be a SHA-256 hex digest or absent")
        head = data["audit_head"]
        values = {**data, "audit_head": AuditHead.from_dict(head) if head is not None else None}
        return cls(**values)

    def signed_payload(self) -> bytes:
        """The exact bytes the signature covers."""
        data = self.to_dict()
        del data["signature"]
        if data["roles_sha256"] is None:  # the bytes older signatures were made over
            del data["roles_sha256"]
        return canonical_json(data)

    def manifestation(self, recorded_at: str | None = None) -> str:
        """The human-readable form §11.50 asks for wherever the signed record is displayed or printed; the time is
        the system's ``recorded_at`` when known (the signer's own clock is only checked against it)."""
        moment = recorded_at or self.signed_at
        when = datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"Signed by {self.printed_name} ({self.user_id}) on {when}"
            f" — meaning: {self.meaning.value} — reason: {self.reason}"
        )


def sign(
    record_hash: str,
    meaning: Meaning | str,
    reason: str,
    user: RoleEntry,
    private_key: Ed25519PrivateKey,
    audit_head: AuditHead | None = None,
    now: datetime | None = None,
    roles_sha256: str | None = None,
) -> Signature:
    """Sign the hash of a canonical model record as `user`; refuses a key that is not the user's registered one."""
    if not _SHA256_HEX.match(record_hash):
        raise ValueError(f"record_hash must be a lowercase SHA-256 hex digest, got {record_hash!r}")
    if not reason.strip():
        raise ValueError("a signature needs a reason; it is part of what the signer attests")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware; a signing time without a zone is ambiguous")
    fingerprint = key_fingerprint(private_key.public_key())
    if fingerprint != key_fingerprint(user.key()):
        raise SignatureRefused(
            Refusal.WRONG_KEY,
            f"This private key ({fingerprint}) is not the key registered for {user.user_id} in the roles file.",
        )
    unsigned = Signature(
        signature_id=uuid.uuid4().hex,
        user_id=user.user_id,
        printed_name=user.printed_name,
        meaning=Meaning(meaning),
        reason=reason,
        signed_at=now.astimezone(UTC).isoformat(timespec="microseconds"),
        record_hash=record_hash,
        audit_head=audit_head,
        key_fingerprint=fingerprint,
        signature="",
        roles_sha256=roles_sha256,
    )
    value = base64.b64encode(private_key.sign(unsigned.signed_payload())).decode()
    return replace(unsigned, signature=value)


def verify_signature(
    signature: Signature,
    record_hash: str,
    roles: Roles,
    *,
    required_role: str | None,
    trainer_user_id: str | None,
    used_signature_ids: set[str],
) -> None:
    """Accept the signature for this record or raise `SignatureRefused`; integrity first, then the rest."""
    if required_role is not None and required_role not in KNOWN_ROLES:
        raise ValueError(f"unknown required_role {required_role!r}; known roles: {', '.join(sorted(KNOWN_ROLES))}")
    who = f"Signature {signature.signature_id} by {signature.user_id}"
    user = roles.user(signature.user_id)
    if user is None:
        raise SignatureRefused(Refusal.UNKNOWN_USER, f"{who} is refused: {signature.user_id} is not in the roles file.")
    registered = user.key()
    if signature.key_fingerprint != key_fingerprint(registered):
        raise SignatureRefused(
            Refusal.WRONG_KEY,
            f"{who} is refused: it was made with key {signature.key_fingerprint}, not with the key the roles file "
            f"registers for {user.user_id} ({key_fingerprint(registered)}).",
        )
    try:
        registered.verify(base64.b64decode(signature.signature, validate=True), signature.signed_payload())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureRefused(
            Refusal.TAMPERED,
            f"{who} is refused: it does not verify with {user.user_id}'s key, so a signed field was changed after "
            "signing.",
        ) from exc
    if signature.roles_sha256 is not None and signature.roles_sha256 != roles.digest():
        raise SignatureRefused(
            Refusal.OTHER_ROLES,
            f"{who} is refused: it was checked against roles file {signature.roles_sha256[:12]}, not against "
            f"{roles.digest()[:12]}.",
        )
    if signature.printed_name != user.printed_name:
        raise SignatureRefused(
            Refusal.PRINTED_NAME_MISMATCH,
            f"{who} is refused: it shows the name {signature.printed_name!r}, but the roles file names "
            f"{user.user_id} {user.printed_name!r}.",
        )
    if signature.record_hash != record_hash:
        raise SignatureRefused(
            Refusal.OTHER_RECORD,
            f"{who} is refused: it was given for record {signature.record_hash}, not for record {record_hash}; "
            "a signature cannot be moved to another record.",
        )
    if signature.signature_id in used_signature_ids:
        raise SignatureRefused(
            Refusal.REPLAYED, f"{who} is refused: it has already been used once and cannot be presented again."
        )
    if required_role is not None and not user.has_role(required_role):
        held = ", ".join(role.value for role in user.roles)
        raise SignatureRefused(
            Refusal.MISSING_ROLE,
            f"{who} is refused: this step needs the role {required_role}, and {user.user_id} holds only {held}.",
        )
    if trainer_user_id is not None and trainer_user_id == signature.user_id:
        raise SignatureRefused(
            Refusal.SEPARATION_OF_DUTIES,
            f"{who} is refused: {user.user_id} launched the training run and cannot also sign off on its model.",
        )


def roles_for(signature: Signature, approved: Mapping[str, Roles]) -> Roles:
    """The approved roles file a signature says it was made under; refused when it names none or an unapproved one."""
    who = f"Signature {signature.signature_id} by {signature.user_id}"
    if signature.roles_sha256 is None:
        raise SignatureRefused(
            Refusal.ROLES_NOT_RECORDED,
            f"{who} is refused: it does not record which roles file it was checked against (made before roles "
            "files were controlled); sign again.",
        )
    roles = approved.get(signature.roles_sha256)
    if roles is None:
        raise SignatureRefused(
            Refusal.ROLES_NOT_APPROVED,
            f"{who} is refused: its roles file {signature.roles_sha256[:12]} was never approved by the plan's role "
            "administrator.",
        )
    return roles


def check_signing_time(signature: Signature, now: datetime, tolerance: timedelta) -> None:
    """The system's clock decides: a signature whose own time is further than ``tolerance`` from ``now`` is refused."""
    try:
        claimed = datetime.fromisoformat(signature.signed_at)
    except ValueError as exc:
        raise SignatureRefused(Refusal.CLOCK_SKEW, f"signed_at {signature.signed_at!r} is not a time") from exc
    if claimed.tzinfo is None or abs(now - claimed) > tolerance:
        raise SignatureRefused(
            Refusal.CLOCK_SKEW,
            f"Signature {signature.signature_id} by {signature.user_id} is refused: it says it was signed at "
            f"{signature.signed_at}, but the system time is {now.astimezone(UTC).isoformat(timespec='seconds')} "
            f"(tolerance {tolerance}).",
        )
