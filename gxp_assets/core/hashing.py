"""Hashes and canonical encodings: one definition, so that every layer agrees on what a hash means."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, BinaryIO

_BLOCK = 1 << 20


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file read in blocks, so a file of any size hashes in constant memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def sha256_copy(source: Path | BinaryIO, destination: BinaryIO) -> str:
    """Copy a file (a path, or a handle already open) in blocks and return the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    with open(source, "rb") if isinstance(source, Path | str) else source as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
            destination.write(block)
    return digest.hexdigest()


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace, so equal values always give equal bytes (and equal hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def unit_interval(*parts: str) -> float:
    """A deterministic, platform-independent number in [0, 1) from strings: the basis of seeded hash splits."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
