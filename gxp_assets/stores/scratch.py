"""Temporary files of writers that can be killed at any moment, and their removal by whoever comes next.

A writer claims a token in a scratch folder and names its temporary files (or folders) ``.<token>.<name>``. The
claim is an exclusive ``flock`` on ``.<token>.lock``, held until the writer is done; the kernel releases it when the
process ends, however it ends (SIGKILL included). :meth:`Scratch.sweep` removes every temporary whose claim is no
longer held, and is called when a store is opened, so the next run cleans up after a killed one.

A claim is created under a shared lock on the folder's ``.sweep.lock`` and a sweep runs under an exclusive one, so a
sweep never sees a claim file that exists but is not locked yet. Nothing here guesses from file ages.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TEMPORARY = re.compile(r"^\.([0-9a-f]{32})\.(.+)$")
_SWEEP_LOCK = ".sweep.lock"


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)


class Claim:
    """A writer's token in a scratch folder; :meth:`path` names its temporary files."""

    def __init__(self, folder: Path, token: str) -> None:
        self.folder, self.token = folder, token

    def path(self, name: str) -> Path:
        return self.folder / f".{self.token}.{name}"


class Scratch:
    """A folder of temporary files, each claimed by a live writer or swept."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def claim(self) -> Iterator[Claim]:
        """A new claim, held until exit; its temporary files are removed on exit whatever happened."""
        claim = Claim(self.folder, uuid.uuid4().hex)
        lock_path = claim.path("lock")
        sweep = _open_lock(self.folder / _SWEEP_LOCK)
        try:
            fcntl.flock(sweep, fcntl.LOCK_SH)  # no sweep runs while the claim is made
            held = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            fcntl.flock(held, fcntl.LOCK_EX)
        finally:
            os.close(sweep)  # releases the shared lock
        try:
            yield claim
        finally:
            for path in self._temporaries(claim.token):
                if path != lock_path:
                    _remove(path)
            lock_path.unlink(missing_ok=True)
            os.close(held)

    def _temporaries(self, token: str) -> list[Path]:
        return [path for path in self.folder.iterdir() if (match := _TEMPORARY.match(path.name)) and match[1] == token]

    def sweep(self) -> list[str]:
        """Remove the temporary files of claims no live process holds; returns their names. Skipped (nothing
        removed) while another sweep or a new claim holds the folder."""
        sweep = _open_lock(self.folder / _SWEEP_LOCK)
        try:
            try:
                fcntl.flock(sweep, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []
            tokens = {match[1] for path in self.folder.iterdir() if (match := _TEMPORARY.match(path.name))}
            removed: list[str] = []
            for token in sorted(tokens):
                if self._held(self.folder / f".{token}.lock"):
                    continue
                for path in sorted(self._temporaries(token), key=lambda path: path.name.endswith(".lock")):
                    _remove(path)  # the claim file last, so a sweep cut short still sees the token
                    removed.append(path.name)
            return removed
        finally:
            os.close(sweep)

    @staticmethod
    def _held(lock_path: Path) -> bool:
        """Whether a live process holds this claim (a claim file that is gone holds nothing)."""
        try:
            descriptor = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descriptor)
        return False


def _remove(path: Path) -> None:
    """A temporary file or folder; a link is removed itself, never followed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
