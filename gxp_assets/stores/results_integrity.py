"""A results index you can trust: each batch's files and index rows are hashed into the audit trail when they are
committed; readers verify the index against the trail before they answer, and the index can be rebuilt from the
verified Parquet files.

The audit entry (action ``results``, subject the batch) is written under the results store's write lock, so the
latest entry of a batch always describes what the index holds. A damaged, emptied or edited index (a PRIORITY row
set to AUTO_CLOSE, a zero-byte results.sqlite) no longer matches the trail: `gxp queue` and `gxp trace` fail
(exit 1) instead of answering from it, and `gxp results rebuild` restores it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gxp_assets.core.contracts import SCORED_COLUMNS
from gxp_assets.governance.audit import AuditEntry
from gxp_assets.stores.results_frames import PREDICTION_SCHEMA, STORED_COLUMNS, arrow_pandas, scored_frame, sql_rows

RESULTS_ACTION = "results"
_SCORED_WIDTH = len(SCORED_COLUMNS)
#: ``json.dumps(row, ensure_ascii=False, allow_nan=True)``, byte for byte: one encoder made once, not one per row.
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True)


class ResultsIntegrityError(RuntimeError):
    """The results index does not match what the audit trail recorded; ``problems`` names each difference."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the results index cannot be trusted: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
                         + ". Restore it with `gxp results rebuild`.")  # fmt: skip
        self.problems = problems


def rows_sha256(connection: sqlite3.Connection, batch: str) -> str:
    """SHA-256 of a batch's index rows in intake order, every column, as SQLite returns them.

    Trailing note columns that are NULL are left out, so a batch stored before a note existed hashes as it did.
    """
    digest = hashlib.sha256()
    columns = ", ".join(STORED_COLUMNS)
    cursor = connection.execute(f"SELECT {columns} FROM predictions WHERE batch = ? ORDER BY intake_seq", (batch,))
    while rows := cursor.fetchmany(50_000):
        add_rows(digest, rows)
    return digest.hexdigest()


def add_rows(digest: Any, rows: Iterable[Sequence[Any]]) -> None:
    """Feed index rows (``STORED_COLUMNS`` order) into ``digest``: one definition of a row's bytes for every
    backend. Trailing note columns that are None are left out."""
    lines = []
    for row in rows:
        row = tuple(row)
        while row and row[-1] is None and len(row) > _SCORED_WIDTH:
            row = row[:-1]
        lines.append(_ROW_ENCODER.encode(row))
    if lines:
        digest.update(("\n".join(lines) + "\n").encode())


def recorded_results(entries: Iterable[AuditEntry]) -> dict[str, dict[str, Any]]:
    """The latest ``results`` audit entry of every batch: what the index must hold."""
    return {entry.subject: entry.details for entry in entries if entry.action == RESULTS_ACTION}


def _file_sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def index_problems(database: Path, root: Path, recorded: dict[str, dict[str, Any]]) -> list[str]:
    """Every difference between the results index (and the batch files) and the audit trail's record."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            rows = connection.execute(
                "SELECT batch, scored, quarantined, predictions_sha256, quarantine_sha256, predictions_path,"
                " quarantine_path, use_case FROM batches"
            ).fetchall()
            digests = {batch: rows_sha256(connection, batch) for batch, *_ in rows}
            orphans = [b for (b,) in connection.execute("SELECT DISTINCT batch FROM predictions") if b not in digests]
    except sqlite3.Error as error:
        return [f"the results index {database} cannot be read ({error})"]
    problems = [f"batch {b}: rows in the index without a batch record" for b in orphans]
    indexed = {row[0]: row for row in rows}
    for batch, facts in sorted(recorded.items()):
        row = indexed.get(batch)
        if row is None:
            problems.append(f"batch {batch}: recorded in the audit trail, missing from the results index")
            continue
        _, scored, quarantined, predictions_sha256, quarantine_sha256, predictions_path, quarantine_path, case = row
        index = {"scored": scored, "quarantined": quarantined, "predictions_sha256": predictions_sha256,
                 "quarantine_sha256": quarantine_sha256, "rows_sha256": digests[batch]}  # fmt: skip
        if "use_case" in facts:  # recorded since batches carry their use case
            index["use_case"] = case
        for name, value in index.items():
            if facts.get(name) != value:
                problems.append(f"batch {batch}: the index holds {name} {value}, the audit trail {facts.get(name)}")
        for name, path in (("predictions", predictions_path), ("quarantine", quarantine_path)):
            if (actual := _file_sha256(root / path)) != facts.get(f"{name}_sha256"):
                problems.append(f"batch {batch}: {path} hashes to {actual}, the audit trail records "
                                f"{facts.get(f'{name}_sha256')}")  # fmt: skip
    problems += [f"batch {b}: in the results index, never recorded in the audit trail" for b in indexed
                 if b not in recorded]  # fmt: skip
    return problems


def rebuild_index(database: Path, root: Path, recorded: dict[str, dict[str, Any]], schema: str) -> list[str]:
    """A new index from the batch files that still hash to what the trail recorded; the old file is kept aside.
    Returns the batches restored. Adjudications and monitoring events of a readable old index are carried over."""
    old = database.with_name(f"{database.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
    if database.exists():
        shutil.move(database, old)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    restored: list[str] = []
    with closing(sqlite3.connect(database, isolation_level=None)) as connection:
        connection.executescript(f"BEGIN IMMEDIATE;{schema}COMMIT;")
        connection.execute("BEGIN IMMEDIATE")
        for batch, facts in sorted(recorded.items()):
            paths = {
                name: root / "batches" / facts["folder"] / f"{name}.parquet" for name in ("predictions", "quarantine")
            }
            if any(_file_sha256(paths[name]) != facts[f"{name}_sha256"] for name in paths):
                continue  # a file that no longer matches the trail is not restored: it is reported by verify
            frame = scored_frame(arrow_pandas(pq.read_table(paths["predictions"], schema=PREDICTION_SCHEMA)), batch)
            marks = ", ".join("?" * len(STORED_COLUMNS))
            connection.executemany(f"INSERT INTO predictions ({', '.join(STORED_COLUMNS)}) VALUES ({marks})",
                                   sql_rows(frame))  # fmt: skip
            connection.execute(
                "INSERT INTO batches (batch, run_id, scored, quarantined, triage_counts, predictions_sha256,"
                " quarantine_sha256, predictions_path, quarantine_path, written_at, use_case)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (batch, facts["run_id"], facts["scored"], facts["quarantined"], json.dumps(facts["triage_counts"]),
                 facts["predictions_sha256"], facts["quarantine_sha256"], str(paths["predictions"].relative_to(root)),
                 str(paths["quarantine"].relative_to(root)), facts["written_at"], facts.get("use_case")),
            )  # fmt: skip
            restored.append(batch)
        if old.exists() and os.path.getsize(old) > 0:
            try:
                connection.execute("ATTACH DATABASE ? AS old", (str(old),))
                for table in ("adjudications", "monitoring"):  # by name: an old index may lack later columns
                    kept = [row[1] for row in connection.execute(f"PRAGMA old.table_info({table})")]
                    names = ", ".join(kept)
                    connection.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM old.{table}")
            except sqlite3.Error:
                pass  # unreadable: the labels stay in their landed files and can be landed again
        connection.execute("COMMIT")
    return restored
