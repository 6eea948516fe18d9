"""Score one batch file end to end in chunks: read, validate, featurize, predict, conformal sets, drift, write.

Memory is bounded by the chunk size, not the file: each chunk is validated (with the state that finds duplicates
across chunks), scored, counted for drift and staged on disk. Only when the whole batch has been measured is it
published to the sink, chunk by chunk, with auto-close suspended if the fail-safe says so (core.fail_safe): no
result of a drifted batch is ever published with an AUTO_CLOSE. :func:`score_batch` does this for any kind of
record through a :class:`BatchReader` (how chunks are read, validated and turned into ``SCORED_COLUMNS`` rows, and
what counts their drift): :class:`ReportReader` here for reports, ``core.record_scoring.RecordReader`` for declared
records. The Dagster asset and the benchmarks call it (reports: :func:`score_file`), so what is measured is what
runs.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from gxp_assets.core.contracts import SCORED_COLUMNS
from gxp_assets.core.drift import DriftAccumulator, DriftLimits, DriftReference
from gxp_assets.core.embedding_cache import scoring_stores_embeddings
from gxp_assets.core.fail_safe import FailSafe, apply_suspension, suspension_reason
from gxp_assets.core.features import FEATURIZE_BLOCK_ROWS, FeatureSpec, ReportTexts, featurize
from gxp_assets.core.hashing import sha256_hex
from gxp_assets.core.loaders import iter_intake_chunks
from gxp_assets.core.scoring import ScoredRows, TriageModel
from gxp_assets.core.sentence_encoder import TokenWeights
from gxp_assets.core.validation import BatchValidator, ValidationResult, ValidationRules

DEFAULT_CHUNK_RECORDS = 50_000


class ChunkSink(Protocol):
    """Where scored chunks go: the results store's batch writer, or anything with the same method."""

    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None: ...


@dataclass(frozen=True)
class ScoringStamp:
    """What every prediction of a run records about how it was made."""

    batch: str
    model_version: str
    plan_version: str
    run_id: str
    scored_at: datetime  # UTC
    # From received_at to the date an expedited report would be due (the declaration's regulatory clock); None: the
    # use case declares none, and due_at stays empty.
    regulatory_clock: timedelta | None


@dataclass
class BatchTally:
    received: int = 0
    scored: int = 0
    quarantined: int = 0
    chunks: int = 0
    triage: Counter = field(default_factory=Counter)  # as published, after any suspension
    reasons: Counter = field(default_factory=Counter)
    suspended: int = 0  # AUTO_CLOSE decisions turned into REVIEW by a suspension
    not_covered: Counter = field(default_factory=Counter)  # per source the guarantee does not cover: reports

    def to_dict(self) -> dict:
        return {
            "received": self.received,
            "scored": self.scored,
            "quarantined": self.quarantined,
            "chunks": self.chunks,
            "triage": dict(sorted(self.triage.items())),
            "quarantine_reasons": dict(sorted(self.reasons.items())),
            "auto_close_suspended": self.suspended,
            "sources_not_covered": dict(sorted(self.not_covered.items())),
        }


@dataclass(frozen=True)
class BatchOutcome:
    """What scoring a batch found: the counts, the drift measured before publishing, and any suspension."""

    tally: BatchTally
    drift: Measurement | None
    suspension: str | None  # the reason auto-close was suspended for this batch, or None


class Measurement(Protocol):
    """A batch's drift as the fail-safe judges it (core.drift.DriftMeasurement, core.record_drift's)."""

    n_reports: int
    alarms: list[str]

    def to_dict(self) -> dict: ...


class BatchDrift(Protocol):
    """Counts a batch's drift block by block while it is scored; judged once, before anything is published."""

    def add_scored(self, valid: pd.DataFrame, features: sp.csr_matrix, predictions: pd.DataFrame) -> None: ...

    def result(self, limits: DriftLimits) -> Measurement: ...


class BatchReader(Protocol):
    """One kind of record file, as :func:`score_batch` scores it. ``validate`` keeps its state across the chunks of
    one batch (duplicates are found across chunks), so a reader serves one batch."""

    block_rows: int  # valid records featurized and scored at once

    def chunks(self, path: Path, chunk_records: int) -> Iterator[pd.DataFrame]: ...

    def validate(self, intake: pd.DataFrame) -> ValidationResult: ...

    def score_block(
        self, valid: pd.DataFrame, origin: pd.DataFrame, model: TriageModel, stamp: ScoringStamp, explain_top_k: int
    ) -> tuple[pd.DataFrame, sp.csr_matrix]:
        """Typed predictions (SCORED_COLUMNS) of ``valid`` (whose intake rows are ``origin``) and their features."""
        ...

    def drift(self, reference: Any) -> BatchDrift:
        """What counts this kind of record's drift against the model's ``reference`` (the fail-safe's)."""
        ...


#: Reports featurized, scored and explained together within a chunk: the sentence encoder batches texts of equal
#: token length within a block (small blocks make small, slower products) and keeps each text's per-token shares for
#: its explanation (RECENT_SHARES_BYTES holds far more than a block's). Each report's result depends on it alone.
SCORE_BLOCK_ROWS = FEATURIZE_BLOCK_ROWS


def explanation_weights(model: TriageModel, explain_top_k: int) -> TokenWeights | None:
    """What the encoder needs to keep each report's per-token shares of the model's sentence network, if explained."""
    head = model.classifier.sentence
    return head.token_weights if head is not None and explain_top_k > 0 else None


def score_chunk(
    valid: pd.DataFrame,
    intake: pd.DataFrame,
    model: TriageModel,
    spec: FeatureSpec,
    stamp: ScoringStamp,
    explain_top_k: int = 3,
    features: sp.csr_matrix | None = None,
) -> pd.DataFrame:
    """Predictions (SCORED_COLUMNS) for the valid reports of one chunk; ``intake`` supplies their bytes and origin.

    Pass ``features`` when they were computed already, so they are computed once."""
    origin = intake.set_index("intake_seq").loc[valid["intake_seq"], ["raw", "source_file", "source_line"]]
    if valid.empty:
        return empty_predictions()
    if features is None:
        features = featurize(valid, spec, store_embeddings=scoring_stores_embeddings(),
                             token_weights=explanation_weights(model, explain_top_k))  # fmt: skip
    scored = model.score(features, valid["source"].to_numpy(), explain_top_k=explain_top_k,
                         texts=ReportTexts.of(valid, spec))  # fmt: skip
    return scored_frame(stamp, scored, origin, valid["intake_seq"], {
        "report_id": valid["report_id"], "document_id": valid["document_id"], "source": valid["source"],
        "text": valid["text"], "product": valid["product"], "received_at": valid["received_at"],
    })  # fmt: skip


def scored_frame(
    stamp: ScoringStamp, scored: ScoredRows, origin: pd.DataFrame, intake_seq: pd.Series, record: dict[str, Any]
) -> pd.DataFrame:
    """Typed predictions (SCORED_COLUMNS) of scored rows: ``record`` gives each row's ``report_id``, ``document_id``,
    ``source``, ``text``, ``product`` and ``received_at`` (one Series each, in the rows' order), ``origin`` its
    intake row (bytes, file, line); ``due_at`` runs the stamp's regulatory clock from ``received_at``, or is empty."""
    explanations = scored.explanations or [[] for _ in range(len(intake_seq))]
    received = pd.to_datetime(record["received_at"], utc=True)
    clock = stamp.regulatory_clock
    due = received + clock if clock is not None else pd.Series(pd.NaT, index=received.index, dtype=received.dtype)

    def column(name: str) -> np.ndarray:
        return record[name].to_numpy(dtype=object)

    frame = pd.DataFrame(
        {
            "batch": stamp.batch,
            "report_id": column("report_id"),
            "input_sha256": [sha256_hex(raw) for raw in origin["raw"]],
            "p_ae": scored.p_ae.astype("float64"),
            "prediction_set": scored.prediction_sets,
            "triage": [str(value) for value in scored.triage],
            "triage_reason": scored.reasons,
            "explanation": [explanation_json(entry) for entry in explanations],
            "model_version": stamp.model_version,
            "plan_version": stamp.plan_version,
            "run_id": stamp.run_id,
            "scored_at": pd.Timestamp(stamp.scored_at),
            "raw_score": scored.raw_scores.astype("float64"),
            "document_id": column("document_id"),
            "source": column("source"),
            "text": column("text"),
            "product": column("product"),
            "received_at": received.array,  # not to_numpy(): an object array of Timestamps, one per row
            "due_at": due.array,
            "source_file": origin["source_file"].to_numpy(dtype=object),
            "source_line": origin["source_line"].to_numpy(dtype="int64"),
            "intake_seq": intake_seq.to_numpy(dtype="int64"),
        }
    )
    return typed_predictions(frame)


_ENTRY_KEYS = ("feature", "present", "contribution")


def explanation_json(entries: list[dict]) -> str:
    """``json.dumps(entries, ensure_ascii=False)``, byte for byte, several times faster for the usual entries
    (feature text, present flag, finite contribution), which a batch writes one of per report; anything else goes
    through ``json.dumps`` itself."""
    parts = []
    for entry in entries:
        feature, present, value = entry.get("feature"), entry.get("present"), entry.get("contribution")
        if (tuple(entry) != _ENTRY_KEYS or type(feature) is not str or type(present) is not bool
                or type(value) is not float or not math.isfinite(value)):  # fmt: skip
            return json.dumps(entries, ensure_ascii=False)
        flag = "true" if present else "false"
        parts.append(f'{{"feature": {encode_basestring(feature)}, "present": {flag}, "contribution": {value!r}}}')
    return f"[{', '.join(parts)}]"


def typed_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """SCORED_COLUMNS in order, times as microsecond UTC: what every scored chunk is before it is staged."""
    for name in ("scored_at", "received_at", "due_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    return frame[list(SCORED_COLUMNS)]


def empty_predictions() -> pd.DataFrame:
    """The typed predictions of a chunk with nothing valid in it."""
    frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in SCORED_COLUMNS})
    for name in ("p_ae", "raw_score"):
        frame[name] = frame[name].astype("float64")
    for name in ("source_line", "intake_seq"):
        frame[name] = frame[name].astype("int64")
    return typed_predictions(frame)


@dataclass
class ReportReader:
    """Reports (the report contract, core.validation) as :func:`score_batch` reads and scores them."""

    spec: FeatureSpec
    rules: ValidationRules
    scored_at: datetime
    encoding: str | None = None
    block_rows: int = SCORE_BLOCK_ROWS

    def __post_init__(self) -> None:
        self._validator = BatchValidator(self.rules, self.scored_at)

    def chunks(self, path: Path, chunk_records: int) -> Iterator[pd.DataFrame]:
        return iter_intake_chunks(path, self.encoding, chunk_records)

    def validate(self, intake: pd.DataFrame) -> ValidationResult:
        return self._validator.validate(intake)

    def score_block(
        self, valid: pd.DataFrame, origin: pd.DataFrame, model: TriageModel, stamp: ScoringStamp, explain_top_k: int
    ) -> tuple[pd.DataFrame, sp.csr_matrix]:
        features = featurize(valid, self.spec, store_embeddings=scoring_stores_embeddings(),
                             token_weights=explanation_weights(model, explain_top_k))  # fmt: skip
        return score_chunk(valid, origin, model, self.spec, stamp, explain_top_k, features), features

    def drift(self, reference: DriftReference) -> DriftAccumulator:
        return DriftAccumulator(reference)


def score_file(
    path: Path,
    model: TriageModel,
    spec: FeatureSpec,
    rules: ValidationRules,
    stamp: ScoringStamp,
    sink: ChunkSink,
    *,
    encoding: str | None = None,
    **options: Any,
) -> BatchOutcome:
    """A file of reports through :func:`score_batch` (``options``: its keyword arguments)."""
    return score_batch(path, ReportReader(spec, rules, stamp.scored_at, encoding), model, stamp, sink, **options)


def score_batch(
    path: Path,
    reader: BatchReader,
    model: TriageModel,
    stamp: ScoringStamp,
    sink: ChunkSink,
    *,
    fail_safe: FailSafe | None = None,
    before_publishing: Callable[[BatchOutcome], None] | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    explain_top_k: int = 3,
    progress: Callable[[BatchTally], None] | None = None,
    staging_dir: Path | None = None,
) -> BatchOutcome:
    """Every record of the file ends up in the sink, scored or quarantined; the outcome says how many of each.

    With ``fail_safe`` the batch is measured for drift as it is scored, and ``before_publishing`` (the audit entry
    and notification of a suspension) runs before the first row reaches the sink. Without it nothing is watched
    and nothing suspended (benchmarks of the bare path)."""
    tally = BatchTally()
    reference = fail_safe.reference if fail_safe else None
    accumulator = reader.drift(reference) if reference is not None else None
    closable = model.closable_sources()
    with tempfile.TemporaryDirectory(prefix="gxp-staged-", dir=staging_dir) as staged:
        staged_chunks: list[tuple[Path, Path]] = []
        for intake in reader.chunks(path, chunk_records):
            result = reader.validate(intake)
            intake_rows = pd.Index(intake["intake_seq"])  # once per chunk: each block takes only its own intake rows
            pieces = []
            for start in range(0, len(result.valid), reader.block_rows):
                block = result.valid.iloc[start : start + reader.block_rows]
                origin = intake.iloc[intake_rows.get_indexer(block["intake_seq"])]
                piece, features = reader.score_block(block, origin, model, stamp, explain_top_k)
                if accumulator is not None:
                    accumulator.add_scored(block, features, piece)
                pieces.append(piece)
                del features
            predictions = pd.concat(pieces, ignore_index=True) if pieces else empty_predictions()
            del pieces
            staged_chunks.append(stage_chunk(Path(staged), len(staged_chunks), predictions, result.quarantined))
            tally_chunk(tally, len(intake), predictions, result.quarantined, closable)
            del intake, result, predictions  # now, not when the next chunk replaces them: two chunks are never held
            if progress is not None:
                progress(tally)
        drift = accumulator.result(fail_safe.limits) if accumulator is not None and fail_safe else None
        return publish(tally, drift, staged_chunks, sink, fail_safe=fail_safe, before_publishing=before_publishing)


def tally_chunk(
    tally: BatchTally, received: int, predictions: pd.DataFrame, quarantined: pd.DataFrame, closable: set[str] | None
) -> None:
    """Count one scored chunk (``received`` records in); every place a batch is scored counts through here."""
    if closable is not None:
        outside = predictions.loc[~predictions["source"].isin(closable), "source"].fillna("(missing)")
        tally.not_covered.update(outside.tolist())
    tally.received += received
    tally.scored += len(predictions)
    tally.quarantined += len(quarantined)
    tally.chunks += 1
    tally.reasons.update(quarantined["reason"].tolist())


def publish(
    tally: BatchTally,
    drift: Measurement | None,
    staged_chunks: Iterable[tuple[Path, Path]],
    sink: ChunkSink,
    *,
    fail_safe: FailSafe | None = None,
    before_publishing: Callable[[BatchOutcome], None] | None = None,
) -> BatchOutcome:
    """Decide any suspension from the whole batch's drift, run ``before_publishing``, then give the staged chunks to
    the sink in order with the suspension applied: the one way a scored batch reaches the sink, wherever it was
    scored (in this process, or in Spark: remote.spark_scoring stages the same files)."""
    suspension = suspension_reason(fail_safe, drift) if fail_safe else None
    outcome = BatchOutcome(tally, drift, suspension)
    if before_publishing is not None:
        before_publishing(outcome)
    for predictions_file, quarantine_file in staged_chunks:
        predictions, held = apply_suspension(pd.read_parquet(predictions_file), suspension)
        tally.suspended += held
        tally.triage.update(predictions["triage"].tolist())
        sink.add(typed_predictions(predictions), pd.read_parquet(quarantine_file))
        del predictions  # before the next chunk is read
        _release_arrow_memory()
    return outcome


def _release_arrow_memory() -> None:
    """Hand back to the system what Arrow's pool keeps after a chunk's Parquet conversion (some 90 MB for 50,000
    records, measured), which it would otherwise hold through the next chunk's scoring."""
    pa.default_memory_pool().release_unused()


def stage_chunk(folder: Path, index: int, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> tuple[Path, Path]:
    """Keep a scored chunk on disk until the whole batch is measured (Parquet round-trips the typed columns)."""
    names = staged_names(index)
    paths = folder / names[0], folder / names[1]
    predictions.to_parquet(paths[0], index=False)
    quarantined.to_parquet(paths[1], index=False)
    _release_arrow_memory()
    return paths


def staged_names(index: int) -> tuple[str, str]:
    """The file names of the ``index``-th staged chunk: predictions, quarantine rows (wherever a chunk is staged)."""
    return f"{index:06d}.predictions.parquet", f"{index:06d}.quarantine.parquet"
