"""Featurize + score one batch in Spark: the same core functions as in-process, spread over executors.

The driver does only what needs the whole batch in order: it cuts a CSV file into pieces of whole records with one
quick pass of the CSV reader (:func:`iter_csv_pieces`; another format it reads into intake chunks), leaves each in
the staging place for its task, and runs the checks across records (duplicate ids, duplicate texts, conflicting
labels) of the one :class:`BatchValidator`. Everything per chunk runs on the executors, one Spark task per intake
chunk (``mapInPandas`` over the chunk numbers), in two passes:

1. the piece parsed into its intake chunk (:meth:`CsvPiece.intake`, kept for pass 2), then :func:`check_records`:
   the record-level checks; only what the checks across records need (an id, a text digest, a label, a place per
   record) is staged for the driver, which decides the duplicates chunk by chunk in intake order;
2. the same checks again with the driver's findings added (:meth:`CheckedRecords.result`), then
   :func:`score_chunk` (the model loaded once per Python worker from its stored JSON form: the classifier's text and
   the conformal record, never a pickled object), and the chunk's predictions and quarantine rows staged where
   :func:`stage_chunk` would have put them; a count and a SHA-256 per file come back.

So the quarantine rows, reasons and predictions are those of an in-process run, and no scored row passes through
the driver. core.staged_scoring then counts, measures drift and publishes the chunks as in-process. No Dagster here
and no AWS API: remote.glue_scoring wraps this for Glue, with an S3 staging place.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.broadcast import Broadcast
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from gxp_assets.core.batch_scoring import DEFAULT_CHUNK_RECORDS, ScoringStamp, score_chunk, staged_names
from gxp_assets.core.contracts import Reason
from gxp_assets.core.csv_records import CsvPiece
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.loaders import contract_kind, iter_csv_pieces, iter_intake_chunks
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.validation import BatchValidator, Candidates, ValidationRules, check_records
from gxp_assets.remote.job_inputs import ModelBundle
from gxp_assets.remote.staging_place import StagingPlace

MANIFEST = "manifest.json"
CHUNK_RESULT_SCHEMA = T.StructType(
    [T.StructField("index", T.LongType()), T.StructField("scored", T.LongType()),
     T.StructField("quarantined", T.LongType()), T.StructField("predictions_sha256", T.StringType()),
     T.StructField("quarantine_sha256", T.StringType())]
)  # fmt: skip
CHECKED_SCHEMA = T.StructType([T.StructField("index", T.LongType()), T.StructField("received", T.LongType())])
PandasTasks = Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]


def scoring_session(master: str | None = None, app_name: str = "gxp-scoring", **conf: str) -> SparkSession:
    """A SparkSession that keeps times in UTC and moves pandas through Arrow; ``master`` None leaves it to the
    cluster (Glue sets it), ``local[2]`` for a local run."""
    builder = SparkSession.builder.appName(app_name)
    if master:  # a local run: the Python workers are this interpreter, which has gxp_assets
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # also when the session already existed
    return spark


def intake_chunk_name(index: int) -> str:
    """Where the ``index``-th intake chunk waits for its scoring task (removed once it is scored)."""
    return f"intake/{index:06d}.parquet"


def piece_name(index: int) -> str:
    """Where the driver leaves the ``index``-th piece of a CSV file for its checking task (removed once parsed)."""
    return f"intake/{index:06d}.piece"


def candidates_name(index: int) -> str:
    """Where a checking task leaves the ``index``-th chunk's candidates for the driver (removed once read)."""
    return f"candidates/{index:06d}.parquet"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_staged(place: StagingPlace, name: str) -> pd.DataFrame:
    """A staged frame as it was written: text columns as Python objects with None for missing, as the loader gives
    them (pandas would read them back as its string dtype, with NaN)."""
    frame = pd.read_parquet(io.BytesIO(place.get(name)))
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.StringDtype):
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)
    return frame


_LOADED: dict[str, tuple[TriageModel, FeatureSpec]] = {}  # per Python worker: the model of the batch in hand


def loaded_model(bundle: Broadcast, bundle_sha256: str) -> tuple[TriageModel, FeatureSpec]:
    """The bundle's model, parsed from its JSON once per Python worker (Spark reuses workers across partitions)."""
    if bundle_sha256 not in _LOADED:
        _LOADED.clear()
        _LOADED[bundle_sha256] = ModelBundle.from_json(bundle.value).load()
    return _LOADED[bundle_sha256]


def check_chunks(place: StagingPlace, rules: ValidationRules, now: datetime) -> PandasTasks:
    """Pass 1, per task: each chunk it is given parsed from its piece (a CSV file's) and left as an intake chunk,
    then its record checks; the candidates for the checks across records are staged, its record count comes back."""

    def check(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for index, staged in zip(batch["index"].tolist(), batch["staged"].tolist(), strict=True):
                if staged == piece_name(index):
                    piece = CsvPiece.from_bytes(place.get(staged))
                    intake = piece.intake()
                    if len(intake) != piece.records:  # the driver's cut and this parse disagree: never score that
                        raise RuntimeError(f"piece {index} holds {piece.records} records but parsed into {len(intake)}")
                    place.put(intake_chunk_name(index), parquet_bytes(intake))
                else:
                    intake = read_staged(place, staged)
                found = check_records(intake, rules, now).candidates(intake).to_frame()
                place.put(candidates_name(index), parquet_bytes(found))
                rows.append((index, len(intake)))
            yield pd.DataFrame(rows, columns=CHECKED_SCHEMA.fieldNames(), dtype="int64")

    return check


def score_chunks(
    place: StagingPlace, rules: ValidationRules, bundle: Broadcast, bundle_sha256: str, stamp: ScoringStamp,
    explain_top_k: int,
) -> PandasTasks:  # fmt: skip
    """Pass 2, per task: validate each chunk it is given with the driver's findings across records, score the valid
    records and stage both files; one row (index, counts, SHA-256s) per chunk comes back. The bundle (the model's
    stored JSON) travels once per executor as a broadcast, not with every task."""

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model, spec = loaded_model(bundle, bundle_sha256)
        for batch in batches:
            rows = []
            for index, across in zip(batch["index"].tolist(), batch["across"].tolist(), strict=True):
                intake = read_staged(place, intake_chunk_name(index))
                found = {int(seq): (Reason(reason), detail) for seq, reason, detail in json.loads(across)}
                result = check_records(intake, rules, stamp.scored_at).result(intake, found)
                predictions = score_chunk(result.valid, intake, model, spec, stamp, explain_top_k)
                files = parquet_bytes(predictions), parquet_bytes(result.quarantined)
                for name, data in zip(staged_names(index), files, strict=True):
                    place.put(name, data)
                rows.append((index, len(predictions), len(result.quarantined), *map(sha256_hex, files)))
            frame = pd.DataFrame(rows, columns=CHUNK_RESULT_SCHEMA.fieldNames())
            yield frame.astype({"index": "int64", "scored": "int64", "quarantined": "int64"})

    return score


def stage_intake(
    place: StagingPlace, path: Path, encoding: str | None, chunk_records: int, source_name: str | None,
    log: Callable[[str], None],
) -> list[str]:  # fmt: skip
    """The batch left in ``place`` for the checking tasks, one object per intake chunk, named in order: a CSV file
    as pieces cut by the driver's quick pass, another format as intake chunks the driver reads itself."""
    staged, records = [], 0
    if contract_kind(path) == "csv":
        for index, piece in enumerate(iter_csv_pieces(path, encoding, chunk_records, source_name=source_name)):
            place.put(piece_name(index), piece.to_bytes())
            staged.append(piece_name(index))
            records += piece.records
            log(f"cut {records:,} records into {len(staged)} pieces")
        return staged
    for index, intake in enumerate(iter_intake_chunks(path, encoding, chunk_records, source_name=source_name)):
        place.put(intake_chunk_name(index), parquet_bytes(intake))
        staged.append(intake_chunk_name(index))
        records += len(intake)
        log(f"read {records:,} records")
    return staged


def run_tasks(spark: SparkSession, rows: list[tuple], schema: T.StructType, tasks: PandasTasks,
              out: T.StructType) -> pd.DataFrame:  # fmt: skip
    """``tasks`` over ``rows``, one row (one chunk) per Spark task, so the executors take chunks as they free up."""
    frame = spark.createDataFrame(spark.sparkContext.parallelize(rows, len(rows)), schema)
    return frame.mapInPandas(tasks, out).toPandas()


@dataclass
class SparkScoring:
    """What the job found: per intake chunk, the staged files with their SHA-256 and how many records it received."""

    chunks: list[dict[str, Any]]
    received: int
    scored: int
    quarantined: int
    seconds: dict[str, float]  # wall time of each phase: reading, record checks, checks across records, scoring

    def manifest(self) -> dict[str, Any]:
        return {"received": self.received, "scored": self.scored, "quarantined": self.quarantined,
                "chunks": self.chunks, "seconds": self.seconds}  # fmt: skip


def score_on_spark(
    spark: SparkSession,
    path: Path,
    bundle: ModelBundle,
    rules: ValidationRules,
    stamp: ScoringStamp,
    out: Path | StagingPlace,
    *,
    encoding: str | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    explain_top_k: int = 3,
    source_name: str | None = None,
    log: Callable[[str], None] = print,
) -> SparkScoring:
    """Cut (or read) on the driver, parse, check and score in Spark, stage per intake chunk in ``out`` (a folder, or
    an S3 staging place for a cluster), with ``manifest.json`` last.

    ``source_name``: what the records call the file when ``path`` is a copy of it (see iter_intake_chunks)."""
    place = out if isinstance(out, StagingPlace) else StagingPlace(str(out))
    clock = _Phases(log)
    staged = stage_intake(place, path, encoding, chunk_records, source_name, log)
    clock.done("driver_reading", f"record checks in Spark, {len(staged)} tasks of one chunk each")
    listed = T.StructType([T.StructField("index", T.LongType()), T.StructField("staged", T.StringType())])
    checked = run_tasks(spark, list(enumerate(staged)), listed, check_chunks(place, rules, stamp.scored_at),
                        CHECKED_SCHEMA).sort_values("index")  # fmt: skip
    if checked["index"].tolist() != list(range(len(staged))):
        raise RuntimeError(f"{len(staged)} chunks were staged but {len(checked)} came back checked")
    received = checked["received"].tolist()
    clock.done("record_checks", "checks across records on the driver")
    validator, across = BatchValidator(rules, stamp.scored_at), []
    for index in range(len(received)):
        found = Candidates.from_frame(read_staged(place, candidates_name(index)))
        failures = validator.check_across(found)
        place.delete(candidates_name(index))
        across.append((index, json.dumps([[seq, str(reason), detail] for seq, (reason, detail) in failures.items()])))
    clock.done("driver_checks_across", f"scoring in Spark, {len(received)} tasks of one chunk each")
    text = bundle.to_json()
    shared = spark.sparkContext.broadcast(text)
    described = T.StructType([T.StructField("index", T.LongType()), T.StructField("across", T.StringType())])
    scorer = score_chunks(place, rules, shared, sha256_hex(text.encode()), stamp, explain_top_k)
    results = run_tasks(spark, across, described, scorer, CHUNK_RESULT_SCHEMA).sort_values("index")
    shared.destroy()
    clock.done("spark_scoring", "")
    scored, quarantined = int(results["scored"].sum()), int(results["quarantined"].sum())
    if results["index"].tolist() != list(range(len(received))) or sum(received) != scored + quarantined:
        raise RuntimeError(f"{sum(received):,} records in {len(received)} chunks, but {scored:,} scored + "
                           f"{quarantined:,} quarantined came back from {len(results)} chunks")  # fmt: skip
    chunks = []
    for index, (count, row) in enumerate(zip(received, results.itertuples(), strict=True)):
        predictions, quarantine = staged_names(index)
        chunks.append({"predictions": predictions, "quarantine": quarantine, "received": count,
                       "predictions_sha256": row.predictions_sha256, "quarantine_sha256": row.quarantine_sha256})
    for index, name in enumerate(staged):  # only now: a task that Spark runs again finds its input as the first did
        for left in dict.fromkeys((name, intake_chunk_name(index))):
            place.delete(left)
    outcome = SparkScoring(chunks, sum(received), scored, quarantined, clock.seconds)
    place.put(MANIFEST, json.dumps(outcome.manifest(), indent=1).encode())
    return outcome


class _Phases:
    """Wall time of each phase, and a log line as the next begins."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log, self.seconds, self._last = log, {}, time.perf_counter()

    def done(self, phase: str, next_phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase], self._last = now - self._last, now
        if next_phase:
            self.log(next_phase)
