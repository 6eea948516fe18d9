"""Read report files into an intake table that keeps every record as received.

The intake table holds the contract fields as strings (or None) exactly as found, plus where each record came
from and its original bytes. Nothing is typed or judged here: validation does that, so that a bad record becomes a
quarantine row with a reason instead of an exception. Only a file that cannot be read as its format at all raises
:class:`ReportFileError`, naming the file and the line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, ReportFileError
from gxp_assets.core.csv_records import CsvPiece, csv_pieces, csv_records
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.intake_table import IntakeRecord, intake_table, raw_bytes
from gxp_assets.core.record_fields import (
    RepeatedKeyError,
    as_text,
    field_name,
    repeated_names,
    type_problem,
    unique_pairs,
)
from gxp_assets.core.text_decoding import (
    decode_blocks,
    decode_file,
    file_blocks,
    split_lines,
    text_lines,
)

CONTRACT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: Bytes read and decoded at a time when streaming: memory holds a block and the current line, never the file.
BLOCK_BYTES = 1 << 20
#: Parquet rows converted at a time; a file's row groups are read one by one.
PARQUET_BATCH_ROWS = 65_536


def read_csv_records(
    data: bytes, path: str, declared_encoding: str | None = None, delimiter: str = ","
) -> list[IntakeRecord]:
    """A whole CSV file's records."""
    text, encoding = decode_file(data, path, declared_encoding)
    return list(csv_records(text_lines(text), path, encoding, delimiter=delimiter))


def _jsonl_records(lines: Iterable[str], path: str, encoding: str) -> Iterator[IntakeRecord]:
    """One JSON object per line; a line that is not one becomes a malformed record, the rest still load.

    So does an object that gives a key twice (at any depth, or at the top in two spellings of one field): which of
    its values was meant cannot be told, so none is taken.
    """
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = IntakeRecord(path, line_number, raw_bytes(line, encoding), encoding)
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


def _set_typed_fields(record: IntakeRecord, values: dict[str, Any]) -> None:
    """A typed record's fields as text, and what in them is not the type the contract asks for."""
    typed = {field_name(key): item for key, item in values.items()}
    record.fields = {key: as_text(item) for key, item in typed.items()}
    record.type_error = type_problem(typed)


def read_jsonl_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[IntakeRecord]:
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


def _parquet_records(batches: Iterable[pa.RecordBatch], path: str) -> Iterator[IntakeRecord]:
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
                yield IntakeRecord(path, row_number, raw, "utf-8", dict.fromkeys(names), parse_error=problem)
            continue
        for row in batch.to_pylist():
            row_number += 1
            record = IntakeRecord(path, row_number, canonical_json({key: as_text(value) for key, value in row.items()}),
                             "utf-8")  # fmt: skip
            _set_typed_fields(record, row)
            yield record


def read_parquet_records(data: bytes, path: str, declared_encoding: str | None = None) -> list[IntakeRecord]:
    """A whole Parquet file's records; its strings are UTF-8 by specification, so no encoding is declared."""
    del declared_encoding
    return list(_parquet_records(_parquet_batches(pa.BufferReader(data), path), path))


_READERS = {"csv": read_csv_records, "jsonl": read_jsonl_records, "parquet": read_parquet_records}


def contract_kind(file: Path) -> str:
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


def load_contract_files(
    path: Path, encoding: str | None = None, *, delimiter: str = ",", fields: Sequence[str] = REPORT_FIELDS
) -> pd.DataFrame:
    """Reports in the generic contract of DESIGN.md: CSV, JSON Lines or Parquet, one file or a folder of them.

    ``delimiter`` separates a CSV file's fields; ``fields`` are the columns every intake table has (``intake_table``).
    """
    records: list[IntakeRecord] = []
    for file in contract_files(path):
        kind = contract_kind(file)
        data = file.read_bytes()
        if kind == "csv":
            records.extend(read_csv_records(data, str(file), encoding, delimiter))
        else:
            records.extend(_READERS[kind](data, str(file), encoding))
    return intake_table(records, fields=fields)


def iter_intake_chunks(
    path: Path,
    encoding: str | None = None,
    chunk_records: int = 50_000,
    *,
    block_bytes: int = BLOCK_BYTES,
    source_name: str | None = None,
    delimiter: str = ",",
    fields: Sequence[str] = REPORT_FIELDS,
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
    ``delimiter`` and ``fields`` are those of :func:`load_contract_files`.
    """
    kind = _streamable_kind(path, chunk_records, block_bytes)
    records = _streamed_records(path, kind, encoding, block_bytes, source_name or str(path), delimiter)
    return _intake_chunks(records, chunk_records, fields)


def iter_csv_pieces(
    path: Path,
    encoding: str | None = None,
    chunk_records: int = 50_000,
    *,
    block_bytes: int = BLOCK_BYTES,
    source_name: str | None = None,
) -> Iterator[CsvPiece]:
    """A CSV file cut into pieces whose intake tables (:meth:`CsvPiece.intake`) are the chunks of
    :func:`iter_intake_chunks`, by one quick pass of the same reader: so that many workers can parse one file.
    Same arguments, decoding rules and file errors as :func:`iter_intake_chunks`."""
    kind = _streamable_kind(path, chunk_records, block_bytes)
    if kind != "csv":
        raise ValueError(f"{path} is {kind}, not CSV: read it with iter_intake_chunks")
    return _streamed_pieces(path, encoding, block_bytes, source_name or str(path), chunk_records)


def _streamable_kind(path: Path, chunk_records: int, block_bytes: int) -> str:
    if chunk_records < 1 or block_bytes < 1:
        raise ValueError(f"chunk_records and block_bytes must be positive, not {chunk_records} and {block_bytes}")
    if not path.is_file():
        problem = "is a folder: stream its contract_files one at a time" if path.is_dir() else "does not exist"
        raise ReportFileError(str(path), None, problem)
    return contract_kind(path)


def _streamed_records(
    file: Path, kind: str, encoding: str | None, block_bytes: int, path: str, delimiter: str = ","
) -> Iterator[IntakeRecord]:
    if kind == "parquet":
        with pa.OSFile(str(file)) as source:
            yield from _parquet_records(_parquet_batches(source, path), path)
        return
    file_encoding, lines = _decoded_lines(file, encoding, block_bytes, path)
    if kind == "csv":
        yield from csv_records(lines, path, file_encoding, delimiter=delimiter)
    else:
        yield from _jsonl_records(lines, path, file_encoding)


def _streamed_pieces(
    file: Path, encoding: str | None, block_bytes: int, path: str, chunk_records: int
) -> Iterator[CsvPiece]:
    file_encoding, lines = _decoded_lines(file, encoding, block_bytes, path)
    yield from csv_pieces(lines, path, file_encoding, chunk_records)


def _decoded_lines(file: Path, encoding: str | None, block_bytes: int, path: str) -> tuple[str, Iterator[str]]:
    decoding, texts = decode_blocks(file_blocks(file, block_bytes), path, encoding)
    if decoding.can_reject:  # a first pass, so that a file is refused before any of its records, as when read whole
        for _ in texts:
            pass
        decoding, texts = decode_blocks(file_blocks(file, block_bytes), path, encoding)
    return decoding.encoding, split_lines(texts)


def _intake_chunks(
    records: Iterator[IntakeRecord], chunk_records: int, fields: Sequence[str] = REPORT_FIELDS
) -> Iterator[pd.DataFrame]:
    first_seq, extra_columns = 0, ()
    while chunk := list(itertools.islice(records, chunk_records)):
        table = intake_table(chunk, first_seq, extra_columns, fields)
        extra_columns = tuple(name for name in table.columns if name not in (*fields, *INTAKE_COLUMNS))
        first_seq += len(chunk)
        del chunk  # the records, while the consumer works on their table
        yield table
        del table  # before the next chunk is read
    if first_seq == 0:
        yield intake_table([], fields=fields)


def load_ade_corpus(folder: Path) -> pd.DataFrame:
    """ADE Corpus V2 as distributed: DRUG-AE.rel relation lines collapse to one record per (PMID, sentence).

    The PMID is the document id. Negative sentences keep one record per line, so repeated lines in ADE-NEG.txt
    reach validation and are recorded as duplicates rather than vanishing here.
    """
    relations, negatives = folder / "DRUG-AE.rel", folder / "ADE-NEG.txt"
    for required in (relations, negatives):
        if not required.is_file():
            raise ReportFileError(str(required), None, "is missing from the ADE Corpus V2 folder")
    records: list[IntakeRecord] = []
    positives: dict[tuple[str, str], IntakeRecord] = {}
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
        raw = raw_bytes(line, encoding)
        if len(parts) < 8:
            records.append(
                IntakeRecord(str(relations), line_number, raw, encoding, parse_error="not 8 |-separated fields")
            )
            continue
        pmid, sentence, drug = parts[0], "|".join(parts[1:-6]), parts[-3]
        existing = positives.get((pmid, sentence))
        if existing is not None:  # another relation of the same sentence
            existing.raw += raw
            drugs = set((existing.fields["product"] or "").split("; ")) | {drug}
            existing.fields["product"] = "; ".join(sorted(drugs - {""}))
            continue
        record = IntakeRecord(str(relations), line_number, raw, encoding)
        record.fields = _ade_fields(report_id(pmid, sentence), pmid, sentence, "1", drug)
        positives[(pmid, sentence)] = record
        records.append(record)

    text, encoding = decode_file(negatives.read_bytes(), str(negatives))
    for line_number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split(" ", 2)
        record = IntakeRecord(str(negatives), line_number, raw_bytes(line, encoding), encoding)
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
