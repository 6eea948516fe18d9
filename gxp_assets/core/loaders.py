"""Read report files into an intake table that keeps every record as received.

The intake table holds the contract fields as strings (or None) exactly as found, plus where each record came
from and its original bytes. Nothing is typed or judged here: validation does that, so that a bad record becomes a
quarantine row with a reason instead of an exception. Only a file that cannot be read as its format at all raises
:class:`ReportFileError`, naming the file and the line.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, ReportFileError
from gxp_assets.core.hashing import canonical_json, sha256_hex

_SURROGATE = re.compile("[\udc80-\udcff]")
CONTRACT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


@dataclass
class _Record:
    source_file: str
    source_line: int
    raw: bytes
    encoding: str
    fields: dict[str, str | None] = field(default_factory=dict)
    parse_error: str | None = None


def _undecodable(fields: dict[str, str | None]) -> str | None:
    """Describe bytes that were not valid in the file's encoding; they travel as surrogate escapes."""
    for name, value in fields.items():
        if value and _SURROGATE.search(value):
            found = [f"0x{ord(char) - 0xDC00:02X}" for char in dict.fromkeys(_SURROGATE.findall(value))][:3]
            return f"{name} holds bytes {', '.join(found)} that are not valid in the file's encoding"
    return None


def _storable(value: str | None) -> str | None:
    """Parquet needs valid UTF-8; the original bytes stay in the record's raw column."""
    return _SURROGATE.sub("\ufffd", value) if value else value


def decode_file(data: bytes, path: str, declared_encoding: str | None = None) -> tuple[str, str]:
    """Decode without guessing: a BOM or the declared encoding wins, else UTF-8.

    Bytes that are not valid UTF-8 are kept as surrogate escapes, so each record can be re-encoded to exactly its
    original bytes and the records that hold them are quarantined, not the whole file.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError as error:
                line = data[: error.start].count(b"\n") + 1
                problem = f"starts with a {encoding} byte-order mark but is not {encoding}"
                raise ReportFileError(path, line, problem) from error
    if declared_encoding:
        try:
            codecs.lookup(declared_encoding)
        except LookupError as error:
            raise ReportFileError(path, None, f"declared encoding {declared_encoding!r} is unknown") from error
        return data.decode(declared_encoding, errors="surrogateescape"), declared_encoding
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise ReportFileError(
            path, line, "contains NUL bytes: not a text file (declare its encoding if it is UTF-16 without a BOM)"
        )
    return data.decode("utf-8", errors="surrogateescape"), "utf-8"


def _lines(text: str) -> Iterator[str]:
    """Split on newline only: ``str.splitlines`` would also split on form feeds and Unicode separators."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


class _TrackedLines:
    """Feeds lines to ``csv.reader`` and remembers which ones each record consumed."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.consumed: list[str] = []
        self.line_number = 0

    def __iter__(self) -> _TrackedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed.append(line)
        self.line_number += 1
        return line

    def take(self) -> tuple[int, str]:
        """The first line number and the text of the record just read."""
        first = self.line_number - len(self.consumed) + 1
        text = "".join(self.consumed)
        self.consumed = []
        return first, text


def _raw_bytes(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="surrogateescape")


def read_csv_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[_Record]:
    """RFC 4180 CSV with a header row; quoted fields may hold commas, quotes and newlines."""
    text, encoding = decode_file(data, path, declared_encoding)
    csv.field_size_limit(2**31 - 1)  # oversized texts are a validation matter, not a parse failure
    tracked = _TrackedLines(_lines(text))
    reader = csv.reader(tracked)
    try:
        header_row = next(reader, None)
    except csv.Error as error:
        raise ReportFileError(path, tracked.line_number, f"cannot read the CSV header: {error}") from error
    if header_row is None:
        raise ReportFileError(path, 1, "is empty: a CSV file needs a header row")
    header = [name.strip().lower() for name in header_row]
    tracked.take()
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated or not any(header):
        raise ReportFileError(path, 1, f"has an unusable header (duplicated or empty column names: {duplicated})")
    records: list[_Record] = []
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # one broken record (a stray carriage return, say); the reader goes on after it
            row, problem = None, f"not valid CSV: {error}"
        line, raw_text = tracked.take()
        if row == []:  # a blank line holds no record
            continue
        record = _Record(path, line, _raw_bytes(raw_text, encoding), encoding)
        if row is not None and len(row) != len(header):
            problem = f"row has {len(row)} fields where the header has {len(header)}"
        if row is None or len(row) != len(header):
            lines = raw_text.count("\n") + (not raw_text.endswith("\n"))
            record.parse_error = problem + (f" (spans lines {line}-{line + lines - 1})" if lines > 1 else "")
        else:
            record.fields = {name: value for name, value in zip(header, row, strict=True)}
        records.append(record)
    return records


def _as_text(value: Any) -> str | None:
    """JSON and Parquet values as the strings a CSV would have held; validation types them."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.dumps(value, default=str, sort_keys=True)


def read_jsonl_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[_Record]:
    """One JSON object per line; a line that is not one becomes a malformed record, the rest still load."""
    text, encoding = decode_file(data, path, declared_encoding)
    records: list[_Record] = []
    for line_number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        record = _Record(path, line_number, _raw_bytes(line, encoding), encoding)
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeEncodeError) as error:
            record.parse_error = f"not valid JSON: {error}"
        else:
            if isinstance(value, dict):
                record.fields = {str(key).strip().lower(): _as_text(item) for key, item in value.items()}
            else:
                record.parse_error = f"a JSON {type(value).__name__}, not an object"
        records.append(record)
    return records


def read_parquet_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[_Record]:
    """A Parquet row's bytes as received are its canonical JSON, so quarantine rows stay readable."""
    del declared_encoding  # Parquet strings are UTF-8 by specification
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as error:  # pyarrow raises several types for a corrupt file
        raise ReportFileError(path, None, f"is not a readable Parquet file: {error}") from error
    records: list[_Record] = []
    for row_number, row in enumerate(table.to_pylist(), start=1):
        fields = {str(key).strip().lower(): _as_text(value) for key, value in row.items()}
        raw = canonical_json({key: _as_text(value) for key, value in row.items()})
        records.append(_Record(path, row_number, raw, "utf-8", fields))
    return records


_READERS = {"csv": read_csv_records, "jsonl": read_jsonl_records, "parquet": read_parquet_records}


def contract_files(path: Path) -> list[Path]:
    """A file, or the contract files of a folder in name order (so a load is reproducible)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ReportFileError(str(path), None, "does not exist")
    files = sorted(item for item in path.iterdir() if item.is_file() and not item.name.startswith("."))
    if not files:
        raise ReportFileError(str(path), None, "holds no report files")
    return files


def load_contract_files(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """Reports in the generic contract of DESIGN.md: CSV, JSON Lines or Parquet, one file or a folder of them."""
    records: list[_Record] = []
    for file in contract_files(path):
        kind = CONTRACT_SUFFIXES.get(file.suffix.lower())
        if kind is None:
            raise ReportFileError(
                str(file), None, f"has an unsupported type; expected one of {sorted(CONTRACT_SUFFIXES)}"
            )
        records.extend(_READERS[kind](file.read_bytes(), str(file), encoding))
    return intake_table(records)


def load_ade_corpus(folder: Path) -> pd.DataFrame:
    """ADE Corpus V2 as distributed: DRUG-AE.rel relation lines collapse to one record per (PMID, sentence).

    The PMID is the document id. Negative sentences keep one record per line, so repeated lines in ADE-NEG.txt
    reach validation and are recorded as duplicates rather than vanishing here.
    """
    relations, negatives = folder / "DRUG-AE.rel", folder / "ADE-NEG.txt"
    for required in (relations, negatives):
        if not required.is_file():
            raise ReportFileError(str(required), None, "is missing from the ADE Corpus V2 folder")
    records: list[_Record] = []
    positives: dict[tuple[str, str], _Record] = {}
    seen_ids: dict[str, int] = {}

    def report_id(pmid: str, sentence: str) -> str:
        base = f"ade-{pmid}-{sha256_hex(sentence.encode())[:12]}"
        seen_ids[base] = seen_ids.get(base, 0) + 1
        return base if seen_ids[base] == 1 else f"{base}-{seen_ids[base]}"

    text, encoding = decode_file(relations.read_bytes(), str(relations))
    for line_number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split("|")
        raw = _raw_bytes(line, encoding)
        if len(parts) < 8:
            records.append(_Record(str(relations), line_number, raw, encoding, parse_error="not 8 |-separated fields"))
            continue
        pmid, sentence, drug = parts[0], "|".join(parts[1:-6]), parts[-3]
        existing = positives.get((pmid, sentence))
        if existing is not None:  # another relation of the same sentence
            existing.raw += raw
            drugs = set((existing.fields["product"] or "").split("; ")) | {drug}
            existing.fields["product"] = "; ".join(sorted(drugs - {""}))
            continue
        record = _Record(str(relations), line_number, raw, encoding)
        record.fields = _ade_fields(report_id(pmid, sentence), pmid, sentence, "1", drug)
        positives[(pmid, sentence)] = record
        records.append(record)

    text, encoding = decode_file(negatives.read_bytes(), str(negatives))
    for line_number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split(" ", 2)
        record = _Record(str(negatives), line_number, _raw_bytes(line, encoding), encoding)
        if len(parts) != 3 or parts[1] != "NEG":
            record.parse_error = "not 'PMID NEG sentence'"
        else:
            record.fields = _ade_fields(report_id(parts[0], parts[2]), parts[0], parts[2], "0", None)
        records.append(record)
    return intake_table(records)


def _ade_fields(report_id: str, pmid: str, sentence: str, label: str, drug: str | None) -> dict[str, str | None]:
    # The corpus carries no reception time; validation is told not to require one for it.
    return {
        "report_id": report_id,
        "document_id": f"PMID:{pmid}",
        "source": "literature",
        "text": sentence,
        "received_at": None,
        "label": label,
        "product": drug,
    }


def intake_table(records: list[_Record]) -> pd.DataFrame:
    """Contract fields first, then intake columns, then any extra columns (a tabular use case's features)."""
    extra = sorted({name for record in records for name in record.fields} - set(REPORT_FIELDS))
    columns: dict[str, list[Any]] = {name: [] for name in (*REPORT_FIELDS, *extra, *INTAKE_COLUMNS)}
    for seq, record in enumerate(records):
        for name in (*REPORT_FIELDS, *extra):
            columns[name].append(_storable(record.fields.get(name)))
        columns["encoding_error"].append(_undecodable(record.fields))
        columns["intake_seq"].append(seq)
        columns["source_file"].append(record.source_file)
        columns["source_line"].append(record.source_line)
        columns["raw"].append(record.raw)
        columns["encoding"].append(record.encoding)
        columns["parse_error"].append(record.parse_error)
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    frame["intake_seq"] = frame["intake_seq"].astype("int64")
    frame["source_line"] = frame["source_line"].astype("int64")
    return frame
