"""The intake table: every record of a file as received, one row each, whatever the file's format.

Each parser (CSV, JSON Lines, Parquet, the ADE corpus) gives :class:`IntakeRecord`s; :func:`intake_table` turns them
into the one frame that validation judges and quarantine rows keep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS
from gxp_assets.core.text_decoding import SURROGATE, storable, undecodable


@dataclass
class IntakeRecord:
    source_file: str
    source_line: int
    raw: bytes
    encoding: str
    fields: dict[str, str | None] = field(default_factory=dict)
    parse_error: str | None = None
    type_error: str | None = None


def raw_bytes(text: str, encoding: str) -> bytes:
    """A record's text as the bytes it was read from (undecodable bytes were kept as surrogate escapes)."""
    return text.encode(encoding, errors="surrogateescape")


def intake_table(
    records: Sequence[IntakeRecord],
    first_seq: int = 0,
    extra_columns: Iterable[str] = (),
    fields: Sequence[str] = REPORT_FIELDS,
) -> pd.DataFrame:
    """Contract fields first, then any extra columns (a tabular use case's features), then the intake columns.

    ``first_seq`` is the ``intake_seq`` of the first record and ``extra_columns`` are present even if no record has
    them, so that the chunks of a stream number their records and keep their columns as one intake would. The index
    is ``intake_seq`` too. ``fields``: the columns every table has, first (the report contract's; none for a declared
    record contract, whose validation names what is missing).
    """
    extra = sorted({name for record in records for name in record.fields}.union(extra_columns) - set(fields))
    # Built a column at a time: a record's fields need a rewrite (surrogate escapes made storable) only when it holds
    # bytes its encoding refused, which one search of its joined values finds.
    suspect = [
        (row, record) for row, record in enumerate(records)
        if SURROGATE.search("".join(value for value in record.fields.values() if value))
    ]  # fmt: skip
    columns: dict[str, list[Any]] = {}
    for name in (*fields, *extra):
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
    columns = {name: columns[name] for name in (*fields, *extra, *INTAKE_COLUMNS)}
    index = pd.RangeIndex(first_seq, first_seq + len(records))
    frame = pd.DataFrame({name: pd.Series(values, index=index, dtype=object) for name, values in columns.items()})
    frame["intake_seq"] = frame["intake_seq"].astype("int64")
    frame["source_line"] = frame["source_line"].astype("int64")
    return frame
