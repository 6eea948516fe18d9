"""The results store protocol: scored batches, quarantine, adjudications and monitoring events.

Assets, sensors and the ``gxp`` command see only this, so the embedded SQLite + Parquet store and a cloud one are
interchangeable.

One store serves every use case of the instance: scored rows, batches, adjudications and monitoring events each
carry a ``use_case``, and readers given one see only that use case's rows (``None``: every use case, as the
integrity checks and `gxp results` of a named batch do). A row or event stored before the column existed is read
as the use case of its model version (``results_frames.version_use_case``); an adjudication stored before it counts
for the use case whose scoring of its report it joins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

TRIAGE_LEVELS: tuple[str, ...] = ("AUTO_CLOSE", "REVIEW", "PRIORITY")

OnCommit = Callable[[dict[str, Any]], object]
"""Called with a batch's committed facts (hashes, counts) under the write lock, before the commit completes."""

#: Columns of an adjudication (a label a person gave to a scored report).
ADJUDICATION_COLUMNS: tuple[str, ...] = ("report_id", "label", "adjudicated_at", "adjudicator", "source_file")


def resubmission_note(flag: object) -> str:
    """What a scored row's ``resubmitted`` note says to a person: nothing for a first scoring, nor for a row stored
    before the note existed (missing)."""
    marked = flag is not None and flag is not pd.NA and bool(flag)
    return "  RESUBMITTED: already scored in an earlier batch" if marked else ""


@dataclass(frozen=True)
class QueueFilter:
    """Which part of the work queue a person looks at: one source, one batch, due before a time (exclusive, UTC),
    one use case."""

    source: str | None = None
    batch: str | None = None
    due_before: datetime | None = None
    use_case: str | None = None

    def __post_init__(self) -> None:
        if self.due_before is not None and self.due_before.tzinfo is None:
            raise ValueError("due_before must carry a time zone (UTC)")


def queue_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """The triage levels of a queue, checked: some of TRIAGE_LEVELS, at least one, each once."""
    unknown = set(levels) - set(TRIAGE_LEVELS)
    if unknown or not levels:
        raise ValueError(f"queue levels must be some of {TRIAGE_LEVELS}, not {sorted(unknown) or 'none'}")
    return tuple(dict.fromkeys(levels))


@dataclass(frozen=True)
class BatchSummary:
    """What the store holds for one batch: counts and the SHA-256 of each Parquet file, which readers verify."""

    batch: str
    run_id: str
    scored: int
    quarantined: int
    triage_counts: dict[str, int] = field(hash=False)  # every level of TRIAGE_LEVELS, zeros included
    predictions_sha256: str
    quarantine_sha256: str
    predictions_path: Path
    quarantine_path: Path
    written_at: datetime  # UTC
    use_case: str | None = None  # the scoring model's use case; None for a batch stored before it was recorded


@dataclass(frozen=True)
class MonitoringEvent:
    """One monitoring result (drift, performance); ``id`` grows, so a sensor keeps it as its cursor."""

    id: int
    kind: str
    batch: str | None
    model_version: str | None
    alarms: tuple[str, ...]
    evidence: dict[str, Any] = field(hash=False)
    created_at: datetime  # UTC
    use_case: str | None = None  # recorded, or read from the model version(s) of an event stored before it was


class BatchWriter(Protocol):
    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        """Add one chunk: scored rows (``SCORED_COLUMNS``) and quarantined rows (intake columns + reason, detail).

        An empty frame (even one without columns) adds nothing.
        """
        ...


class ResultsStore(Protocol):
    """Scored results per batch, replaced as a whole when a batch is scored again, plus the feedback around them."""

    def writer(
        self, batch: str, run_id: str, on_commit: Callable[[dict[str, Any]], object] | None = None,
        use_case: str | None = None,
    ) -> AbstractContextManager[BatchWriter]:  # fmt: skip
        """Chunks added inside the ``with`` become the batch's results on normal exit, all at once; on an exception
        nothing of the attempt remains and the previous results stay as they were. ``on_commit`` receives the
        batch's facts (file and row hashes, counts, use case) under the write lock, to be recorded in the audit
        trail. ``use_case`` (the scoring model's registered use case) is stored with every row; a batch name held by
        another use case is refused. Without it, rows read as their model version's use case."""
        ...

    def verify(self, recorded: dict[str, dict[str, Any]]) -> list[str]:
        """Differences between the index and the audit trail's results records; empty means trustworthy."""
        ...

    def rebuild(self, recorded: dict[str, dict[str, Any]]) -> list[str]:
        """Restore the index from the batch files that still match the records; returns the batches restored."""
        ...

    def batch_summary(self, batch: str) -> BatchSummary | None: ...

    def batches(self, use_case: str | None = None) -> list[BatchSummary]: ...

    def predictions(
        self, batch: str | None = None, report_ids: Sequence[str] | None = None, use_case: str | None = None
    ) -> pd.DataFrame:
        """Scored rows (a DataFrame of ``STORED_COLUMNS``: ``SCORED_COLUMNS`` + the store's notes + ``use_case``),
        optionally of one batch, some report ids and/or one use case."""
        ...

    def quarantined(self, batch: str) -> pd.DataFrame:
        """The batch's quarantined rows, from its Parquet file after checking the file's SHA-256."""
        ...

    def find_report(self, report_id: str, use_case: str | None = None) -> pd.DataFrame:
        """Every scoring of one report id across batches (of one use case when given), oldest first (what
        ``gxp trace`` shows)."""
        ...

    def priority_queue(
        self, now: datetime, levels: Sequence[str] = ("PRIORITY",), where: QueueFilter | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> pd.DataFrame:  # fmt: skip
        """Reports of a triage in ``levels`` (PRIORITY by default; the console adds REVIEW) nobody has adjudicated
        yet, matching ``where``, most urgent first (due, then surest, then report id), with ``hours_left`` until due;
        ``limit`` rows from ``offset`` (a page), all by default."""
        ...

    def queue_size(
        self, levels: Sequence[str] = ("PRIORITY",), where: QueueFilter | None = None, at_most: int | None = None
    ) -> int:
        """How many reports ``priority_queue`` holds for these levels and filter (all pages), counting no further
        than ``at_most`` when given (a page needs "more than N", and counting the rest costs the whole queue)."""
        ...

    def record_adjudications(self, frame: pd.DataFrame, use_case: str) -> int:
        """Append labels (``ADJUDICATION_COLUMNS``) given in ``use_case`` (its landing folder, or the console on one
        of its scorings); an identical row recorded again is ignored. Returns rows added."""
        ...

    def adjudicated(self, since: datetime | None = None, use_case: str | None = None) -> pd.DataFrame:
        """Per use case (only ``use_case`` when given) and adjudicated report, its latest prediction joined with its
        latest adjudication (adjudicated at or after ``since`` when given): ``STORED_COLUMNS`` + label,
        adjudicated_at, adjudicator."""
        ...

    def record_monitoring(
        self, kind: str, batch: str | None, model_version: str | None, alarms: list[str], evidence: dict,
        use_case: str | None = None,
    ) -> int:  # fmt: skip
        """Append one event about ``use_case`` (the model's registered use case, or the use case measured)."""
        ...

    def monitoring_since(self, after_id: int, use_case: str | None = None) -> list[MonitoringEvent]:
        """Events after ``after_id`` in id order, of one use case when given."""
        ...
