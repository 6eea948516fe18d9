"""Rows of the aws results table and the writer that spools a batch before it is published (aws_results.py).

A row is kept as its readable attributes (report_id, input hash, p_ae, prediction set, triage, model and plan
version, run id, scored_at, due_at, batch, source) plus the whole row as JSON, which is what the batch's
``rows_sha256`` covers. PRIORITY and REVIEW rows also carry ``queue`` (their triage) and ``due_key``: the sparse queue
index. Rows published before REVIEW was indexed are added to it by `gxp results rebuild`. A row's ``use_case`` is an
attribute too; a row published before it has none (and a shorter JSON row) and reads as its model version's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from gxp_assets.stores.results_frames import (
    PREDICTION_SCHEMA,
    QUARANTINE_SCHEMA,
    STORED_COLUMNS,
    row_use_case,
    sql_rows,
    write_chunk,
)

FILES = ("predictions", "quarantine")
SCHEMAS = {"predictions": PREDICTION_SCHEMA, "quarantine": QUARANTINE_SCHEMA}
NO_DUE = "~"  # sorts after every ISO time: queue rows without a due date come last
#: Triage levels kept in the sparse queue index (named ``priority`` in the stack): the reviewers' work queue.
QUEUED = ("PRIORITY", "REVIEW")
ScoredElsewhere = Callable[[list[str], str, str | None], list[bool]]
"""Per report id of a chunk, whether another batch (of the use case, when given) holds a scoring of it."""

INDEX = {name: position for position, name in enumerate(STORED_COLUMNS)}
_READABLE = ("report_id", "input_sha256", "prediction_set", "triage", "model_version", "plan_version", "run_id",
             "scored_at", "due_at", "batch", "source", "use_case")  # fmt: skip


def row_item(row: Sequence[Any]) -> dict[str, Any]:
    """A row as an item: readable attributes, the row itself as JSON, and the index keys."""
    values = dict(zip(STORED_COLUMNS, row, strict=True))
    seq = f"{values['intake_seq']:012d}"
    item: dict[str, Any] = {"pk": f"ROWS#{values['batch']}", "sk": seq,
                            "row": json.dumps(list(row), ensure_ascii=False, allow_nan=True),
                            "scored_key": f"{values['scored_at']}#{values['batch']}#{seq}"}  # fmt: skip
    item.update({name: values[name] for name in _READABLE if values.get(name) is not None})
    if isinstance(values.get("p_ae"), float) and values["p_ae"] == values["p_ae"]:
        item["p_ae"] = Decimal(repr(values["p_ae"]))
    if values["triage"] in QUEUED:
        item.update(queue=values["triage"], due_key=values.get("due_at") or NO_DUE)
    return item


def item_row(item: dict[str, Any]) -> tuple:
    """The stored row; one published before later columns existed gets them empty (None)."""
    row = tuple(json.loads(item["row"]))
    return row + (None,) * (len(STORED_COLUMNS) - len(row))


def item_use_case(item: dict[str, Any]) -> str | None:
    """The use case of a row item: its own, else its model version's (rows published before use cases)."""
    return row_use_case(item.get("use_case"), item.get("model_version"))


class AwsBatchWriter:
    """Spools chunks to local Parquet files and a JSON-lines file of rows; nothing is visible until published."""

    def __init__(self, scored_elsewhere: ScoredElsewhere, batch: str, use_case: str | None, folder: Path) -> None:
        self.scored_elsewhere, self.batch, self.use_case, self.folder = scored_elsewhere, batch, use_case, folder
        self.paths = {name: folder / f"{name}.parquet" for name in FILES}
        self.parquet_writers = {name: pq.ParquetWriter(self.paths[name], SCHEMAS[name], compression="zstd")
                         for name in FILES}  # fmt: skip
        self.rows_path = folder / "rows.jsonl"
        self._rows = self.rows_path.open("w", encoding="utf-8")
        self.scored = self.quarantined = 0
        self.triage: Counter[str] = Counter()
        self.broken = False

    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        write_chunk(self, predictions, quarantined, self._scored_elsewhere, self._write_rows)

    def _scored_elsewhere(self, report_ids: list[str]) -> list[bool]:
        return self.scored_elsewhere(report_ids, self.batch, self.use_case)

    def _write_rows(self, scored: pd.DataFrame) -> None:
        for row in sql_rows(scored):
            self._rows.write(json.dumps(list(row), ensure_ascii=False, allow_nan=True) + "\n")

    def close(self) -> None:
        self._rows.close()
        for writer in self.parquet_writers.values():
            writer.close()

    def rows(self) -> list[tuple]:
        with self.rows_path.open(encoding="utf-8") as handle:
            rows = [tuple(json.loads(line)) for line in handle]
        return sorted(rows, key=lambda row: row[INDEX["intake_seq"]])
