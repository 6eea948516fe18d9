"""Read report files into an intake table that keeps every record as received.

The intake table holds the contract fields as strings (or None) exactly as found, plus where each record came
from and its original bytes. Nothing is typed or judged here: validation does that, so that a bad record becomes a
quarantine row with a reason instead of an exception. Only a file that cannot be read as its format at all raises
:class:`ReportFileError`, naming the file and the line.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, ReportFileError
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.record_fields import (
    RepeatedKeyError,
    as_text,
    field_name,
    repeated_names,
    type_problem,
    unique_pairs,
)
from gxp_assets.core.text_decoding import (
    SURROGATE,
    decode_blocks,
    decode_file,
    file_blocks,
    split_lines,
    storable,
    text_lines,
    undecodable,
)

CONTRACT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: Bytes read and decoded at a time when streaming: memory holds a block and the current line, never the file.
BLOCK_BYTES = 1 << 20
#: Parquet rows converted at a time; a file's row groups are read one by one.
PARQUET_BATCH_ROWS = 65_536


@dataclass
class _Record:
    source_file: str
    source_line: int
    raw: bytes
    encoding: str
    fields: dict[str, str | None] = field(default_factory=dict)
    parse_error: str | None = None
    type_error: str | None = None


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


def _csv_records(lines: Iterable[str], path: str, encoding: str) -> Iterator[_Record]:
    """RFC 4180 CSV with a header row; quoted fields may hold commas, quotes and newlines.

    A malformed row still names the header's columns (empty), so every record of a file gives the same columns.
    """
    csv.field_size_limit(2**31 - 1)  # oversized texts are a validation matter, not a parse failure
    tracked = _TrackedLines(lines)
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
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # one broken record (a stray carriage return, say); the reader goes on after it
            row, problem = None, f"not valid CSV: {error}"
        line, raw_text = tracked.take()
        if row == []:  # a blank line holds no record
            continue
        record = _Record(path, line, _raw_bytes(raw_text, encoding), encoding)
        if row is not None and len(row) != len(header):
            problem = f"row has {len(row)} fields where the header has {len(header)}"
        if row is None or len(row) != len(header):
            lines_spanned = raw_text.count("\n") + (not raw_text.endswith("\n"))
            span = f" (spans lines {line}-{line + lines_spanned - 1})" if lines_spanned > 1 else ""
            record.parse_error = problem + span
            record.fields = dict.fromkeys(header)
        else:
            record.fields = {name: value for name, value in zip(header, row, strict=True)}
        yield record


def read_csv_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[_Record]:
    """A whole CSV file's records."""
    text, encoding = decode_file(data, path, declared_encoding)
    return list(_csv_records(text_lines(text), path, encoding))


def _jsonl_records(lines: Iterable[str], path: str, encoding: str) -> Iterator[_Record]:
    """One JSON object per line; a line that is not one becomes a malformed record, the rest still load.

    So does an object that gives a key twice (at any depth, or at the top in two spellings of one field): which of
    its values was meant cannot be told, so none is taken.
    """
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _Record(path, line_number, _raw_bytes(line, encoding), encoding)
        try:
            value = json.loads(line, object_pairs_hook=unique_pairs)
        except RepeatedKeyError as error:
            record.parse_error = f"a JSON object gives key {error} more than once"
        except (json.JSONDecodeError, UnicodeEncodeError) as error:
            record.parse_error = f"not valid JSON: {error}"
        else:
            if not isinstance(value, dict):
                record.parse_error = f"a JSON {type(value).__name__}, not an object"
            elif repeated := repeated_names(value):
                record.parse_error = f"a JSON object gives field {'; '.join(repeated)}"
            else:
                _set_typed_fields(record, value)
        yield record


def _set_typed_fields(record: _Record, values: dict[str, Any]) -> None:
    """A typed record's fields as text, and what in them is not the type the contract asks for."""
    typed = {field_name(key): item for key, item in values.items()}
    record.fields = {key: as_text(item) for key, item in typed.items()}
    record.type_error = type_problem(typed)


def read_jsonl_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[_Record]:
    """A whole JSON Lines file's records."""
    text, encoding = decode_file(data, path, declared_encoding)
    return list(_jsonl_records(text_lines(text), path, encoding))


def _not_parquet(path: str, error: Exception) -> ReportFileError:
    return ReportFileError(path, None, f"is not a readable Parquet file: {error}")


def _parquet_batches(source: pa.NativeFile, path: str) -> Iterator[pa.RecordBatch]:
    """Row groups as they are read; pyarrow raises several types for a corrupt file, on opening it or at any batch."""
    try:
        batches = pq.ParquetFile(source).iter_batches(batch_size=PARQUET_BATCH_ROWS)
    except Exception as error:
        raise _not_parquet(path, error) from error
    while True:
        try:
            batch = next(batches, None)
        except Exception as error:
            raise _not_parquet(path, error) from error
        if batch is None:
            return
        yield batch


def _parquet_records(batches: Iterable[pa.RecordBatch], path: str) -> Iterator[_Record]:
    """A Parquet row's bytes as received are its canonical JSON, so quarantine rows stay readable.

    A file that names a column twice has every row malformed: the row's bytes are then the canonical JSON of its
    [column, value] pairs in the file's order, so no value of a repeated column is lost.
    """
    row_number = 0
    for batch in batches:
        repeated = repeated_names(batch.schema.names)
        if repeated:
            problem = f"the Parquet file names column {'; '.join(repeated)}"
            names = list(dict.fromkeys(map(field_name, batch.schema.names)))
            columns = [column.to_pylist() for column in batch.columns]
            for values in zip(*columns, strict=True):
                row_number += 1
                raw = canonical_json([[name, as_text(value)] for name, value in zip(batch.schema.names, values,
                                                                                     strict=True)])  # fmt: skip
                yield _Record(path, row_number, raw, "utf-8", dict.fromkeys(names), parse_error=problem)
            continue
        for row in batch.to_pylist():
            row_number += 1
            record = _Record(path, row_number, canonical_json({key: as_text(value) for key, value in row.items()}),
                             "utf-8")  # fmt: skip
            _set_typed_fields(record, row)
            yield record


def read_parquet_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[_Record]:
    """A whole Parquet file's records; its strings are UTF-8 by specification, so no encoding is declared."""
    del declared_encoding
    return list(_parquet_records(_parquet_batches(pa.BufferReader(data), path), path))


_READERS = {"csv": read_csv_records, "jsonl": read_jsonl_records, "parquet": read_parquet_records}
_TEXT_PARSERS = {"csv": _csv_records, "jsonl": _jsonl_records}


def _contract_kind(file: Path) -> str:
    kind = CONTRACT_SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise ReportFileError(str(file), None, f"has an unsupported type; expected one of {sorted(CONTRACT_SUFFIXES)}")
    return kind


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
        records.extend(_READERS[_contract_kind(file)](file.read_bytes(), str(file), encoding))
    return intake_table(records)


def iter_intake_chunks(
    path: Path,
    encoding: str | None = None,
    chunk_records: int = 50_000,
    *,
    block_bytes: int = BLOCK_BYTES,
    source_name: str | None = None,
) -> Iterator[pd.DataFrame]:
    """One contract file as intake tables of at most ``chunk_records`` rows, so memory stays flat for any file size.

    The file is read ``block_bytes`` at a time through the same decoding rules and record parsers as
    :func:`load_contract_files`, and ``intake_seq`` runs on across chunks, so the chunks concatenated are what it
    gives for the file. A CSV or Parquet file's chunks all have its columns. A JSON Lines file's keys are only known
    at its end, so a chunk has the extra columns of the chunks before it and of its own records: a key that first
    appears in a later chunk is missing from the earlier ones. A file without records gives one empty table, so a
    consumer always sees the columns.

    A text file that its decoding can refuse (UTF-8 that may hold NUL bytes, a BOM that may lie) is read twice: a
    first pass over its bytes applies those rules, so that it is refused before any chunk is yielded, with the same
    error as when read whole. A Parquet row group that is corrupt is only found when it is reached.

    ``source_name`` is what records and errors call the file (default ``str(path)``): a remote job that reads a copy
    names it as the original, so its quarantine rows and details are those of a run on the original.
    """
    if chunk_records < 1 or block_bytes < 1:
        raise ValueError(f"chunk_records and block_bytes must be positive, not {chunk_records} and {block_bytes}")
    if not path.is_file():
        problem = "is a folder: stream its contract_files one at a time" if path.is_dir() else "does not exist"
        raise ReportFileError(str(path), None, problem)
    records = _streamed_records(path, _contract_kind(path), encoding, block_bytes, source_name or str(path))
    return _intake_chunks(records, chunk_records)


def _streamed_records(file: Path, kind: str, encoding: str | None, block_bytes: int, path: str) -> Iterator[_Record]:
    if kind == "parquet":
        with pa.OSFile(str(file)) as source:
            yield from _parquet_records(_parquet_batches(source, path), path)
        return
    decoding, texts = decode_blocks(file_blocks(file, block_bytes), path, encoding)
    if decoding.can_reject:  # a first pass, so that a file is refused before any of its records, as when read whole
        for _ in texts:
            pass
        decoding, texts = decode_blocks(file_blocks(file, block_bytes), path, encoding)
    yield from _TEXT_PARSERS[kind](split_lines(texts), path, decoding.encoding)


def _intake_chunks(records: Iterator[_Record], chunk_records: int) -> Iterator[pd.DataFrame]:
    first_seq, extra_columns = 0, ()
    while chunk := list(itertools.islice(records, chunk_records)):
        table = intake_table(chunk, first_seq, extra_columns)
        extra_columns = tuple(name for name in table.columns if name not in (*REPORT_FIELDS, *INTAKE_COLUMNS))
        first_seq += len(chunk)
        del chunk  # the records, while the consumer works on their table
        yield table
        del table  # before the next chunk is read
    if first_seq == 0:
        yield intake_table([])


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
    for line_number, line in enumerate(text_lines(text), start=1):
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
    for line_number, line in enumerate(text_lines(text), start=1):
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


def intake_table(records: Sequence[_Record], first_seq: int = 0, extra_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Contract fields first, then any extra columns (a tabular use case's features), then the intake columns.

    ``first_seq`` is the ``intake_seq`` of the first record and ``extra_columns`` are present even if no record has
    them, so that the chunks of a stream number their records and keep their columns as one intake would. The index
    is ``intake_seq`` too.
    """
    extra = sorted({name for record in records for name in record.fields}.union(extra_columns) - set(REPORT_FIELDS))
    # Built a column at a time: a record's fields need a rewrite (surrogate escapes made storable) only when it holds
    # bytes its encoding refused, which one search of its joined values finds.
    suspect = [
        (row, record) for row, record in enumerate(records)
        if SURROGATE.search("".join(value for value in record.fields.values() if value))
    ]  # fmt: skip
    columns: dict[str, list[Any]] = {}
    for name in (*REPORT_FIELDS, *extra):
        values = [record.fields.get(name) for record in records]
        for row, _ in suspect:
            values[row] = storable(values[row])
        columns[name] = values
    encoding_errors: list[str | None] = [None] * len(records)
    for row, record in suspect:
        encoding_errors[row] = undecodable(record.fields)
    columns["encoding_error"] = encoding_errors
    columns["type_error"] = [record.type_error for record in records]
    columns["intake_seq"] = list(range(first_seq, first_seq + len(records)))
    columns["source_file"] = [record.source_file for record in records]
    columns["source_line"] = [record.source_line for record in records]
    columns["raw"] = [record.raw for record in records]
    columns["encoding"] = [record.encoding for record in records]
    columns["parse_error"] = [record.parse_error for record in records]
    columns = {name: columns[name] for name in (*REPORT_FIELDS, *extra, *INTAKE_COLUMNS)}
    index = pd.RangeIndex(first_seq, first_seq + len(records))
    frame = pd.DataFrame({name: pd.Series(values, index=index, dtype=object) for name, values in columns.items()})
    frame["intake_seq"] = frame["intake_seq"].astype("int64")
    frame["source_line"] = frame["source_line"].astype("int64")
    return frame
