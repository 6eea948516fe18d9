"""CSV records with the lines they came from, and the same file cut into pieces that parse alone.

``csv.reader`` counts the lines it has taken (``line_num``), so each record's first line and original text come
from a copy of the line stream without a Python call per line. :func:`csv_pieces` runs the very same reader over a
file without building records: it only notes where every ``chunk_records``-th record ends, which is a fraction of
the cost of parsing. Each :class:`CsvPiece` (the header, then whole records) then parses anywhere, say on a Spark
executor, through :func:`csv_records` into exactly the records a sequential read gives, line numbers included.
"""

from __future__ import annotations

import csv
import itertools
import json
from _csv import Reader as CsvReader  # the type csv.reader returns, with its line_num
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import pandas as pd

from gxp_assets.core.contracts import ReportFileError
from gxp_assets.core.intake_table import IntakeRecord, intake_table, raw_bytes
from gxp_assets.core.text_decoding import split_lines


def _reader(lines: Iterable[str], delimiter: str = ",") -> tuple[CsvReader, Iterator[str]]:
    """A csv.reader over ``lines`` and a copy of them, from which each record's text is taken once it is read."""
    csv.field_size_limit(2**31 - 1)  # oversized texts are a validation matter, not a parse failure
    read, kept = itertools.tee(lines)
    return csv.reader(read, delimiter=delimiter), kept


def _header(reader: CsvReader, path: str) -> list[str]:
    try:
        header_row = next(reader, None)
    except csv.Error as error:
        raise ReportFileError(path, reader.line_num, f"cannot read the CSV header: {error}") from error
    if header_row is None:
        raise ReportFileError(path, 1, "is empty: a CSV file needs a header row")
    header = [name.strip().lower() for name in header_row]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated or not any(header):
        raise ReportFileError(path, 1, f"has an unusable header (duplicated or empty column names: {duplicated})")
    return header


def _rows(reader: CsvReader) -> Iterator[tuple[int, list[str] | None, str]]:
    """Each record as (the line it ends on, its fields or None, the parse problem); a blank line gives []."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # one broken record (a stray carriage return, say); the reader goes on after it
            yield reader.line_num, None, f"not valid CSV: {error}"
            continue
        yield reader.line_num, row, ""


def _take(kept: Iterator[str], lines: int) -> str:
    return "".join(itertools.islice(kept, lines))


def csv_records(
    lines: Iterable[str], path: str, encoding: str, line_offset: int = 0, delimiter: str = ","
) -> Iterator[IntakeRecord]:
    """RFC 4180 CSV with a header row; quoted fields may hold the delimiter, quotes and newlines.

    A malformed row still names the header's columns (empty), so every record of a file gives the same columns.
    ``line_offset``: how many lines of the file come between the header and ``lines`` after it (a piece's place).
    ``delimiter``: a declared file format's (a European export separates fields with ";").
    """
    reader, kept = _reader(lines, delimiter)
    header = _header(reader, path)
    taken = reader.line_num
    _take(kept, taken)
    for end, row, problem in _rows(reader):
        line, raw_text, taken = taken + 1 + line_offset, _take(kept, end - taken), end
        if row == []:  # a blank line holds no record
            continue
        record = IntakeRecord(path, line, raw_bytes(raw_text, encoding), encoding)
        if row is not None and len(row) != len(header):
            problem = f"row has {len(row)} fields where the header has {len(header)}"
        if row is None or len(row) != len(header):
            lines_spanned = raw_text.count("\n") + (not raw_text.endswith("\n"))
            span = f" (spans lines {line}-{line + lines_spanned - 1})" if lines_spanned > 1 else ""
            record.parse_error = problem + span
            record.fields = dict.fromkeys(header)
        else:
            record.fields = dict(zip(header, row, strict=True))
        yield record


@dataclass(frozen=True)
class CsvPiece:
    """Whole records of a CSV file with its header: what one intake chunk is made from, wherever it is parsed."""

    path: str  # what the records call their file
    encoding: str  # the file's, so each record's bytes are its original bytes
    header: str
    line_offset: int  # file lines between the header and the piece's first line
    first_seq: int  # intake_seq of the piece's first record
    records: int
    text: str

    def to_bytes(self) -> bytes:
        """A JSON line of the facts, then the text; UTF-8 that keeps the surrogate escapes of undecodable bytes."""
        facts = {name: value for name, value in asdict(self).items() if name != "text"}
        return (json.dumps(facts) + "\n" + self.text).encode("utf-8", "surrogatepass")

    @classmethod
    def from_bytes(cls, data: bytes) -> CsvPiece:
        facts, text = data.decode("utf-8", "surrogatepass").split("\n", 1)
        return cls(**json.loads(facts), text=text)

    def intake(self) -> pd.DataFrame:
        """The piece's intake table: the chunk that a sequential read of the file gives for these records."""
        lines = split_lines((self.header, self.text))
        return intake_table(list(csv_records(lines, self.path, self.encoding, self.line_offset)), self.first_seq)


def csv_pieces(lines: Iterable[str], path: str, encoding: str, chunk_records: int) -> Iterator[CsvPiece]:
    """The file cut after every ``chunk_records``-th record, where the same reader as :func:`csv_records` ends it:
    so piece k holds exactly the records of intake chunk k. A bad header raises here, as it would there; a file
    without records gives one piece without records (one empty chunk)."""
    reader, kept = _reader(lines)
    _header(reader, path)
    header_lines = reader.line_num
    header = _take(kept, header_lines)
    start = end = header_lines  # lines taken before the piece in hand, and up to its last record
    first_seq = records = 0
    for end, row, _ in _rows(reader):
        records += row != []
        if records == chunk_records:
            yield CsvPiece(path, encoding, header, start - header_lines, first_seq, records, _take(kept, end - start))
            start, first_seq, records = end, first_seq + records, 0
    if records or not first_seq:  # blank lines after the last piece hold no record
        yield CsvPiece(path, encoding, header, start - header_lines, first_seq, records, _take(kept, end - start))
