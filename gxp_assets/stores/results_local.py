"""The embedded results store: SQLite to query scored rows, one pair of Parquet files per batch as its record.

``<home>/results/results.sqlite`` holds every scored row (queue, trace and monitoring read it), one row per batch
with counts and the SHA-256 of its files, adjudications and monitoring events (both append-only);
``<home>/results/batches/<quoted batch>/`` holds ``predictions.parquet`` and ``quarantine.parquet``.

A writer streams each chunk into temporary Parquet files and a staging SQLite file under ``<home>/scratch/results``,
so memory stays bounded and nobody is locked out while a batch is scored; what a killed writer left there is removed
when the store is next opened (:mod:`gxp_assets.stores.scratch`). On exit, under one ``BEGIN IMMEDIATE``, the batch's
rows are swapped in and the files renamed over the old ones (the old ones kept as hard links until COMMIT), so
readers see the old results or the new ones, never a mix. Quarantine columns beyond intake + reason/detail are
folded into a JSON object in ``extra``; ``raw`` keeps every record's original bytes in any case. The writer is in
results_local_writer.py. The work queue is read a page at a time through the ``predictions_queue`` index.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.stores.local import default_home
from gxp_assets.stores.protocols import IntegrityError
from gxp_assets.stores.results_frames import (
    PREDICTION_SCHEMA,
    QUARANTINE_SCHEMA,
    STORED_COLUMNS,
    adjudication_rows,
    arrow_pandas,
    read_frame,
    typed_frame,
    utc_text,
    with_hours_left,
)
from gxp_assets.stores.results_integrity import index_problems, rebuild_index
from gxp_assets.stores.results_local_writer import FILES, LocalBatchWriter, now_text, write_batch
from gxp_assets.stores.results_protocol import BatchSummary, MonitoringEvent, OnCommit, QueueFilter, queue_levels
from gxp_assets.stores.scratch import Scratch


def _sql_type(field: pa.Field) -> str:
    numbers = pa.types.is_integer(field.type) or pa.types.is_boolean(field.type)
    kind = "REAL" if pa.types.is_floating(field.type) else "INTEGER" if numbers else "TEXT"
    return kind if field.nullable else f"{kind} NOT NULL"


#: Indexes added after the first stores were made (``_upgrade`` adds them to an older index): the work queue's order
#: within one triage level (the queue merges one ordered walk of it per level; it covers the filters, so a count reads
#: no table row), a report's scorings by time, so "is this its latest scoring?" is answered from the index alone (and
#: any lookup by report id), and a batch's rows in intake order, so hashing a batch (``rows_sha256``) sorts nothing.
_LATER_INDEXES = {
    "predictions_queue": "ON predictions (triage, due_at IS NULL, due_at, p_ae DESC, report_id, scored_at, source,"
                         " batch)",
    "predictions_by_report_time": "ON predictions (report_id, scored_at)",
    "predictions_by_batch_seq": "ON predictions (batch, intake_seq)",
}
#: Indexes of earlier stores that a later one makes redundant (a prefix of it): ``_upgrade`` drops them, as every
#: index is updated for every row a batch commits.
_OBSOLETE_INDEXES = ("predictions_by_batch", "predictions_by_report")
_INDEXES = "".join(f"CREATE INDEX IF NOT EXISTS {name} {what};\n" for name, what in _LATER_INDEXES.items())
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions ({", ".join(f"{f.name} {_sql_type(f)}" for f in PREDICTION_SCHEMA)});
CREATE INDEX IF NOT EXISTS predictions_by_triage_due ON predictions (triage, due_at);
{_INDEXES}CREATE TABLE IF NOT EXISTS batches (
    batch TEXT PRIMARY KEY, run_id TEXT NOT NULL, scored INTEGER NOT NULL, quarantined INTEGER NOT NULL,
    triage_counts TEXT NOT NULL, predictions_sha256 TEXT NOT NULL, quarantine_sha256 TEXT NOT NULL,
    predictions_path TEXT NOT NULL, quarantine_path TEXT NOT NULL, written_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adjudications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, report_id TEXT NOT NULL, label INTEGER NOT NULL CHECK (label IN (0, 1)),
    adjudicated_at TEXT NOT NULL, adjudicator TEXT NOT NULL, source_file TEXT NOT NULL, recorded_at TEXT NOT NULL,
    UNIQUE (report_id, label, adjudicated_at, source_file)
);
CREATE INDEX IF NOT EXISTS adjudications_by_report ON adjudications (report_id, adjudicated_at);
CREATE TABLE IF NOT EXISTS monitoring (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, batch TEXT, model_version TEXT,
    alarms TEXT NOT NULL, evidence TEXT NOT NULL, created_at TEXT NOT NULL
);
""" + "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{op[0]} BEFORE {op} ON {table}"
    f" BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;\n"
    for table in ("adjudications", "monitoring")
    for op in ("UPDATE", "DELETE")
)

_LAST_OBJECT = "monitoring_append_only_D"  # created last: when it exists, the whole schema does
_P_COLUMNS = ", ".join(f"p.{name}" for name in STORED_COLUMNS)
# The latest scoring of a report wins when it was scored in more than one batch.
_LATEST_P = (
    "NOT EXISTS (SELECT 1 FROM predictions AS q WHERE q.report_id = p.report_id"
    " AND (q.scored_at > p.scored_at OR (q.scored_at = p.scored_at AND q.rowid > p.rowid)))"
)
_OPEN = "NOT EXISTS (SELECT 1 FROM adjudications AS a WHERE a.report_id = p.report_id)"
_LATEST_A = (
    "NOT EXISTS (SELECT 1 FROM adjudications AS b WHERE b.report_id = a.report_id"
    " AND (b.adjudicated_at > a.adjudicated_at OR (b.adjudicated_at = a.adjudicated_at AND b.seq > a.seq)))"
)


def _folder_name(batch: str) -> str:
    """One folder per batch, whatever its name: quoted, and never '.' or '..'."""
    if not batch:
        raise ValueError("a batch needs a non-empty name")
    name = quote(batch, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


def _event(row: tuple) -> MonitoringEvent:
    event_id, kind, batch, model_version, alarms, evidence, created_at = row
    return MonitoringEvent(
        event_id, kind, batch, model_version, tuple(json.loads(alarms)), json.loads(evidence),
        datetime.fromisoformat(created_at),
    )  # fmt: skip


def _queue_arms(levels: tuple[str, ...], where: QueueFilter) -> tuple[list[str], list[object]]:
    """One WHERE clause per level (an arm of the UNION ALL) and the parameters of all arms, in order."""
    clauses, values = ["p.triage = ?"], []
    for column, value in (("source", where.source), ("batch", where.batch)):
        if value:
            clauses.append(f"p.{column} = ?")
            values.append(value)
    if where.due_before is not None:
        clauses.append("p.due_at < ?")
        values.append(utc_text(where.due_before, "due_before"))
    clauses += [_OPEN, _LATEST_P]
    arm = "WHERE " + " AND ".join(clauses)
    return [arm] * len(levels), [item for level in levels for item in (level, *values)]


def _upgrade(connection: sqlite3.Connection) -> None:
    """An index made by an earlier version gets what it lacks: note columns (empty, NULL, for the rows it already
    holds) and the later indexes; the indexes they make redundant are dropped."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(predictions)")}
    missing = [field for field in PREDICTION_SCHEMA if field.name not in present]
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    if missing or set(_LATER_INDEXES) - indexes or indexes & set(_OBSOLETE_INDEXES):
        connection.execute("BEGIN IMMEDIATE")
        present = {row[1] for row in connection.execute("PRAGMA table_info(predictions)")}  # under the lock
        for field in missing:
            if field.name not in present:
                connection.execute(f"ALTER TABLE predictions ADD COLUMN {field.name} {_sql_type(field)}")
        for name, what in _LATER_INDEXES.items():
            connection.execute(f"CREATE INDEX IF NOT EXISTS {name} {what}")
        for name in _OBSOLETE_INDEXES:
            connection.execute(f"DROP INDEX IF EXISTS {name}")
        connection.execute("COMMIT")


class LocalResultsStore:
    """``ResultsStore`` under ``<home>/results``."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home).resolve() if home else default_home()
        self.root = self.home / "results"
        (self.root / "batches").mkdir(parents=True, exist_ok=True)
        self._path = self.root / "results.sqlite"
        self._scratch = Scratch(self.home / "scratch" / "results")
        self._scratch.sweep()  # what writers killed before left behind
        with closing(self._connect()) as connection:
            # Only a new file is set up, so opening the store never waits for a batch being committed.
            if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (_LAST_OBJECT,)).fetchone():
                connection.execute("PRAGMA journal_mode=WAL")  # sensors and dashboards read while a batch commits
                connection.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            _upgrade(connection)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=30, isolation_level=None)

    # -- writing batches ------------------------------------------------------------------------------------------

    @contextmanager
    def writer(self, batch: str, run_id: str, on_commit: OnCommit | None = None) -> Iterator[LocalBatchWriter]:
        folder = self.root / "batches" / _folder_name(batch)
        folder.mkdir(parents=True, exist_ok=True)
        with self._scratch.claim() as claim:
            temps = {name: claim.path(f"{name}.tmp") for name in (*FILES, "staging")}
            yield from write_batch(self._connect(), self.root, batch, run_id, on_commit, folder, temps)

    # -- integrity ------------------------------------------------------------------------------------------------

    def verify(self, recorded: dict[str, dict]) -> list[str]:
        """Differences between the index (and batch files) and ``recorded`` (the audit trail's results entries)."""
        return index_problems(self._path, self.root, recorded)

    def rebuild(self, recorded: dict[str, dict]) -> list[str]:
        """A new index from the verified batch files; returns the batches restored."""
        return rebuild_index(self._path, self.root, recorded, _SCHEMA)

    # -- reading batches ------------------------------------------------------------------------------------------

    def _summary(self, row: tuple) -> BatchSummary:
        return BatchSummary(
            batch=row[0], run_id=row[1], scored=row[2], quarantined=row[3], triage_counts=json.loads(row[4]),
            predictions_sha256=row[5], quarantine_sha256=row[6], predictions_path=self.root / row[7],
            quarantine_path=self.root / row[8], written_at=datetime.fromisoformat(row[9]),
        )  # fmt: skip

    def batch_summary(self, batch: str) -> BatchSummary | None:
        with closing(self._connect()) as connection:
            row = connection.execute("SELECT * FROM batches WHERE batch = ?", (batch,)).fetchone()
        return self._summary(row) if row else None

    def batches(self) -> list[BatchSummary]:
        with closing(self._connect()) as connection:
            return [self._summary(row) for row in connection.execute("SELECT * FROM batches ORDER BY batch")]

    def predictions(self, batch: str | None = None, report_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """A whole batch comes from its Parquet file (checked), much faster than a million SQLite rows; the rest
        from SQLite. Rows in batch, then intake order."""
        if isinstance(report_ids, str):
            raise TypeError("report_ids is a sequence of ids, not one id")
        if batch is not None and report_ids is None:
            frame = self._read_file(batch, "predictions")
            return frame if frame["intake_seq"].is_monotonic_increasing else frame.sort_values(
                "intake_seq", kind="stable", ignore_index=True)  # fmt: skip
        query, params = f"SELECT {_P_COLUMNS} FROM predictions AS p", []
        with closing(self._connect()) as connection:
            if report_ids is not None:  # a temporary table, so any number of ids makes one query
                connection.execute("CREATE TEMP TABLE wanted (report_id TEXT PRIMARY KEY)")
                connection.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((str(r),) for r in report_ids))
                query += " JOIN temp.wanted AS w ON w.report_id = p.report_id"
            if batch is not None:
                query, params = query + " WHERE p.batch = ?", [batch]
            return read_frame(connection.execute(query + " ORDER BY p.batch, p.intake_seq", params), STORED_COLUMNS)

    def find_report(self, report_id: str) -> pd.DataFrame:
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                f"SELECT {_P_COLUMNS} FROM predictions AS p WHERE p.report_id = ? ORDER BY p.scored_at, p.rowid",
                (report_id,),
            )
            return read_frame(cursor, STORED_COLUMNS)

    def quarantined(self, batch: str) -> pd.DataFrame:
        return self._read_file(batch, "quarantine")

    def _read_file(self, batch: str, name: str) -> pd.DataFrame:
        """One of the batch's Parquet files, refused when its bytes no longer hash to what the batch row records."""
        schema = PREDICTION_SCHEMA if name == "predictions" else QUARANTINE_SCHEMA
        summary = self.batch_summary(batch)
        if summary is None:
            return arrow_pandas(schema.empty_table())
        path, expected = getattr(summary, f"{name}_path"), getattr(summary, f"{name}_sha256")
        payload = path.read_bytes()
        if (actual := sha256_hex(payload)) != expected:
            raise IntegrityError(
                f"{name} of batch '{batch}' at {path} was recorded with SHA-256 {expected} "
                f"but its bytes hash to {actual}: it has been altered"
            )
        return arrow_pandas(pq.read_table(pa.BufferReader(payload), schema=schema))

    def priority_queue(
        self, now: datetime, levels: Sequence[str] = ("PRIORITY",), where: QueueFilter | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> pd.DataFrame:  # fmt: skip
        """Latest scorings of a triage in ``levels`` that have no adjudication; due first (missing last), then
        surest. One ordered walk of the ``predictions_queue`` index per level, merged (UNION ALL + ORDER BY), so a
        page costs the rows before it, not the whole queue."""
        if now.tzinfo is None:
            raise ValueError("now must carry a time zone (UTC)")
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError("limit and offset are counts (>= 0)")
        arms, params = _queue_arms(queue_levels(levels), where or QueueFilter())
        query = (" UNION ALL ".join(f"SELECT {_P_COLUMNS}, p.due_at IS NULL AS undated FROM predictions AS p {arm}"
                                    for arm in arms)
                 + " ORDER BY undated, due_at, p_ae DESC, report_id LIMIT ? OFFSET ?")  # fmt: skip
        with closing(self._connect()) as connection:
            rows = connection.execute(query, (*params, -1 if limit is None else limit, offset)).fetchall()
        return with_hours_left(typed_frame([row[:-1] for row in rows], STORED_COLUMNS), now)  # without ``undated``

    def queue_size(
        self, levels: Sequence[str] = ("PRIORITY",), where: QueueFilter | None = None, at_most: int | None = None
    ) -> int:
        arms, params = _queue_arms(queue_levels(levels), where or QueueFilter())
        cap = -1 if at_most is None else at_most
        query = " + ".join(f"(SELECT COUNT(*) FROM (SELECT 1 FROM predictions AS p {arm} LIMIT {int(cap)}))"
                           for arm in arms)  # fmt: skip
        with closing(self._connect()) as connection:
            found = int(connection.execute(f"SELECT {query}", params).fetchone()[0])
        return found if at_most is None else min(found, at_most)

    # -- feedback and monitoring ----------------------------------------------------------------------------------

    def record_adjudications(self, frame: pd.DataFrame) -> int:
        if frame.empty:
            return 0
        rows = [(*row, now_text()) for row in adjudication_rows(frame)]
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO adjudications (report_id, label, adjudicated_at, adjudicator, source_file,"
                " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = connection.total_changes - before
            connection.execute("COMMIT")
        return added

    def adjudicated(self, since: datetime | None = None) -> pd.DataFrame:
        query = (
            f"SELECT {_P_COLUMNS}, a.label, a.adjudicated_at, a.adjudicator FROM adjudications AS a"
            f" JOIN predictions AS p ON p.report_id = a.report_id WHERE {_LATEST_A} AND {_LATEST_P}"
        )
        params: list[str] = []
        if since is not None:
            query, params = query + " AND a.adjudicated_at >= ?", [utc_text(since, "since")]
        with closing(self._connect()) as connection:
            cursor = connection.execute(query + " ORDER BY a.adjudicated_at, a.report_id", params)
            return read_frame(cursor, (*STORED_COLUMNS, "label", "adjudicated_at", "adjudicator"))

    def record_monitoring(
        self, kind: str, batch: str | None, model_version: str | None, alarms: list[str], evidence: dict
    ) -> int:
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                "INSERT INTO monitoring (kind, batch, model_version, alarms, evidence, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, batch, model_version, json.dumps(list(alarms)), canonical_json(evidence).decode(), now_text()),
            )
            return int(cursor.lastrowid or 0)

    def monitoring_since(self, after_id: int) -> list[MonitoringEvent]:
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT * FROM monitoring WHERE event_id > ? ORDER BY event_id", (after_id,)
            ).fetchall()
        return [_event(row) for row in rows]
