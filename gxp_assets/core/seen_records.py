"""What a streamed validation remembers across chunks, in a few dozen bytes per record.

Duplicate report ids, duplicate texts and conflicting labels are judged against every earlier chunk of a batch, so
the validator keeps, per distinct report id, where it was first received, and per distinct text, its label bits and
the record kept. Python dicts of tuples cost some 400 bytes per record (about 400 MB at a million records); here the
earlier chunks live in sorted numpy arrays of 16-byte digests (``searchsorted`` to look up, one ``insert`` per
chunk to add), the places as one integer (file number, line), the kept report ids in one byte buffer.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable

import numpy as np

DIGEST = "S16"
_LINE_BITS = 40  # a place is file number << 40 | line


def digest(value: str) -> bytes:
    """A 16-byte key, so that what is remembered does not grow with the length of texts and ids."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Places:
    """(file, line) pairs as integers, file names stored once."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._files: list[str] = []

    def place(self, file: str, line: int) -> int:
        number = self._numbers.get(file)
        if number is None:
            number = self._numbers[file] = len(self._files)
            self._files.append(file)
        return number << _LINE_BITS | int(line)

    def text(self, place: int) -> str:
        return f"{self._files[place >> _LINE_BITS]}:{place & ((1 << _LINE_BITS) - 1)}"


class DigestTable:
    """Sorted digests of earlier chunks with integer columns beside them; rows found by ``slots``."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.keys = np.empty(0, dtype=DIGEST)
        self.columns = {name: np.empty(0, dtype=np.int64) for name in columns}

    def slots(self, keys: list[bytes]) -> np.ndarray:
        """The row of each key, -1 where the key is not in the table."""
        wanted = np.array(keys, dtype=DIGEST)
        if not len(self.keys) or not len(wanted):
            return np.full(len(wanted), -1, dtype=np.int64)
        found = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return np.where(self.keys[found] == wanted, found, -1)

    def add(self, rows: dict[bytes, tuple[int, ...]]) -> None:
        """New keys (none already in the table) with their column values, in column order."""
        if not rows:
            return
        keys = np.array(list(rows), dtype=DIGEST)
        values = np.array(list(rows.values()), dtype=np.int64).reshape(len(rows), len(self.columns))
        order = np.argsort(keys, kind="stable")
        at = np.searchsorted(self.keys, keys[order])
        self.keys = np.insert(self.keys, at, keys[order])
        for index, name in enumerate(self.columns):
            self.columns[name] = np.insert(self.columns[name], at, values[order, index])


class Strings:
    """Append-only strings in one buffer, each read back by its number."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._ends = array("q")

    def add(self, value: str) -> int:
        self._buffer += value.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._buffer))
        return len(self._ends) - 1

    def get(self, number: int) -> str:
        start = self._ends[number - 1] if number else 0
        return self._buffer[start : self._ends[number]].decode("utf-8", "surrogatepass")
