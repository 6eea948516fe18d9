"""Featurize + score one batch in Spark: the same core functions as in-process, spread over executors.

The driver reads the batch file in intake chunks and validates them with the one :class:`BatchValidator` (so the
quarantine rows and their reasons are those of an in-process run, duplicates found across chunks included), stages
each chunk's quarantine rows and leaves its valid records, with their bytes and origin, as Parquet in the staging
place. One Spark task per chunk then (``mapInPandas`` over the chunks) reads it, scores it with :func:`score_chunk`,
the model loaded once per Python worker from its stored JSON form (the classifier's text and the conformal record;
never a pickled object), and writes the typed predictions where :func:`stage_chunk` would have put them. Only a
hash and a count per chunk come back to the driver: no scored row passes through it, so its memory does not grow
with the batch. core.staged_scoring then counts, measures drift and publishes the chunks as in-process. No Dagster
here and no AWS API: remote.glue_scoring wraps this for Glue, with an S3 staging place.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.broadcast import Broadcast
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from gxp_assets.core.batch_scoring import (
    DEFAULT_CHUNK_RECORDS,
    ScoringStamp,
    empty_predictions,
    score_chunk,
    staged_names,
)
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.loaders import iter_intake_chunks
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.validation import BatchValidator, ValidationRules
from gxp_assets.remote.job_inputs import ModelBundle
from gxp_assets.remote.staging_place import StagingPlace

ORIGIN_COLUMNS = ("raw", "source_file", "source_line")
MANIFEST = "manifest.json"
CHUNK_RESULT_SCHEMA = T.StructType(
    [T.StructField("index", T.LongType()), T.StructField("scored", T.LongType()),
     T.StructField("predictions_sha256", T.StringType())]
)  # fmt: skip


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


def valid_chunk_name(index: int) -> str:
    """Where the driver leaves the ``index``-th chunk's valid records for its task (removed once it is scored)."""
    return f"valid/{index:06d}.parquet"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _to_score(valid: pd.DataFrame, intake: pd.DataFrame) -> pd.DataFrame:
    """The valid records with the bytes and origin score_chunk needs (the label is not an input of scoring)."""
    origin = intake.set_index("intake_seq").loc[valid["intake_seq"], list(ORIGIN_COLUMNS)]
    frame = valid.drop(columns=["label"]).reset_index(drop=True)
    for name in ORIGIN_COLUMNS:
        frame[name] = origin[name].to_numpy()
    return frame


_LOADED: dict[str, tuple[TriageModel, FeatureSpec]] = {}  # per Python worker: the model of the batch in hand


def loaded_model(bundle: Broadcast, bundle_sha256: str) -> tuple[TriageModel, FeatureSpec]:
    """The bundle's model, parsed from its JSON once per Python worker (Spark reuses workers across partitions)."""
    if bundle_sha256 not in _LOADED:
        _LOADED.clear()
        _LOADED[bundle_sha256] = ModelBundle.from_json(bundle.value).load()
    return _LOADED[bundle_sha256]


def score_staged_chunks(
    place: StagingPlace, bundle: Broadcast, bundle_sha256: str, stamp: ScoringStamp, explain_top_k: int
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function ``mapInPandas`` runs per task: for each chunk index it is given, read the chunk's valid records,
    :func:`score_chunk` them and stage the predictions; one row (index, count, SHA-256) per chunk comes back. The
    bundle (the model's stored JSON) travels once per executor as a broadcast, not with every task."""

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model, spec = loaded_model(bundle, bundle_sha256)
        for batch in batches:
            rows = []
            for index in batch["index"].tolist():
                chunk = pd.read_parquet(io.BytesIO(place.get(valid_chunk_name(index))))
                origin = chunk[["intake_seq", *ORIGIN_COLUMNS]]
                predictions = score_chunk(chunk.drop(columns=list(ORIGIN_COLUMNS)), origin, model, spec, stamp,
                                          explain_top_k)  # fmt: skip
                data = parquet_bytes(predictions)
                place.put(staged_names(index)[0], data)
                place.delete(valid_chunk_name(index))
                rows.append((index, len(predictions), sha256_hex(data)))
            frame = pd.DataFrame(rows, columns=CHUNK_RESULT_SCHEMA.fieldNames())
            yield frame.astype({"index": "int64", "scored": "int64"})

    return score


@dataclass
class SparkScoring:
    """What the job found: per intake chunk, the staged files with their SHA-256 and how many records it received."""

    chunks: list[dict[str, Any]]
    received: int
    scored: int
    quarantined: int
    seconds: dict[str, float]  # wall time of each phase: driver reading + validation, Spark scoring

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
    """Validate on the driver, score in Spark, stage per intake chunk in ``out`` (a folder, or an S3 staging place
    for a cluster), with ``manifest.json`` last.

    ``source_name``: what the records call the file when ``path`` is a copy of it (see iter_intake_chunks)."""
    place = out if isinstance(out, StagingPlace) else StagingPlace(str(out))
    started, seconds = time.perf_counter(), {}
    validator = BatchValidator(rules, stamp.scored_at)
    chunks: list[dict[str, Any]] = []
    to_score: list[int] = []
    received = quarantined = 0
    for index, intake in enumerate(iter_intake_chunks(path, encoding, chunk_records, source_name=source_name)):
        result = validator.validate(intake)
        predictions_name, quarantine_name = staged_names(index)
        quarantine = parquet_bytes(result.quarantined)
        place.put(quarantine_name, quarantine)
        chunk = {"predictions": predictions_name, "quarantine": quarantine_name, "received": len(intake),
                 "quarantine_sha256": sha256_hex(quarantine)}  # fmt: skip
        if len(result.valid):
            place.put(valid_chunk_name(index), parquet_bytes(_to_score(result.valid, intake)))
            to_score.append(index)
        else:  # nothing to score: the typed, empty predictions of an in-process chunk, staged here
            data = parquet_bytes(empty_predictions())
            place.put(predictions_name, data)
            chunk.update(scored=0, predictions_sha256=sha256_hex(data))
        chunks.append(chunk)
        received, quarantined = received + len(intake), quarantined + len(result.quarantined)
        log(f"validated {received:,} records: {quarantined:,} quarantined so far")
    seconds["driver_validation"] = time.perf_counter() - started
    if to_score:
        log(f"scoring {received - quarantined:,} records in Spark, {len(to_score)} tasks of one chunk each")
        text = bundle.to_json()
        shared = spark.sparkContext.broadcast(text)
        scorer = score_staged_chunks(place, shared, sha256_hex(text.encode()), stamp, explain_top_k)
        tasks = spark.sparkContext.parallelize([(index,) for index in to_score], len(to_score))  # one chunk a task
        indices = spark.createDataFrame(tasks, T.StructType([T.StructField("index", T.LongType())]))
        for row in indices.mapInPandas(scorer, CHUNK_RESULT_SCHEMA).collect():
            chunks[row["index"]].update(scored=row["scored"], predictions_sha256=row["predictions_sha256"])
        shared.destroy()
        seconds["spark_scoring"] = time.perf_counter() - started - seconds["driver_validation"]
    scored = sum(chunk["scored"] for chunk in chunks)
    if received != scored + quarantined:  # a task that lost rows would show here, before anything is published
        raise RuntimeError(f"{received:,} records received but {scored:,} scored + {quarantined:,} quarantined")
    listed = [{key: chunk[key] for key in ("predictions", "quarantine", "received", "predictions_sha256",
                                           "quarantine_sha256")} for chunk in chunks]  # fmt: skip
    outcome = SparkScoring(listed, received, scored, quarantined, seconds)
    place.put(MANIFEST, json.dumps(outcome.manifest(), indent=1).encode())
    return outcome
