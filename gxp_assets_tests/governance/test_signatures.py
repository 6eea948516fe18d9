"""Electronic signatures and roles: real Ed25519 keys, a real roles file, and every refusal by its code."""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.governance.roles import Roles, RolesFileError, load_roles
from gxp_assets.governance.signatures import (
    AuditHead,
    Meaning,
    Refusal,
    Signature,
    SignatureRefused,
    create_key_pair,
    key_fingerprint,
    load_private_key,
    sign,
    verify_signature,
)

PASSPHRASE = "correct horse battery staple"
RECORD = sha256_hex(canonical_json({"model": "pv-triage", "version": 3, "metrics": {"auroc": 0.93}}))
OTHER_RECORD = sha256_hex(canonical_json({"model": "pv-triage", "version": 4, "metrics": {"auroc": 0.91}}))
SIGNED_AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    user_id: str
    printed_name: str
    roles: list[str]
    pem: bytes
    public_key: str


def _person(user_id: str, printed_name: str, roles: list[str]) -> Person:
    pem, public_key = create_key_pair(PASSPHRASE)
    return Person(user_id, printed_name, roles, pem, public_key)


@pytest.fixture(scope="module")
def people() -> dict[str, Person]:
    return {
        "ds": _person("dsmith", "Dana Smith", ["data_scientist"]),
        "qa": _person("qjones", "Quinn Jones", ["qa_reviewer"]),
        "md": _person("mgarcia", "María García", ["pv_physician", "model_owner"]),
    }


def _write_roles(path: Path, people: list[Person]) -> Path:
    entries = [
        {"user_id": p.user_id, "printed_name": p.printed_name, "roles": p.roles, "public_key": p.public_key}
        for p in people
    ]
    path.write_text(yaml.safe_dump({"users": entries}, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def roles(tmp_path: Path, people: dict[str, Person]) -> Roles:
    return load_roles(_write_roles(tmp_path / "roles.yaml", list(people.values())))


def _sign(person: Person, roles: Roles, meaning: Meaning = Meaning.APPROVAL, record: str = RECORD) -> Signature:
    user = roles.user(person.user_id)
    assert user is not None
    key = load_private_key(person.pem, PASSPHRASE)
    return sign(record, meaning, "Acceptance criteria of plan v2 met", user, key, AuditHead(41, "ab" * 32), SIGNED_AT)


def _refusal(
    signature: Signature,
    roles: Roles,
    *,
    record: str = RECORD,
    required_role: str | None = None,
    trainer: str | None = None,
    used: set[str] | None = None,
) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as caught:
        verify_signature(
            signature,
            record,
            roles,
            required_role=required_role,
            trainer_user_id=trainer,
            used_signature_ids=used or set(),
        )
    return caught.value


# Keys ------------------------------------------------------------------------------------------------------------


def test_key_pair_is_encrypted_ed25519_with_openssh_public_key(people: dict[str, Person]) -> None:
    person = people["qa"]
    assert person.pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert person.public_key.startswith("ssh-ed25519 ")
    key = load_private_key(person.pem, PASSPHRASE)
    assert isinstance(key, Ed25519PrivateKey)
    assert key_fingerprint(key.public_key()).startswith("SHA256:")


def test_short_passphrase_is_refused() -> None:
    with pytest.raises(SignatureRefused) as caught:
        create_key_pair("elevenchars")
    assert caught.value.code == Refusal.WEAK_PASSPHRASE
    assert "12" in caught.value.message


def test_wrong_passphrase_is_refused(people: dict[str, Person]) -> None:
    with pytest.raises(SignatureRefused) as caught:
        load_private_key(people["qa"].pem, "not the right passphrase")
    assert caught.value.code == "wrong_passphrase"
    assert "passphrase is wrong" in caught.value.message


def test_unencrypted_key_file_is_refused() -> None:
    plain = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SignatureRefused) as caught:
        load_private_key(plain, PASSPHRASE)
    assert caught.value.code == Refusal.INVALID_KEY


# Happy path ------------------------------------------------------------------------------------------------------


def test_two_users_with_different_roles_sign_and_both_verify(people: dict[str, Person], roles: Roles) -> None:
    review = _sign(people["qa"], roles, Meaning.REVIEW)
    approval = _sign(people["md"], roles, Meaning.APPROVAL)
    used: set[str] = set()
    verify_signature(
        review, RECORD, roles, required_role="qa_reviewer", trainer_user_id="dsmith", used_signature_ids=used
    )
    used.add(review.signature_id)
    verify_signature(
        approval, RECORD, roles, required_role="model_owner", trainer_user_id="dsmith", used_signature_ids=used
    )
    assert review.signature_id != approval.signature_id
    assert review.user_id == "qjones" and approval.printed_name == "María García"
    assert review.record_hash == approval.record_hash == RECORD
    assert review.audit_head == AuditHead(41, "ab" * 32)


def test_signature_survives_a_json_round_trip(people: dict[str, Person], roles: Roles) -> None:
    signature = _sign(people["qa"], roles)
    restored = Signature.from_dict(json.loads(json.dumps(signature.to_dict())))
    assert restored == signature
    verify_signature(restored, RECORD, roles, required_role=None, trainer_user_id=None, used_signature_ids=set())


def test_signed_at_is_utc_even_when_now_is_not(people: dict[str, Person], roles: Roles) -> None:
    user = roles.user("qjones")
    assert user is not None
    key = load_private_key(people["qa"].pem, PASSPHRASE)
    local = SIGNED_AT.astimezone(timezone(timedelta(hours=-5)))
    signature = sign(RECORD, Meaning.REVIEW, "Reviewed", user, key, None, local)
    assert signature.signed_at == "2026-03-14T09:26:53.000000+00:00"
    assert signature.audit_head is None


def test_manifestation_names_person_utc_time_and_meaning(people: dict[str, Person], roles: Roles) -> None:
    text = _sign(people["md"], roles, Meaning.RESPONSIBILITY).manifestation()
    assert text == (
        "Signed by María García (mgarcia) on 2026-03-14 09:26:53 UTC"
        " — meaning: responsibility — reason: Acceptance criteria of plan v2 met"
    )


# Refusals --------------------------------------------------------------------------------------------------------


def test_unknown_user(people: dict[str, Person], roles: Roles, tmp_path: Path) -> None:
    signature = _sign(people["qa"], roles)
    without_qa = load_roles(_write_roles(tmp_path / "fewer.yaml", [people["ds"], people["md"]]))
    refusal = _refusal(signature, without_qa)
    assert refusal.code == Refusal.UNKNOWN_USER
    assert "qjones is not in the roles file" in refusal.message


def test_wrong_key_signed_with_another_persons_key(people: dict[str, Person], roles: Roles) -> None:
    qa = roles.user("qjones")
    assert qa is not None
    # Quinn's roles entry, Dana's key: sign() itself refuses, and so does verification of a forged signature.
    forger_key = load_private_key(people["ds"].pem, PASSPHRASE)
    with pytest.raises(SignatureRefused) as at_signing:
        sign(RECORD, Meaning.APPROVAL, "Looks fine", qa, forger_key, None, SIGNED_AT)
    assert at_signing.value.code == Refusal.WRONG_KEY
    forged = _forge(_sign(people["qa"], roles), forger_key, key_fingerprint=key_fingerprint(forger_key.public_key()))
    refusal = _refusal(forged, roles)
    assert refusal.code == Refusal.WRONG_KEY
    assert "not with the key the roles file registers for qjones" in refusal.message


def test_wrong_key_even_when_the_fingerprint_is_forged(people: dict[str, Person], roles: Roles) -> None:
    # The forger copies the right fingerprint but cannot make a signature that verifies with the right key.
    forger_key = load_private_key(people["ds"].pem, PASSPHRASE)
    forged = _forge(_sign(people["qa"], roles), forger_key)
    assert _refusal(forged, roles).code == Refusal.TAMPERED


def test_missing_role(people: dict[str, Person], roles: Roles) -> None:
    refusal = _refusal(_sign(people["qa"], roles), roles, required_role="pv_physician")
    assert refusal.code == Refusal.MISSING_ROLE
    assert "needs the role pv_physician" in refusal.message


def test_separation_of_duties(people: dict[str, Person], roles: Roles) -> None:
    # Dana trains the model; a data scientist signing off their own run is refused even without a role requirement.
    refusal = _refusal(_sign(people["ds"], roles), roles, trainer="dsmith")
    assert refusal.code == Refusal.SEPARATION_OF_DUTIES
    assert "launched the training run" in refusal.message


def test_other_record(people: dict[str, Person], roles: Roles) -> None:
    refusal = _refusal(_sign(people["qa"], roles), roles, record=OTHER_RECORD)
    assert refusal.code == Refusal.OTHER_RECORD
    assert "cannot be moved to another record" in refusal.message


def test_moving_by_editing_record_hash_is_tampering(people: dict[str, Person], roles: Roles) -> None:
    moved = dataclasses.replace(_sign(people["qa"], roles), record_hash=OTHER_RECORD)
    assert _refusal(moved, roles, record=OTHER_RECORD).code == Refusal.TAMPERED


def test_replayed(people: dict[str, Person], roles: Roles) -> None:
    signature = _sign(people["qa"], roles)
    refusal = _refusal(signature, roles, used={signature.signature_id})
    assert refusal.code == Refusal.REPLAYED


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "Approved without review"},
        {"meaning": Meaning.REJECTION},
        {"signed_at": "2026-03-15T09:26:53.000000+00:00"},
        {"audit_head": AuditHead(42, "cd" * 32)},
        {"audit_head": None},
        {"signature_id": "0" * 32},
        {"printed_name": "Someone Else"},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"signature": "%%% not base64 %%%"},
    ],
)
def test_tampered(people: dict[str, Person], roles: Roles, change: dict[str, object]) -> None:
    edited = dataclasses.replace(_sign(people["qa"], roles), **change)
    refusal = _refusal(edited, roles)
    assert refusal.code == Refusal.TAMPERED
    assert "changed after signing" in refusal.message


def test_tampered_in_stored_json(people: dict[str, Person], roles: Roles) -> None:
    stored = _sign(people["qa"], roles).to_dict()
    stored["reason"] = "Edited in the database"
    assert _refusal(Signature.from_dict(stored), roles).code == Refusal.TAMPERED


def test_printed_name_mismatch(people: dict[str, Person], roles: Roles, tmp_path: Path) -> None:
    signature = _sign(people["qa"], roles)
    renamed = dataclasses.replace(people["qa"], printed_name="Quinn Jones-Bauer")
    changed = load_roles(_write_roles(tmp_path / "renamed.yaml", [people["ds"], renamed, people["md"]]))
    refusal = _refusal(signature, changed)
    assert refusal.code == Refusal.PRINTED_NAME_MISMATCH
    assert "Quinn Jones-Bauer" in refusal.message


def test_from_dict_rejects_unknown_fields(people: dict[str, Person], roles: Roles) -> None:
    data = _sign(people["qa"], roles).to_dict() | {"comment": "not covered by the signature"}
    with pytest.raises(ValueError, match="unknown"):
        Signature.from_dict(data)


def _forge(signature: Signature, key: Ed25519PrivateKey, **changes: str) -> Signature:
    """Re-sign a (possibly edited) signature with another key, as a forger who holds only their own key would."""
    unsigned = dataclasses.replace(signature, **changes)
    return dataclasses.replace(unsigned, signature=base64.b64encode(key.sign(unsigned.signed_payload())).decode())


# Roles file ------------------------------------------------------------------------------------------------------


def test_roles_file_lookup(roles: Roles) -> None:
    owner = roles.user("mgarcia")
    assert owner is not None and owner.has_role("model_owner") and owner.has_role("pv_physician")
    assert not owner.has_role("qa_reviewer")
    assert roles.user("nobody") is None
    assert len(roles.digest()) == 64


def test_duplicate_user_id_is_named(people: dict[str, Person], tmp_path: Path) -> None:
    twin = dataclasses.replace(people["md"], user_id="qjones")
    path = _write_roles(tmp_path / "roles.yaml", [people["qa"], twin])
    with pytest.raises(RolesFileError, match=r"duplicate user_id 'qjones'") as caught:
        load_roles(path)
    assert str(path) in str(caught.value)


def test_unknown_role_is_named(people: dict[str, Person], tmp_path: Path) -> None:
    typo = dataclasses.replace(people["qa"], roles=["qa_reveiwer"])
    with pytest.raises(RolesFileError, match=r"users\[0\]\.roles: unknown role\(s\) 'qa_reveiwer'; known roles: "):
        load_roles(_write_roles(tmp_path / "roles.yaml", [typo]))


def test_shared_public_key_is_refused(people: dict[str, Person], tmp_path: Path) -> None:
    shared = dataclasses.replace(people["md"], public_key=people["qa"].public_key)
    with pytest.raises(RolesFileError, match="share one public key"):
        load_roles(_write_roles(tmp_path / "roles.yaml", [people["qa"], shared]))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("users: [", "not valid YAML"),
        ("- just a list", "expected a mapping"),
        ("users:\n  - user_id: a\n    printed_name: A\n    roles: [qa_reviewer]\n    public_key: nope\n", "public_key"),
        ("users:\n  - user_id: a\n    printed_name: A\n    roles: []\n    public_key: x\n", "users[0].roles"),
        ("users: []\nadmins: []\n", "admins"),
    ],
)
def test_invalid_roles_file_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RolesFileError) as caught:
        load_roles(path)
    assert problem in str(caught.value)
