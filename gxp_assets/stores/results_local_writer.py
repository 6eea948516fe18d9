"""Writing one batch into the embedded results store (results_local.py): chunks are staged in a scratch SQLite file
and temporary Parquet files, then swapped in under one ``BEGIN IMMEDIATE`` with the files renamed over the old ones
(kept as hard links until COMMIT), so readers see the old results or the new ones, never a mix."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from gxp_assets.stores.results_frames import (
    PREDICTION_SCHEMA,
    QUARANTINE_SCHEMA,
    STORED_COLUMNS,
    sql_rows,
    whole_batch,
    write_chunk,
)
from gxp_assets.stores.results_integrity import rows_sha256
from gxp_assets.stores.results_protocol import TRIAGE_LEVELS, OnCommit

FILES = ("predictions", "quarantine")
_COLUMNS = ", ".join(STORED_COLUMNS)  # named, as the index also has a computed column (row_use_case)
#: The writer's page cache for the index (KiB): the default 2 MB thrashes the index B-trees when a large batch is
#: swapped in (measured, 1M rows into an empty store: commit 46.6 s at 2 MB, 35.8 s at 64 MB).
COMMIT_CACHE_KIB = 65_536
#: The work queue's order (the leading columns of results_local's ``predictions_queue`` index). A batch's rows are
#: swapped in in this order, so that index and ``predictions_by_triage_due`` are filled page after page instead of at
#: random. Measured on synthetic rows of the stored width into an empty index: 1M rows in 16.8-19.5 s instead of
#: 24.8-25.3 s (300k: 4.9 s either way). In the whole 1M benchmark the tail after the last chunk (publish + commit)
#: varied from 43 to 62 s between runs of the same code, which hides that gain.
QUEUE_ORDER = "triage, due_at IS NULL, due_at, p_ae DESC, report_id"
#: Rows turned into SQLite parameters at a time: a 50,000-row chunk's tuples at once added 32 MB to the peak of
#: adding the chunk (traced, synthetic rows). The 1M scoring benchmark's peak, reached while chunks are published,
#: did not move with it (907 MB before, 905 after): something else held then sets it.
STAGE_ROWS = 5_000


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _fsync_and_hash(path: Path) -> str:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
        return hashlib.file_digest(handle, "sha256").hexdigest()  # streamed: the file may be large


class LocalBatchWriter:
    """Streams chunks to temporary Parquet files and a staging table; nothing is visible until the store commits."""

    def __init__(
        self, batch: str, use_case: str | None, connection: sqlite3.Connection, temps: dict[str, Path]
    ) -> None:
        self.batch, self.use_case = batch, use_case
        self._connection = connection
        self.parquet_writers = {
            "predictions": pq.ParquetWriter(temps["predictions"], PREDICTION_SCHEMA, compression="zstd"),
            "quarantine": pq.ParquetWriter(temps["quarantine"], QUARANTINE_SCHEMA, compression="zstd"),
        }
        self.scored = 0
        self.quarantined = 0
        self.triage: Counter[str] = Counter()
        self.broken = False  # a chunk failed half written: SQLite and Parquet may disagree, so never commit

    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        write_chunk(self, predictions, quarantined, self._scored_elsewhere, self._stage_rows)

    def _stage_rows(self, scored: pd.DataFrame) -> None:
        marks = ", ".join("?" * len(STORED_COLUMNS))
        self._connection.execute("BEGIN")
        for start in range(0, len(scored), STAGE_ROWS):  # a block's Python tuples at a time, not a chunk's
            rows = sql_rows(scored.iloc[start : start + STAGE_ROWS])
            self._connection.executemany(f"INSERT INTO staging.rows VALUES ({marks})", rows)
            del rows
        self._connection.execute("COMMIT")

    def _scored_elsewhere(self, report_ids: list[str]) -> list[bool]:
        """Per report id, whether the index holds a scoring of it in another batch: a report sent again is kept and
        scored, and marked. (A batch committed by someone else while this one is written is not seen.) One query,
        the chunk's ids passed as one JSON array: no temporary table written row by row."""
        of_case = " AND p.row_use_case = ?" if self.use_case else ""
        seen = {row[0] for row in self._connection.execute(
            "SELECT DISTINCT p.report_id FROM main.predictions AS p WHERE p.report_id IN"
            f" (SELECT value FROM json_each(?)) AND p.batch != ?{of_case}",
            (json.dumps(report_ids), self.batch, *([self.use_case] if self.use_case else [])))}  # fmt: skip
        return [report_id in seen for report_id in report_ids]

    def close(self) -> None:
        """Finish both files; with no chunk at all they are still valid, empty Parquet files with the schema."""
        for writer in self.parquet_writers.values():
            writer.close()


def write_batch(
    connection: sqlite3.Connection, root: Path, of: tuple[str, str | None], run_id: str, on_commit: OnCommit | None,
    folder: Path, temps: dict[str, Path],
) -> Iterator[LocalBatchWriter]:  # fmt: skip
    """Stage the chunks added by the caller, then swap them in as the results of batch ``of`` = (batch, use case)
    under one write lock; ``connection`` (to the index) is closed at the end."""
    batch, use_case = of
    try:
        connection.execute(f"PRAGMA main.cache_size = -{COMMIT_CACHE_KIB}")
        connection.execute("ATTACH DATABASE ? AS staging", (str(temps["staging"]),))
        connection.executescript(
            "PRAGMA staging.journal_mode=OFF; PRAGMA staging.synchronous=OFF;"
            f"CREATE TABLE staging.rows AS SELECT {_COLUMNS} FROM main.predictions WHERE 0;"
        )
        with whole_batch(LocalBatchWriter(batch, use_case, connection, temps), batch) as writer:
            yield writer
        _commit(connection, writer, run_id, temps, folder, root, on_commit)
    finally:
        connection.close()  # the temporary files go with the claim


def _refuse_other_use_case(connection: sqlite3.Connection, writer: LocalBatchWriter) -> None:
    """A batch name is one use case's: results of another use case never replace it (nothing is committed)."""
    held = connection.execute(
        "SELECT COALESCE(b.use_case, (SELECT p.row_use_case FROM main.predictions AS p WHERE p.batch = b.batch"
        " LIMIT 1)) FROM batches AS b WHERE b.batch = ?", (writer.batch,)).fetchone()  # fmt: skip
    if writer.use_case and held and held[0] and held[0] != writer.use_case:
        raise ValueError(f"batch {writer.batch!r} holds results of use case {held[0]!r}, not {writer.use_case!r}: "
                         "a batch name is one use case's; nothing of this attempt was committed")  # fmt: skip


def _commit(
    connection: sqlite3.Connection, writer: LocalBatchWriter, run_id: str, temps: dict[str, Path], folder: Path,
    root: Path, on_commit: OnCommit | None,
) -> None:  # fmt: skip
    finals = {name: folder / f"{name}.parquet" for name in FILES}
    hashes = {name: _fsync_and_hash(temps[name]) for name in FILES}
    counts = {level: int(writer.triage.get(level, 0)) for level in TRIAGE_LEVELS}
    backups: dict[str, Path] = {}
    replaced: list[str] = []
    written_at = now_text()
    connection.execute("BEGIN IMMEDIATE")
    try:
        _refuse_other_use_case(connection, writer)
        connection.execute("DELETE FROM main.predictions WHERE batch = ?", (writer.batch,))
        connection.execute(
            f"INSERT INTO main.predictions ({_COLUMNS}) SELECT {_COLUMNS} FROM staging.rows ORDER BY {QUEUE_ORDER}"
        )
        connection.execute("DELETE FROM batches WHERE batch = ?", (writer.batch,))
        connection.execute(
            "INSERT INTO batches (batch, run_id, scored, quarantined, triage_counts, predictions_sha256,"
            " quarantine_sha256, predictions_path, quarantine_path, written_at, use_case)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (writer.batch, run_id, writer.scored, writer.quarantined, json.dumps(counts),
             hashes["predictions"], hashes["quarantine"], str(finals["predictions"].relative_to(root)),
             str(finals["quarantine"].relative_to(root)), written_at, writer.use_case),
        )  # fmt: skip
        if on_commit is not None:  # under the write lock: the latest record of a batch is what the index holds
            rows = rows_sha256(connection, writer.batch)
            on_commit({"run_id": run_id, "scored": writer.scored, "quarantined": writer.quarantined,
                       "triage_counts": counts, "predictions_sha256": hashes["predictions"],
                       "quarantine_sha256": hashes["quarantine"], "rows_sha256": rows, "folder": folder.name,
                       "written_at": written_at, "use_case": writer.use_case})  # fmt: skip
        for name, final in finals.items():  # renamed under the write lock, so commits of a batch queue up
            if final.exists():
                backups[name] = temps[name].with_suffix(".old")
                os.link(final, backups[name])
            os.replace(temps[name], final)
            replaced.append(name)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        for name in replaced:
            if name in backups:
                os.replace(backups.pop(name), finals[name])
            else:
                finals[name].unlink(missing_ok=True)
        raise
    finally:
        for backup in backups.values():
            backup.unlink(missing_ok=True)
