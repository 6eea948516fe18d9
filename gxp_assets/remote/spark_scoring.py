"""Featurize + score one batch in Spark: the same core functions as in-process, spread over executors.

The driver reads the batch file in intake chunks and validates them with the one :class:`BatchValidator` (so the
quarantine rows and their reasons are those of an in-process run, duplicates found across chunks included). Valid
records go to Spark; ``mapInPandas`` scores each Arrow batch with :func:`score_chunk`, the model loaded once per
partition from its stored JSON form (the classifier's text and the conformal record; never a pickled object).
The scored rows come back retyped to the in-process schema, sorted by intake order, and are staged per intake chunk
with :func:`stage_chunk`, exactly as :func:`score_file` stages them; core.staged_scoring then counts, measures drift
and publishes them the same way. No Dagster here and no AWS: remote.glue_scoring wraps this for Glue.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.broadcast import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from gxp_assets.core.batch_scoring import (
    DEFAULT_CHUNK_RECORDS,
    ScoringStamp,
    score_chunk,
    stage_chunk,
    typed_predictions,
)
from gxp_assets.core.contracts import SCORED_COLUMNS
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import sha256_file, sha256_hex
from gxp_assets.core.loaders import iter_intake_chunks
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.validation import BatchValidator, ValidationRules
from gxp_assets.remote.job_inputs import ModelBundle

ORIGIN_COLUMNS = ("raw", "source_file", "source_line")
MANIFEST = "manifest.json"
_TIMES = {"scored_at", "received_at", "due_at"}
_LONGS = {"source_line", "intake_seq"}
_DOUBLES = {"p_ae", "raw_score"}
PREDICTION_SCHEMA = T.StructType(
    [
        T.StructField(
            name,
            T.TimestampType() if name in _TIMES
            else T.LongType() if name in _LONGS
            else T.DoubleType() if name in _DOUBLES
            else T.StringType(),
        )
        for name in SCORED_COLUMNS
    ]
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


def _input_schema(columns: list[str]) -> T.StructType:
    def kind(name: str) -> T.DataType:
        if name == "raw":
            return T.BinaryType()
        if name == "received_at":
            return T.TimestampType()
        return T.LongType() if name in _LONGS else T.StringType()

    return T.StructType([T.StructField(name, kind(name)) for name in columns])


def _to_score(valid: pd.DataFrame, intake: pd.DataFrame) -> pd.DataFrame:
    """The valid records with the bytes and origin score_chunk needs (the label is not an input of scoring)."""
    origin = intake.set_index("intake_seq").loc[valid["intake_seq"], list(ORIGIN_COLUMNS)]
    frame = valid.drop(columns=["label"]).reset_index(drop=True)
    for name in ORIGIN_COLUMNS:
        frame[name] = origin[name].to_numpy()
    frame["received_at"] = frame["received_at"].astype("datetime64[us, UTC]")
    return frame


_LOADED: dict[str, tuple[TriageModel, FeatureSpec]] = {}  # per Python worker: the model of the batch in hand


def loaded_model(bundle: Broadcast, bundle_sha256: str) -> tuple[TriageModel, FeatureSpec]:
    """The bundle's model, parsed from its JSON once per Python worker (Spark reuses workers across partitions)."""
    if bundle_sha256 not in _LOADED:
        _LOADED.clear()
        _LOADED[bundle_sha256] = ModelBundle.from_json(bundle.value).load()
    return _LOADED[bundle_sha256]


def score_partitions(
    bundle: Broadcast, bundle_sha256: str, stamp: ScoringStamp, explain_top_k: int
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function ``mapInPandas`` runs per partition: :func:`score_chunk` on each Arrow batch. The bundle (the
    model's stored JSON) travels once per executor as a broadcast, not with every task."""

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model, spec = loaded_model(bundle, bundle_sha256)
        for batch in batches:
            origin = batch[["intake_seq", *ORIGIN_COLUMNS]]
            valid = batch.drop(columns=list(ORIGIN_COLUMNS))
            valid["received_at"] = pd.to_datetime(valid["received_at"], utc=True)
            yield score_chunk(valid, origin, model, spec, stamp, explain_top_k)

    return score


@dataclass
class SparkScoring:
    """What the driver found: per intake chunk, the staged files and how many records it received."""

    chunks: list[dict[str, Any]]
    received: int
    scored: int
    quarantined: int
    seconds: dict[str, float]  # wall time of each phase: driver validation, Spark scoring + collect, staging

    def manifest(self) -> dict[str, Any]:
        return {"received": self.received, "scored": self.scored, "quarantined": self.quarantined,
                "chunks": self.chunks, "seconds": self.seconds}  # fmt: skip


def score_on_spark(
    spark: SparkSession,
    path: Path,
    bundle: ModelBundle,
    rules: ValidationRules,
    stamp: ScoringStamp,
    out_dir: Path,
    *,
    encoding: str | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    explain_top_k: int = 3,
    source_name: str | None = None,
    log: Callable[[str], None] = print,
) -> SparkScoring:
    """Validate on the driver, score in Spark, stage per intake chunk in ``out_dir`` (with ``manifest.json``).

    ``source_name``: what the records call the file when ``path`` is a copy of it (see iter_intake_chunks)."""
    started, seconds = time.perf_counter(), {}
    validator = BatchValidator(rules, stamp.scored_at)
    bounds: list[tuple[int, int]] = []  # (first intake_seq, records received) per chunk
    held: list[pd.DataFrame] = []
    parts: list[DataFrame] = []
    last: tuple[pd.DataFrame, pd.DataFrame] | None = None
    for intake in iter_intake_chunks(path, encoding, chunk_records, source_name=source_name):
        result = validator.validate(intake)
        first = int(intake["intake_seq"].iloc[0]) if len(intake) else sum(n for _, n in bounds)
        bounds.append((first, len(intake)))
        held.append(result.quarantined)
        last = (result.valid, intake)
        if len(result.valid):
            frame = _to_score(result.valid, intake)
            parts.append(spark.createDataFrame(frame, schema=_input_schema(list(frame.columns))))
        log(f"validated {first + len(intake):,} records: {sum(len(q) for q in held):,} quarantined so far")
    if parts:
        valid = reduce(DataFrame.unionByName, parts)
        text = bundle.to_json()
        shared = spark.sparkContext.broadcast(text)
        scorer = score_partitions(shared, sha256_hex(text.encode()), stamp, explain_top_k)
        scored_frame = valid.mapInPandas(scorer, PREDICTION_SCHEMA)
        seconds["driver_validation"] = time.perf_counter() - started
        log(f"scoring {sum(n for _, n in bounds) - sum(len(q) for q in held):,} records in Spark")
        scored = typed_predictions(scored_frame.toPandas()).sort_values("intake_seq", kind="stable")
        shared.destroy()
        scored = scored.reset_index(drop=True)
        seconds["spark_scoring"] = time.perf_counter() - started - seconds["driver_validation"]
    else:  # nothing valid: the empty, typed predictions of an in-process chunk
        assert last is not None  # iter_intake_chunks yields at least one chunk
        model, spec = bundle.load()
        scored = score_chunk(*last, model, spec, stamp)
    seqs = scored["intake_seq"].to_numpy()
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = []
    for index, ((first, received), quarantined) in enumerate(zip(bounds, held, strict=True)):
        lo, hi = np.searchsorted(seqs, [first, first + received])
        predictions = scored.iloc[lo:hi].reset_index(drop=True)
        files = stage_chunk(out_dir, index, predictions, quarantined)
        names = {"predictions": files[0].name, "quarantine": files[1].name}
        hashes = {f"{kind}_sha256": sha256_file(file) for kind, file in zip(names, files, strict=True)}
        chunks.append({**names, "received": received, **hashes})
    seconds["staging"] = time.perf_counter() - started - sum(seconds.values())
    outcome = SparkScoring(chunks, sum(n for _, n in bounds), len(scored), sum(len(q) for q in held), seconds)
    (out_dir / MANIFEST).write_text(json.dumps(outcome.manifest(), indent=1))
    return outcome
