"""Fixed schemas of scored and quarantined rows, and their conversions to Arrow, SQLite rows and back.

Every chunk is coerced to one schema fixed from the contracts, not inferred from its data: a chunk whose
``product`` is all None would otherwise become a null column that the Parquet writer of the batch refuses.
Timestamps are kept in SQLite as ISO 8601 UTC text of one fixed shape, so text order is time order.

Every stored scored row carries its ``use_case`` (the scoring model's registered use case, given to the writer), so
one instance keeps each use case's results apart. Rows stored before the column read as the use case their
``model_version`` names (``<use_case>-<12 hex>``, see ``version_use_case``): nothing is rewritten, so their hashes
in the audit trail still hold.
"""

from __future__ import annotations

import math
import numbers
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, SCORED_COLUMNS, STORE_NOTE_COLUMNS
from gxp_assets.core.hashing import canonical_json
from gxp_assets.stores.results_protocol import ADJUDICATION_COLUMNS, TRIAGE_LEVELS

_FLOATS = frozenset({"p_ae", "raw_score", "hours_left"})
_INTS = frozenset({"source_line", "intake_seq", "label"})
_TIMES = frozenset({"scored_at", "received_at", "due_at", "adjudicated_at"})
_FLAGS = frozenset(STORE_NOTE_COLUMNS)
_UTC = pa.timestamp("us", tz="UTC")


def _arrow_type(name: str) -> pa.DataType:
    if name in _FLOATS:
        return pa.float64()
    if name in _INTS:
        return pa.int64()
    if name in _FLAGS:
        return pa.bool_()
    return _UTC if name in _TIMES else pa.string()


#: The store's column naming the use case a row was scored for (null in rows stored before it: see
#: ``version_use_case``).
USE_CASE = "use_case"
#: Columns that may be empty: optional ones, and those added later (empty in rows stored before them).
_NULLABLE = frozenset({"explanation", "product", "received_at", "due_at", "triage_reason", USE_CASE, *_FLAGS})
#: A stored scored row: the scoring's columns, then the store's notes (null in rows stored before a note existed),
#: then its use case (last, so a row stored before it hashes as it did: trailing nulls are left out).
STORED_COLUMNS: tuple[str, ...] = (*SCORED_COLUMNS, *STORE_NOTE_COLUMNS, USE_CASE)
_VERSION = re.compile(r"^(?P<prefix>.+)-[0-9a-f]{12}$")
#: ``version_use_case`` in SQL, over a row's columns (SQLite's GLOB for the 12 hex digits): the index computes each
#: row's use case with it (a virtual column), so filters by use case are answered from an index.
VERSION_USE_CASE_SQL = (
    "CASE WHEN model_version GLOB '?*-" + "[0-9a-f]" * 12 + "'"
    " THEN replace(substr(model_version, 1, length(model_version) - 13), '-', '_') END"
)


def version_use_case(model_version: object) -> str | None:
    """The use case a model version id names (``<use_case>-<12 hex>``, as the registry makes them; hyphens of ids
    registered before use case ids existed read as underscores), or None: how rows and events stored before they
    carried a use case are attributed."""
    match = _VERSION.match(model_version) if isinstance(model_version, str) else None
    return match["prefix"].replace("-", "_") if match else None


def row_use_case(use_case: object, model_version: object) -> str | None:
    """A stored row's use case: its own column, else the one its model version names (rows from before)."""
    return use_case if isinstance(use_case, str) and use_case else version_use_case(model_version)


def event_use_case(use_case: object, model_version: object, evidence: dict[str, Any]) -> str | None:
    """A monitoring event's use case: recorded, else its model version's, else (a realized-performance event stored
    before use cases were recorded) the one use case every model version it measured names; None when they differ."""
    if found := row_use_case(use_case, model_version):
        return found
    named = {version_use_case(version) for version in evidence.get("model_versions") or {}}
    return named.pop() if len(named) == 1 else None
PREDICTION_SCHEMA = pa.schema(
    pa.field(name, _arrow_type(name), nullable=name in _NULLABLE)
    for name in STORED_COLUMNS
)
#: The intake columns + reason and detail; extra columns of a use case travel as one JSON object in ``extra``.
QUARANTINE_COLUMNS: tuple[str, ...] = (*REPORT_FIELDS, *INTAKE_COLUMNS, "reason", "detail")
_QUARANTINE_REQUIRED = frozenset({"intake_seq", "source_file", "source_line", "raw", "reason", "detail"})
# Intake columns added after batches were first stored: absent from older files and producers, read as missing.
_QUARANTINE_LATER = frozenset({"type_error"})
QUARANTINE_SCHEMA = pa.schema(
    pa.field(
        name,
        pa.int64() if name in {"intake_seq", "source_line"} else pa.binary() if name == "raw" else pa.string(),
        nullable=name not in _QUARANTINE_REQUIRED,
    )
    for name in (*QUARANTINE_COLUMNS, "extra")
)


def _missing(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if missing := [name for name in columns if name not in frame.columns]:
        raise ValueError(f"{what} lack columns {missing}")


def _strings(series: pd.Series) -> pd.Series:
    """Object column of str and None (pandas' ``str`` dtype would give NaN, which Arrow takes for a float)."""
    values = series.astype(object)
    return values.where(values.notna(), None)


def _times(series: pd.Series, name: str) -> pd.Series:
    if series.dtype.kind == "M" and getattr(series.dtype, "tz", None) is None and series.notna().any():
        raise ValueError(f"{name} holds timestamps without a time zone; give them in UTC")
    return pd.to_datetime(series, utc=True, format="ISO8601").astype("datetime64[us, UTC]")


def scored_frame(frame: pd.DataFrame, batch: str, use_case: str | None = None) -> pd.DataFrame:
    """One chunk of scored rows in ``STORED_COLUMNS`` order and types; ``batch`` and ``use_case`` are filled in when
    absent (rows of another batch or use case are refused), and a note the rows do not carry is missing (None)."""
    if "batch" not in frame.columns:
        frame = frame.assign(batch=batch)
    if USE_CASE not in frame.columns:
        frame = frame.assign(use_case=use_case)
    _missing(frame, SCORED_COLUMNS, "scored rows")
    columns: dict[str, pd.Series] = {}
    for name in STORED_COLUMNS:
        if name in _FLAGS:
            values = frame[name].tolist() if name in frame.columns else [None] * len(frame)
            columns[name] = pd.Series([None if _is_missing(value) else bool(value) for value in values], dtype=object)
            continue
        series = frame[name].reset_index(drop=True)
        if name in _FLOATS:
            columns[name] = series.astype("float64")
        elif name in _INTS:
            columns[name] = series.astype("int64")
        elif name in _TIMES:
            columns[name] = _times(series, name)
        else:
            columns[name] = _strings(series)
    result = pd.DataFrame(columns)
    if others := set(result["batch"].dropna()) - {batch}:
        raise ValueError(f"rows of batches {sorted(others)[:3]} given to the writer of batch {batch!r}")
    if use_case is not None and (others := set(result[USE_CASE].dropna()) - {use_case}):
        raise ValueError(f"rows of use cases {sorted(others)[:3]} given to the writer of use case {use_case!r}")
    if unknown := set(result["triage"].dropna()) - set(TRIAGE_LEVELS):
        raise ValueError(f"triage {sorted(unknown)[:3]} is not one of {TRIAGE_LEVELS}")
    return result


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _raw(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"raw must hold the record's bytes as received, not a {type(value).__name__}")


def quarantine_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows in the fixed layout; any other columns are folded into a JSON object in ``extra``."""
    _missing(frame, [name for name in QUARANTINE_COLUMNS if name not in _QUARANTINE_LATER], "quarantined rows")
    frame = frame.reset_index(drop=True)
    for name in _QUARANTINE_LATER - set(frame.columns):
        frame[name] = None
    columns: dict[str, pd.Series] = {}
    for name in QUARANTINE_COLUMNS:
        if name in {"intake_seq", "source_line"}:
            columns[name] = frame[name].astype("int64")
        else:
            convert = _raw if name == "raw" else _text
            columns[name] = pd.Series([convert(value) for value in frame[name].tolist()], dtype=object)
    extras = [name for name in frame.columns if name not in QUARANTINE_COLUMNS]
    folded = (
        [canonical_json(dict(zip(extras, map(_text, row), strict=True))).decode() for row in frame[extras].itertuples(
            index=False, name=None)]
        if extras
        else [None] * len(frame)
    )  # fmt: skip
    columns["extra"] = pd.Series(folded, dtype=object)
    return pd.DataFrame(columns)


def arrow_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame under the batch's fixed schema; a missing value where the contract requires one is refused."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False).replace_schema_metadata(None)
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise ValueError(f"{table.column(field.name).null_count} rows lack a value for {field.name}")
    return table


def _iso(series: pd.Series) -> list[str | None]:
    """Vectorised ISO 8601 text: a million timestamps in well under a second."""
    values = np.datetime_as_string(series.dt.tz_localize(None).to_numpy(dtype="datetime64[us]"), unit="us")
    return [None if text == "NaT" else text + "+00:00" for text in values.tolist()]


def sql_rows(frame: pd.DataFrame) -> list[tuple]:
    """Rows of a ``scored_frame`` as SQLite parameters, in ``STORED_COLUMNS`` order."""
    columns = [_iso(frame[name]) if name in _TIMES else frame[name].tolist() for name in STORED_COLUMNS]
    return list(zip(*columns, strict=True))


def typed_frame(rows: list[tuple], columns: Sequence[str]) -> pd.DataFrame:
    """SQLite rows back into a frame with the contract's dtypes (timestamps datetime64[us, UTC], text as object)."""
    data: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    result: dict[str, pd.Series] = {}
    for name, values in zip(columns, data, strict=True):
        if name in _FLOATS:
            result[name] = pd.Series(values, dtype="float64")
        elif name in _INTS:
            result[name] = pd.Series(values, dtype="int64")
        elif name in _TIMES:
            parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
            result[name] = parsed.astype("datetime64[us, UTC]")
        elif name in _FLAGS:
            result[name] = pd.Series(values, dtype="boolean")  # SQLite's 0 / 1 / NULL as False / True / <NA>
        else:
            result[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(result, columns=list(columns))


def read_frame(cursor: sqlite3.Cursor, columns: Sequence[str], block: int = 50_000) -> pd.DataFrame:
    """A query's rows as a ``typed_frame``, fetched in blocks: a million rows as Python tuples would take gigabytes."""
    frames = [typed_frame([], columns)]
    while rows := cursor.fetchmany(block):
        frames.append(typed_frame(rows, columns))
    return frames[-1] if len(frames) <= 2 else pd.concat(frames[1:], ignore_index=True)


def arrow_pandas(table: pa.Table) -> pd.DataFrame:
    """A stored table as written: text and bytes as object columns holding None, numbers and UTC times typed.

    pandas >= 3 would make text its ``str`` dtype, whose missing value is NaN (a truthy float).
    """
    return pd.DataFrame(
        {
            name: pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
            if pa.types.is_string(column.type) or pa.types.is_binary(column.type)
            else pd.Series(column.to_pylist(), dtype="boolean")
            if pa.types.is_boolean(column.type)
            else column.to_pandas()
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    )


def utc_text(value: Any, what: str) -> str:
    """One timestamp as the store's ISO 8601 UTC text; a value without a time zone is refused, not guessed."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"{what} is missing")
    if stamp.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone; timestamps are kept in UTC")
    return stamp.tz_convert("UTC").isoformat(timespec="microseconds")


def _label(value: Any) -> int:
    if isinstance(value, str) and value.strip() in {"0", "1"}:
        return int(value.strip())
    if isinstance(value, numbers.Number) and not _is_missing(value) and value in (0, 1):
        return int(value)  # type: ignore[call-overload]
    raise ValueError(f"label {value!r} is not 0 or 1")


def _required(value: Any, what: str) -> str:
    if (text := _text(value)) is None or not text.strip():
        raise ValueError(f"{what} is missing")
    return text


def adjudication_rows(frame: pd.DataFrame) -> list[tuple[str, int, str, str, str]]:
    """(report_id, label, adjudicated_at, adjudicator, source_file) per row, checked before anything is stored."""
    _missing(frame, ADJUDICATION_COLUMNS, "adjudications")
    return [
        (_required(report_id, "report_id"), _label(label), utc_text(at, "adjudicated_at"),
         _required(adjudicator, "adjudicator"), _required(source_file, "source_file"))
        for report_id, label, at, adjudicator, source_file in frame[list(ADJUDICATION_COLUMNS)].itertuples(
            index=False, name=None)
    ]  # fmt: skip


def chunk_frames(
    predictions: pd.DataFrame,
    quarantined: pd.DataFrame,
    batch: str,
    scored_elsewhere: Callable[[list[str]], list[bool]],
    use_case: str | None = None,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict[str, pa.Table | None]]:
    """One chunk as every backend stores it: the checked scored and quarantine frames (None when empty), the scored
    rows marked ``resubmitted`` where ``scored_elsewhere`` says so, and their Parquet tables. Both frames are checked
    before anything is written, so a refused chunk leaves no half of itself behind."""
    scored = scored_frame(predictions, batch, use_case) if len(predictions) else None
    if scored is not None:
        scored["resubmitted"] = scored_elsewhere(scored["report_id"].tolist())
    held = quarantine_frame(quarantined) if len(quarantined) else None
    tables = {
        "predictions": arrow_table(scored, PREDICTION_SCHEMA) if scored is not None else None,
        "quarantine": arrow_table(held, QUARANTINE_SCHEMA) if held is not None else None,
    }
    return scored, held, tables


class ChunkWriter(Protocol):
    """What ``write_chunk`` needs of a batch writer (both backends' writers)."""

    batch: str
    use_case: str | None
    scored: int
    quarantined: int
    triage: Counter[str]
    broken: bool
    parquet_writers: dict[str, Any]


def write_chunk(
    writer: ChunkWriter,
    predictions: pd.DataFrame,
    quarantined: pd.DataFrame,
    scored_elsewhere: Callable[[list[str]], list[bool]],
    write_scored: Callable[[pd.DataFrame], None],
) -> None:
    """One chunk into a batch writer: the scored rows through the backend's ``write_scored``, the counts, the Parquet
    tables; ``broken`` stays set if any of it fails half way, so the batch is never committed."""
    scored, held, tables = chunk_frames(predictions, quarantined, writer.batch, scored_elsewhere, writer.use_case)
    writer.broken = True
    if scored is not None:
        write_scored(scored)
        writer.scored += len(scored)
        writer.triage.update(scored["triage"].value_counts().to_dict())
    if held is not None:
        writer.quarantined += len(held)
    for name, table in tables.items():
        if table is not None:
            writer.parquet_writers[name].write_table(table)
    writer.broken = False


def with_hours_left(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The PRIORITY queue's ``hours_left`` column: hours from ``now`` (which must carry a time zone) to ``due_at``."""
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone (UTC)")
    frame["hours_left"] = (frame["due_at"] - pd.Timestamp(now).tz_convert("UTC")).dt.total_seconds() / 3600.0
    frame["hours_left"] = frame["hours_left"].astype("float64")
    return frame


class _Closable(Protocol):
    broken: bool

    def close(self) -> None: ...


W = TypeVar("W", bound=_Closable)


@contextmanager
def whole_batch(writer: W, batch: str) -> Iterator[W]:
    """Hands a batch writer to the caller's ``with`` block and closes it however the block ends; a writer left broken
    by a chunk that failed half written is refused before anything is committed (every backend's writer)."""
    try:
        yield writer
    finally:
        writer.close()
    if writer.broken:
        raise RuntimeError(f"a chunk of batch {batch!r} failed half written; the attempt is not committed")
