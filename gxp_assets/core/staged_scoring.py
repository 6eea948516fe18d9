"""A batch scored somewhere else (Spark, on AWS Glue) and staged as :func:`score_file` stages it, published here.

The remote job leaves, per intake chunk, the files :func:`stage_chunk` writes (typed predictions, quarantine rows)
and how many records the chunk received. Counting, the drift measured for the fail-safe, any suspension and the
sink are then exactly those of an in-process run: the tally goes through :func:`tally_chunk`, drift through the
same accumulator (fed the staged predictions, which gives the measurement of the full feature matrix), and
publishing through :func:`publish`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gxp_assets.core.batch_scoring import BatchOutcome, BatchTally, ChunkSink, publish, tally_chunk
from gxp_assets.core.drift import DriftAccumulator
from gxp_assets.core.fail_safe import FailSafe
from gxp_assets.core.scoring import TriageModel


@dataclass(frozen=True)
class StagedChunk:
    """One intake chunk of a batch scored elsewhere: its staged files and how many records it received."""

    predictions: Path
    quarantine: Path
    received: int


def publish_staged(
    staged: Sequence[StagedChunk],
    model: TriageModel,
    sink: ChunkSink,
    *,
    fail_safe: FailSafe | None = None,
    before_publishing: Callable[[BatchOutcome], None] | None = None,
    progress: Callable[[BatchTally], None] | None = None,
) -> BatchOutcome:
    """Count and measure the staged chunks in intake order, then publish them: the outcome :func:`score_file` gives
    for the same chunks."""
    tally = BatchTally()
    reference = fail_safe.reference if fail_safe else None
    accumulator = DriftAccumulator(reference) if reference is not None else None
    closable = model.closable_sources()
    for chunk in staged:
        predictions, quarantined = pd.read_parquet(chunk.predictions), pd.read_parquet(chunk.quarantine)
        if accumulator is not None:
            accumulator.add_predictions(predictions)
        tally_chunk(tally, chunk.received, predictions, quarantined, closable)
        if progress is not None:
            progress(tally)
    drift = accumulator.result(fail_safe.limits) if accumulator is not None and fail_safe else None
    files = [(chunk.predictions, chunk.quarantine) for chunk in staged]
    return publish(tally, drift, files, sink, fail_safe=fail_safe, before_publishing=before_publishing)
