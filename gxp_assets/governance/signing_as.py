"""One person signs one record with their own key: the path `gxp approve` and the review console share.

The key is unlocked with the passphrase here and nowhere else, every refusal (unknown user, wrong passphrase, wrong
key) is audited against the subject, and the signature names the audit head and the roles file in force.
"""

from __future__ import annotations

from gxp_assets.governance.roles import RoleEntry
from gxp_assets.governance.service import Governance
from gxp_assets.governance.signatures import (
    Meaning,
    Refusal,
    Signature,
    SignatureRefused,
    key_fingerprint,
    load_private_key,
    sign,
)


def known_signer(governance: Governance, user_id: str, subject: str) -> RoleEntry:
    """The user's roles-file entry; an unknown user is refused and audited."""
    user = governance.roles.user(user_id)
    if user is None:
        message = f"{user_id} is not in the roles file, so cannot sign"
        governance.refuse(user_id, subject, Refusal.UNKNOWN_USER.value, message)
        raise SignatureRefused(Refusal.UNKNOWN_USER, message)
    return user


def prove_identity(governance: Governance, user_id: str, key_pem: bytes, secret: str, subject: str) -> RoleEntry:
    """Both components of the signature (user id and passphrase) unlock the user's registered key (11.200(a)(1));
    a failure is refused and audited against ``subject``."""
    user = known_signer(governance, user_id, subject)
    try:
        key = load_private_key(key_pem, secret)
        if key_fingerprint(key.public_key()) != key_fingerprint(user.key()):
            raise SignatureRefused(Refusal.WRONG_KEY, f"this key is not the one registered for {user_id}")
    except SignatureRefused as refusal:
        governance.refuse(user_id, subject, str(refusal.code), str(refusal))
        raise
    return user


def sign_as(
    governance: Governance,
    user_id: str,
    key_pem: bytes,
    secret: str,
    subject: str,
    record_hash: str,
    meaning: Meaning,
    reason: str,
) -> Signature:
    """``user_id`` signs ``record_hash`` with their key unlocked by ``secret``; refusals audited against ``subject``."""
    user = known_signer(governance, user_id, subject)
    try:
        private_key = load_private_key(key_pem, secret)
        return sign(record_hash, meaning, reason, user, private_key, governance.audit_head(),
                    roles_sha256=governance.roles.digest())  # fmt: skip
    except SignatureRefused as refusal:
        governance.refuse(user_id, subject, str(refusal.code), str(refusal))
        raise
