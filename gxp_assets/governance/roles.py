"""The roles file: who may sign, with which key and in which roles (21 CFR Part 11 §11.100, §11.300).

The file is YAML kept in the repository and reviewed like code, so that a change to who may approve a model is
itself a visible, approved diff. Its shape::

    users:
      - user_id: jdoe
        printed_name: Jane Doe
        roles: [qa_reviewer]
        public_key: ssh-ed25519 AAAAC3Nz... jdoe

Public keys are OpenSSH Ed25519 lines (``ssh-ed25519 <base64> [comment]``), the format ``gxp keys create`` prints and
the one ``ssh-keygen -lf`` can fingerprint, so a person can check their own key by eye.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gxp_assets.core.hashing import canonical_json, sha256_hex


class Role(StrEnum):
    """Roles a person can hold; add a member here to add a role, nothing else needs to change."""

    DATA_SCIENTIST = "data_scientist"
    QA_REVIEWER = "qa_reviewer"
    PV_PHYSICIAN = "pv_physician"
    MODEL_OWNER = "model_owner"
    QUALIFIED_PERSON = "qualified_person"  # certifies manufactured batches (EU GMP Annex 16)


KNOWN_ROLES: frozenset[str] = frozenset(role.value for role in Role)


class RolesFileError(ValueError):
    """A roles file that cannot be used; names the file and every problem so the reviewer can fix it in one go."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: invalid roles file: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The Ed25519 key of an OpenSSH public key line; anything else is refused so no weaker key type slips in."""
    try:
        key = serialization.load_ssh_public_key(text.strip().encode())
    except (ValueError, UnicodeError) as exc:
        raise ValueError(f"not an OpenSSH public key line ('ssh-ed25519 <base64>'): {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"expected an ssh-ed25519 key, got a {type(key).__name__}")
    return key


def _public_key_line(key: Ed25519PublicKey) -> str:
    """The comment-free OpenSSH line of a key: the form two entries are compared in."""
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


class RoleEntry(BaseModel):
    """One person: the identity a signature names, the roles they hold and the key that proves it was them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str = Field(min_length=1, pattern=r"^\S+$")
    printed_name: str = Field(min_length=1)
    roles: tuple[Role, ...] = Field(min_length=1)
    public_key: str

    @field_validator("printed_name")
    @classmethod
    def _trimmed_name(cls, value: str) -> str:
        # Names are compared exactly at verification; stray spaces would make a valid signature look forged.
        if value != value.strip():
            raise ValueError("printed_name must not start or end with spaces")
        return value

    @field_validator("roles", mode="before")
    @classmethod
    def _known_roles(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError("roles must be a list of role names")
        unknown = [name for name in value if not isinstance(name, str) or name not in KNOWN_ROLES]
        if unknown:
            raise ValueError(
                f"unknown role(s) {', '.join(map(repr, unknown))}; known roles: {', '.join(sorted(KNOWN_ROLES))}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a role is listed twice")
        return value

    @field_validator("public_key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        parse_public_key(value)
        return value.strip()

    def key(self) -> Ed25519PublicKey:
        return parse_public_key(self.public_key)

    def has_role(self, role: str) -> bool:
        return role in self.roles


class Roles(BaseModel):
    """The whole roles file; user ids and keys are unique, since a signature must be attributable to one person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[RoleEntry, ...]

    @model_validator(mode="after")
    def _unique(self) -> Roles:
        problems: list[str] = []
        seen_ids: dict[str, int] = {}
        seen_keys: dict[str, str] = {}
        for index, entry in enumerate(self.users):
            if entry.user_id in seen_ids:
                problems.append(
                    f"duplicate user_id {entry.user_id!r} (users[{seen_ids[entry.user_id]}] and users[{index}])"
                )
            seen_ids.setdefault(entry.user_id, index)
            line = _public_key_line(entry.key())
            if line in seen_keys and seen_keys[line] != entry.user_id:
                problems.append(f"users {seen_keys[line]!r} and {entry.user_id!r} share one public key")
            seen_keys.setdefault(line, entry.user_id)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def user(self, user_id: str) -> RoleEntry | None:
        return next((entry for entry in self.users if entry.user_id == user_id), None)

    def digest(self) -> str:
        """SHA-256 of the content, not the YAML layout, so an approval can record the roles it was checked against."""
        return sha256_hex(canonical_json(self.model_dump(mode="json")))


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return problems


#: Roles files parsed in this process, by their text: a server reads the file in force on every request (a change
#: takes effect at once) but parses each distinct content once. Roles are frozen.
_PARSED: dict[str, Roles] = {}


def parse_roles(text: str, source: str = "<roles>") -> Roles:
    """Roles from YAML text; every problem becomes one readable line of a `RolesFileError`."""
    if (known := _PARSED.get(text)) is not None:
        return known
    roles = _parse_roles(text, source)
    if len(_PARSED) >= 16:
        _PARSED.clear()
    _PARSED[text] = roles
    return roles


def _parse_roles(text: str, source: str) -> Roles:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RolesFileError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise RolesFileError(source, ["expected a mapping with a 'users' list at the top level"])
    try:
        return Roles.model_validate(data)
    except ValidationError as exc:
        raise RolesFileError(source, _problems(exc)) from exc


def load_roles(path: str | Path) -> Roles:
    path = Path(path)
    return parse_roles(path.read_text(encoding="utf-8"), source=str(path))
