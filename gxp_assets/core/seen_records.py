"""What a streamed validation remembers across chunks, in a few dozen bytes per record.

Duplicate report ids, duplicate texts and conflicting labels are judged against every earlier chunk of a batch, so
the validator keeps, per distinct report id, where it was first received, and per distinct text, its label bits and
the record kept. Python dicts of tuples cost some 400 bytes per record (about 400 MB at a million records); here the
earlier chunks live in sorted numpy arrays of 16-byte digests (``searchsorted`` to look up, one ``insert`` per
chunk to add), the places as one integer (file number, line), the kept report ids in one byte buffer.
:class:`Candidates` is what those checks need of one chunk's records, so that a chunk checked elsewhere (a Spark
executor) sends only that.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

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

    def places(self, files: list[str], lines: list[int]) -> list[int]:
        """``place`` of each (file, line); files are numbered in the order they first appear, as by ``place``."""
        numbers = {file: self.place(file, 0) >> _LINE_BITS for file in dict.fromkeys(files)}
        return [numbers[file] << _LINE_BITS | int(line) for file, line in zip(files, lines, strict=True)]

    def text(self, place: int) -> str:
        return f"{self._files[place >> _LINE_BITS]}:{place & ((1 << _LINE_BITS) - 1)}"


class DigestTable:
    """Sorted digests of earlier chunks with integer columns beside them; rows found by ``slots``."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.keys = np.empty(0, dtype=DIGEST)
        self.columns = {name: np.empty(0, dtype=np.int64) for name in columns}

    def slots(self, keys: list[bytes] | np.ndarray) -> np.ndarray:
        """The row of each key, -1 where the key is not in the table."""
        wanted = np.array(keys, dtype=DIGEST)
        if not len(self.keys) or not len(wanted):
            return np.full(len(wanted), -1, dtype=np.int64)
        found = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return np.where(self.keys[found] == wanted, found, -1)

    def add_rows(self, keys: np.ndarray, values: np.ndarray) -> None:
        """New keys (none already in the table) with one row of column values each, in column order."""
        if not len(keys):
            return
        keys = np.asarray(keys, dtype=DIGEST)
        values = np.asarray(values, dtype=np.int64).reshape(len(keys), len(self.columns))
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

    def extend(self, values: list[str]) -> np.ndarray:
        """``add`` of each value, in order: their numbers."""
        first = len(self._ends)
        encoded = [value.encode("utf-8", "surrogatepass") for value in values]
        self._buffer += b"".join(encoded)
        ends = np.cumsum([len(value) for value in encoded], dtype=np.int64) + (self._ends[-1] if first else 0)
        self._ends.extend(ends.tolist())
        return np.arange(first, first + len(values), dtype=np.int64)

    def get(self, number: int) -> str:
        start = self._ends[number - 1] if number else 0
        return self._buffer[start : self._ends[number]].decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Candidates:
    """What the checks across records need of the rows that passed the record checks, in intake order: a few
    values per record, so a chunk checked elsewhere (a Spark executor) sends only these to the one validator."""

    seqs: list[int]
    report_ids: list[str]
    id_keys: list[bytes]  # digest of the report id
    text_keys: list[bytes]  # digest of the normalised text
    labels: list[int | None]
    files: list[str]
    lines: list[int]

    def to_frame(self) -> pd.DataFrame:
        labels = [-1 if label is None else label for label in self.labels]
        return pd.DataFrame({"intake_seq": pd.Series(self.seqs, dtype="int64"),
                             "report_id": pd.Series(self.report_ids, dtype=object),
                             "id_key": pd.Series(self.id_keys, dtype=object),
                             "text_key": pd.Series(self.text_keys, dtype=object),
                             "label": pd.Series(labels, dtype="int64"),
                             "source_file": pd.Series(self.files, dtype=object),
                             "source_line": pd.Series(self.lines, dtype="int64")})  # fmt: skip

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Candidates:
        labels = [None if label < 0 else label for label in frame["label"].tolist()]
        return cls(frame["intake_seq"].tolist(), frame["report_id"].tolist(), frame["id_key"].tolist(),
                   frame["text_key"].tolist(), labels, frame["source_file"].tolist(),
                   frame["source_line"].tolist())  # fmt: skip
