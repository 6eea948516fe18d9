"""The landing zone: the folder where batch files of reports, and files of adjudicated labels, arrive.

A file is taken only once it has settled: hidden files and the temporary names that copy tools and browsers
use are ignored, and a file modified within the last ``settle_seconds`` is presumed to be still being written.
Writers that can should write under a temporary name and rename when done; the settle time covers the rest.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from gxp_assets.core.hashing import sha256_file
from gxp_assets.core.loaders import CONTRACT_SUFFIXES
from gxp_assets.stores.local import default_home

REPORTS, ADJUDICATIONS = "reports", "adjudications"
TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart", ".swp")
DEFAULT_SETTLE_SECONDS = 10.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
KEY_HASH_DIGITS = 12
#: Reasons starting with this are refusals (never taken, audited), not files still waiting to settle.
REFUSED = "refused: "


def refusal(path: Path) -> str | None:
    """Why an entry of the landing folder is never taken, or None for a regular file; nothing is followed."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return f"{REFUSED}it vanished while the folder was read"
    if stat.S_ISLNK(mode):
        return f"{REFUSED}a symbolic link (to {os.readlink(path)!r}); links are never followed"
    if stat.S_ISDIR(mode):
        return f"{REFUSED}a sub-folder; only files directly in the landing folder are taken"
    if not stat.S_ISREG(mode):
        return f"{REFUSED}not a regular file (a device, pipe or socket)"
    return None


@dataclass(frozen=True)
class LandedFile:
    path: Path
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


def batch_key(file_name: str, sha256: str) -> str:
    """A partition key people can read (the file name) that stays unique per content (a hash prefix)."""
    return f"{_UNSAFE.sub('_', file_name)[:80]}-{sha256[:KEY_HASH_DIGITS]}"


class LocalLandingZone:
    """``<root>/reports/`` takes batches to score, ``<root>/adjudications/`` takes labels people gave them."""

    def __init__(self, root: Path | str | None = None, settle_seconds: float = DEFAULT_SETTLE_SECONDS) -> None:
        self.root = Path(root).resolve() if root else default_home() / "landing"
        self.settle_seconds = settle_seconds
        for kind in (REPORTS, ADJUDICATIONS):
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def folder(self, kind: str) -> Path:
        if kind not in (REPORTS, ADJUDICATIONS):
            raise ValueError(f"the landing zone has no {kind!r} folder; use {REPORTS!r} or {ADJUDICATIONS!r}")
        return self.root / kind

    def scan(self, kind: str, now: float | None = None) -> tuple[list[LandedFile], dict[str, str]]:
        """Settled regular files in name order, and why each other entry was left alone (name -> reason; reasons
        starting with ``REFUSED`` are links, sub-folders and devices, which are never taken nor followed)."""
        now = time.time() if now is None else now
        ready: list[LandedFile] = []
        waiting: dict[str, str] = {}
        for path in sorted(self.folder(kind).iterdir()):
            if path.name.startswith("."):
                continue
            if refused := refusal(path):
                waiting[path.name] = refused
                continue
            suffix = path.suffix.lower()
            if suffix in TEMPORARY_SUFFIXES:
                waiting[path.name] = "temporary name: still being written"
                continue
            if suffix not in CONTRACT_SUFFIXES:
                waiting[path.name] = f"unsupported type; expected one of {sorted(CONTRACT_SUFFIXES)}"
                continue
            status = path.lstat()
            age = now - status.st_mtime_ns / 1e9
            if age < self.settle_seconds:
                waiting[path.name] = f"modified {age:.1f} s ago: waiting {self.settle_seconds:g} s for it to settle"
                continue
            ready.append(LandedFile(path, status.st_size, status.st_mtime_ns))
        return ready, waiting

    def pull(self) -> list[str]:
        """Bring in what a queue announced (the aws zone); a local folder needs nothing: no receipts."""
        return []

    def acknowledge(self, receipts: list[str]) -> None:
        """Forget announcements once their runs are requested (the aws zone deletes the queue messages)."""

    def locate(self, key: str) -> Path:
        """The batch file behind a partition key; its content must still hash to the key."""
        for path in sorted(self.folder(REPORTS).iterdir()):
            if refusal(path) is None and key.startswith(_UNSAFE.sub("_", path.name)[:80] + "-"):
                if batch_key(path.name, sha256_file(path)) == key:
                    return path
        raise FileNotFoundError(
            f"no file in {self.folder(REPORTS)} matches batch {key!r}: it was removed or its content changed"
        )
