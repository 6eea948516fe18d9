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

Use cases: every table carries ``use_case``; ``predictions.row_use_case`` is a virtual column (the row's own
``use_case``, else the one its model version names, for rows stored before the column), indexed, so every filter by
use case is answered from an index. Nothing stored before is rewritten (its hashes in the audit trail hold).
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
    VERSION_USE_CASE_SQL,
    adjudication_rows,
    arrow_pandas,
    event_use_case,
    read_frame,
    typed_frame,
    utc_text,
    with_hours_left,
)
from gxp_assets.stores.results_integrity import index_problems, rebuild_index
from gxp_assets.stores.results_local_writer import FILES, QUEUE_ORDER, LocalBatchWriter, now_text, write_batch
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
    "predictions_queue": f"ON predictions ({QUEUE_ORDER}, scored_at, source, batch, row_use_case)",
    "predictions_by_report_time": "ON predictions (report_id, row_use_case, scored_at)",
    "predictions_by_batch_seq": "ON predictions (batch, intake_seq)",
}
#: Indexes of earlier stores that a later one makes redundant (a prefix of it): ``_upgrade`` drops them, as every
#: index is updated for every row a batch commits.
_OBSOLETE_INDEXES = ("predictions_by_batch", "predictions_by_report")
_INDEXES = "".join(f"CREATE INDEX IF NOT EXISTS {name} {what};\n" for name, what in _LATER_INDEXES.items())
#: Each row's use case, computed by SQLite (never stored, so rows stored before ``use_case`` keep their bytes).
_ROW_USE_CASE = f"row_use_case TEXT GENERATED ALWAYS AS (COALESCE(use_case, {VERSION_USE_CASE_SQL})) VIRTUAL"
#: Columns added to a table after the first stores were made (``_upgrade`` adds them, empty, to an older index).
_LATER_COLUMNS = {"batches": "use_case TEXT", "adjudications": "use_case TEXT", "monitoring": "use_case TEXT"}
_BATCH_COLUMNS = ("batch, run_id, scored, quarantined, triage_counts, predictions_sha256, quarantine_sha256,"
                  " predictions_path, quarantine_path, written_at, use_case")  # fmt: skip
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions ({", ".join(f"{f.name} {_sql_type(f)}" for f in PREDICTION_SCHEMA)},
    {_ROW_USE_CASE});
CREATE INDEX IF NOT EXISTS predictions_by_triage_due ON predictions (triage, due_at);
{_INDEXES}CREATE TABLE IF NOT EXISTS batches (
    batch TEXT PRIMARY KEY, run_id TEXT NOT NULL, scored INTEGER NOT NULL, quarantined INTEGER NOT NULL,
    triage_counts TEXT NOT NULL, predictions_sha256 TEXT NOT NULL, quarantine_sha256 TEXT NOT NULL,
    predictions_path TEXT NOT NULL, quarantine_path TEXT NOT NULL, written_at TEXT NOT NULL, use_case TEXT
);
CREATE TABLE IF NOT EXISTS adjudications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, report_id TEXT NOT NULL, label INTEGER NOT NULL CHECK (label IN (0, 1)),
    adjudicated_at TEXT NOT NULL, adjudicator TEXT NOT NULL, source_file TEXT NOT NULL, recorded_at TEXT NOT NULL,
    use_case TEXT, UNIQUE (report_id, label, adjudicated_at, source_file, use_case)
);
CREATE INDEX IF NOT EXISTS adjudications_by_report ON adjudications (report_id, adjudicated_at);
CREATE TABLE IF NOT EXISTS monitoring (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, batch TEXT, model_version TEXT,
    alarms TEXT NOT NULL, evidence TEXT NOT NULL, created_at TEXT NOT NULL, use_case TEXT
);
""" + "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{op[0]} BEFORE {op} ON {table}"
    f" BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;\n"
    for table in ("adjudications", "monitoring")
    for op in ("UPDATE", "DELETE")
)

_LAST_OBJECT = "monitoring_append_only_D"  # created last: when it exists, the whole schema does
_P_COLUMNS = ", ".join(f"p.{name}" for name in STORED_COLUMNS)
# The latest scoring of a report (within its use case) wins when it was scored in more than one batch.
_LATEST_P = (
    "NOT EXISTS (SELECT 1 FROM predictions AS q WHERE q.report_id = p.report_id AND q.row_use_case IS p.row_use_case"
    " AND (q.scored_at > p.scored_at OR (q.scored_at = p.scored_at AND q.rowid > p.rowid)))"
)
# An adjudication of ``alias`` counts for the scoring p when given in p's use case (or stored before use cases were).
_SAME_CASE = "({alias}.use_case IS NULL OR {alias}.use_case = p.row_use_case)"
_OPEN = (
    f"NOT EXISTS (SELECT 1 FROM adjudications AS a WHERE a.report_id = p.report_id AND {_SAME_CASE.format(alias='a')})"
)
_LATEST_A = (
    f"NOT EXISTS (SELECT 1 FROM adjudications AS b WHERE b.report_id = a.report_id AND {_SAME_CASE.format(alias='b')}"
    " AND (b.adjudicated_at > a.adjudicated_at OR (b.adjudicated_at = a.adjudicated_at AND b.seq > a.seq)))"
)
# A batch's use case: recorded with it, else its rows' (a batch stored before it was recorded).
_BATCH_USE_CASE = (
    "COALESCE(b.use_case, (SELECT p.row_use_case FROM predictions AS p WHERE p.batch = b.batch LIMIT 1))"
)


def _folder_name(batch: str) -> str:
    """One folder per batch, whatever its name: quoted, and never '.' or '..'."""
    if not batch:
        raise ValueError("a batch needs a non-empty name")
    name = quote(batch, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


def _event(row: tuple) -> MonitoringEvent:
    event_id, kind, batch, model_version, alarms, evidence, created_at, use_case = row
    facts = json.loads(evidence)
    return MonitoringEvent(
        event_id, kind, batch, model_version, tuple(json.loads(alarms)), facts, datetime.fromisoformat(created_at),
        event_use_case(use_case, model_version, facts),
    )  # fmt: skip


def _queue_arms(levels: tuple[str, ...], where: QueueFilter) -> tuple[list[str], list[object]]:
    """One WHERE clause per level (an arm of the UNION ALL) and the parameters of all arms, in order."""
    clauses, values = ["p.triage = ?"], []
    for column, value in (("source", where.source), ("batch", where.batch), ("row_use_case", where.use_case)):
        if value:
            clauses.append(f"p.{column} = ?")
            values.append(value)
    if where.due_before is not None:
        clauses.append("p.due_at < ?")
        values.append(utc_text(where.due_before, "due_before"))
    clauses += [_OPEN, _LATEST_P]
    arm = "WHERE " + " AND ".join(clauses)
    return [arm] * len(levels), [item for level in levels for item in (level, *values)]


def _lacking(connection: sqlite3.Connection) -> tuple[list[str], list[str]]:
    """What an index made by an earlier version lacks: ``ALTER TABLE`` statements (columns, in order) and the names
    of later indexes missing or defined otherwise than now."""
    def columns(table: str) -> set[str]:
        return {row[1] for row in connection.execute(f"PRAGMA table_xinfo({table})")}

    present = columns("predictions")
    alter = [f"ALTER TABLE predictions ADD COLUMN {field.name} {_sql_type(field)}" for field in PREDICTION_SCHEMA
             if field.name not in present]  # fmt: skip
    if "row_use_case" not in present:
        alter.append(f"ALTER TABLE predictions ADD COLUMN {_ROW_USE_CASE}")
    alter += [f"ALTER TABLE {table} ADD COLUMN {column}" for table, column in _LATER_COLUMNS.items()
              if column.split()[0] not in columns(table)]  # fmt: skip
    defined = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    stale = [name for name, what in _LATER_INDEXES.items() if defined.get(name) != f"CREATE INDEX {name} {what}"]
    return alter, stale + [name for name in _OBSOLETE_INDEXES if name in defined]


def _upgrade(connection: sqlite3.Connection) -> None:
    """An index made by an earlier version gets what it lacks: later columns (empty, NULL, for the rows it already
    holds: nothing stored is rewritten) and the later indexes (an index defined otherwise is made again); the
    indexes they make redundant are dropped."""
    if any(_lacking(connection)):
        connection.execute("BEGIN IMMEDIATE")
        alter, indexes = _lacking(connection)  # under the lock
        for statement in alter:
            connection.execute(statement)
        for name in indexes:
            connection.execute(f"DROP INDEX IF EXISTS {name}")
        for name, what in _LATER_INDEXES.items():
            connection.execute(f"CREATE INDEX IF NOT EXISTS {name} {what}")
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
    def writer(
        self, batch: str, run_id: str, on_commit: OnCommit | None = None, use_case: str | None = None
    ) -> Iterator[LocalBatchWriter]:
        folder = self.root / "batches" / _folder_name(batch)
        folder.mkdir(parents=True, exist_ok=True)
        with self._scratch.claim() as claim:
            temps = {name: claim.path(f"{name}.tmp") for name in (*FILES, "staging")}
            yield from write_batch(self._connect(), self.root, (batch, use_case), run_id, on_commit, folder, temps)

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
            quarantine_path=self.root / row[8], written_at=datetime.fromisoformat(row[9]), use_case=row[10],
        )  # fmt: skip

    def _summaries(self, where: str, params: Sequence[object]) -> list[BatchSummary]:
        columns = _BATCH_COLUMNS.replace("use_case", f"{_BATCH_USE_CASE} AS use_case")
        with closing(self._connect()) as connection:
            rows = connection.execute(f"SELECT * FROM (SELECT {columns} FROM batches AS b) {where} ORDER BY batch",
                                      params).fetchall()  # fmt: skip
        return [self._summary(row) for row in rows]

    def batch_summary(self, batch: str) -> BatchSummary | None:
        found = self._summaries("WHERE batch = ?", (batch,))
        return found[0] if found else None

    def batches(self, use_case: str | None = None) -> list[BatchSummary]:
        return self._summaries("WHERE use_case = ?", (use_case,)) if use_case else self._summaries("", ())

    def predictions(
        self, batch: str | None = None, report_ids: Sequence[str] | None = None, use_case: str | None = None
    ) -> pd.DataFrame:
        """A whole batch comes from its Parquet file (checked), much faster than a million SQLite rows; the rest
        from SQLite. Rows in batch, then intake order."""
        if isinstance(report_ids, str):
            raise TypeError("report_ids is a sequence of ids, not one id")
        if batch is not None and report_ids is None and use_case is None:
            frame = self._read_file(batch, "predictions")
            return frame if frame["intake_seq"].is_monotonic_increasing else frame.sort_values(
                "intake_seq", kind="stable", ignore_index=True)  # fmt: skip
        query, params = f"SELECT {_P_COLUMNS} FROM predictions AS p", []
        with closing(self._connect()) as connection:
            if report_ids is not None:  # a temporary table, so any number of ids makes one query
                connection.execute("CREATE TEMP TABLE wanted (report_id TEXT PRIMARY KEY)")
                connection.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((str(r),) for r in report_ids))
                query += " JOIN temp.wanted AS w ON w.report_id = p.report_id"
            wanted = [(column, value) for column, value in (("batch", batch), ("row_use_case", use_case)) if value]
            if wanted:
                query += " WHERE " + " AND ".join(f"p.{column} = ?" for column, _ in wanted)
                params = [value for _, value in wanted]
            return read_frame(connection.execute(query + " ORDER BY p.batch, p.intake_seq", params), STORED_COLUMNS)

    def find_report(self, report_id: str, use_case: str | None = None) -> pd.DataFrame:
        of_case = " AND p.row_use_case = ?" if use_case else ""
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                f"SELECT {_P_COLUMNS} FROM predictions AS p WHERE p.report_id = ?{of_case}"
                " ORDER BY p.scored_at, p.rowid", (report_id, use_case) if use_case else (report_id,),
            )  # fmt: skip
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

    def record_adjudications(self, frame: pd.DataFrame, use_case: str) -> int:
        if frame.empty:
            return 0
        if not use_case:
            raise ValueError("an adjudication is given in a use case; name it")
        rows = [(*row, now_text(), use_case) for row in adjudication_rows(frame)]
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO adjudications (report_id, label, adjudicated_at, adjudicator, source_file,"
                " recorded_at, use_case) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = connection.total_changes - before
            connection.execute("COMMIT")
        return added

    def adjudicated(self, since: datetime | None = None, use_case: str | None = None) -> pd.DataFrame:
        query = (
            f"SELECT {_P_COLUMNS}, a.label, a.adjudicated_at, a.adjudicator FROM adjudications AS a"
            f" JOIN predictions AS p ON p.report_id = a.report_id AND {_SAME_CASE.format(alias='a')}"
            f" WHERE {_LATEST_A} AND {_LATEST_P}"
        )
        params: list[str] = []
        if use_case:
            query, params = query + " AND p.row_use_case = ?", [use_case]
        if since is not None:
            query, params = query + " AND a.adjudicated_at >= ?", [*params, utc_text(since, "since")]
        with closing(self._connect()) as connection:
            cursor = connection.execute(query + " ORDER BY a.adjudicated_at, a.report_id", params)
            return read_frame(cursor, (*STORED_COLUMNS, "label", "adjudicated_at", "adjudicator"))

    def record_monitoring(
        self, kind: str, batch: str | None, model_version: str | None, alarms: list[str], evidence: dict,
        use_case: str | None = None,
    ) -> int:  # fmt: skip
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                "INSERT INTO monitoring (kind, batch, model_version, alarms, evidence, created_at, use_case)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, batch, model_version, json.dumps(list(alarms)), canonical_json(evidence).decode(), now_text(),
                 use_case),
            )  # fmt: skip
            return int(cursor.lastrowid or 0)

    def monitoring_since(self, after_id: int, use_case: str | None = None) -> list[MonitoringEvent]:
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT event_id, kind, batch, model_version, alarms, evidence, created_at, use_case FROM monitoring"
                " WHERE event_id > ? ORDER BY event_id", (after_id,)
            ).fetchall()  # fmt: skip
        events = [_event(row) for row in rows]
        return [event for event in events if event.use_case == use_case] if use_case else events
