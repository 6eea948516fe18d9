"""Spark scoring (local[2]) against in-process scoring: the same predictions, quarantine, counts and drift.

Both paths publish through a sink that keeps what it is given, so what is compared is what the results store would
receive: every column of every prediction (p_ae, prediction set, triage, reason, explanation, hashes, times) and
every quarantine row with its reason, chunk by chunk.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.core.batch_scoring import ScoringStamp, score_file
from gxp_assets.core.demo_data import demo_batch
from gxp_assets.core.fail_safe import FailSafe
from gxp_assets.core.hashing import sha256_file
from gxp_assets.core.staged_scoring import StagedChunk, publish_staged
from gxp_assets.core.validation import ValidationRules
from gxp_assets.defs.fail_safe import drift_limits
from gxp_assets.stores import current_plan
from gxp_assets_tests import hostile_files
from gxp_assets_tests.conftest import AE
from gxp_assets_tests.remote.conftest import TrainedModel

pytestmark = pytest.mark.spark

RULES = ValidationRules(require_label=False, require_received_at=True, future_tolerance=timedelta(minutes=5))
STAMP = ScoringStamp("batch-1", "v-test", "plan 1.0", "run-1", datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
                     timedelta(days=15))  # fmt: skip


class KeptChunks:
    """A sink that keeps every chunk it is given, as the results store's batch writer receives them."""

    def __init__(self) -> None:
        self.chunks: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def add(self, predictions: pd.DataFrame, quarantined: pd.DataFrame) -> None:
        self.chunks.append((predictions, quarantined))


def in_process(path: Path, trained: TrainedModel, fail_safe: FailSafe | None, chunk_records: int, staging: Path):
    model, spec = trained.bundle.load()
    sink = KeptChunks()
    outcome = score_file(path, model, spec, RULES, STAMP, sink, fail_safe=fail_safe, chunk_records=chunk_records,
                         staging_dir=staging)  # fmt: skip
    return outcome, sink


def on_spark(spark, path: Path, trained: TrainedModel, fail_safe: FailSafe | None, chunk_records: int, out: Path):
    from gxp_assets.remote.spark_scoring import score_on_spark

    scoring = score_on_spark(spark, path, trained.bundle, RULES, STAMP, out, chunk_records=chunk_records,
                             log=lambda line: None)  # fmt: skip
    staged = [StagedChunk(out / chunk["predictions"], out / chunk["quarantine"], chunk["received"])
              for chunk in scoring.chunks]  # fmt: skip
    sink = KeptChunks()
    model, _ = trained.bundle.load()
    outcome = publish_staged(staged, model, sink, fail_safe=fail_safe)
    return scoring, outcome, sink


def assert_same_chunks(ours: KeptChunks, theirs: KeptChunks) -> None:
    assert len(ours.chunks) == len(theirs.chunks)
    for (predictions, quarantined), (expected, expected_quarantine) in zip(ours.chunks, theirs.chunks, strict=True):
        pd.testing.assert_frame_equal(predictions, expected, check_exact=True)
        assert predictions.dtypes.to_dict() == expected.dtypes.to_dict()
        pd.testing.assert_frame_equal(quarantined, expected_quarantine, check_exact=True)


def test_spark_scores_a_demo_batch_as_in_process(spark, trained_model: TrainedModel, tmp_path: Path) -> None:
    batch = demo_batch(400, seed=31, received_until=datetime(2026, 12, 4, 11, 0, tzinfo=UTC))
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False, lineterminator="\n")
    fail_safe = FailSafe(trained_model.reference, drift_limits(current_plan(AE).plan), suspend_on_drift=True)
    expected, kept = in_process(path, trained_model, fail_safe, 500, tmp_path)
    scoring, outcome, sink = on_spark(spark, path, trained_model, fail_safe, 500, tmp_path / "spark")

    assert_same_chunks(sink, kept)
    predictions = pd.concat([chunk for chunk, _ in sink.chunks])
    assert len(predictions) == len(batch) == expected.tally.scored  # a clean batch: every record scored
    assert set(predictions["triage"]) == {"AUTO_CLOSE", "REVIEW", "PRIORITY"}
    assert predictions["explanation"].str.startswith('[{"feature": ').all()
    assert outcome.tally.to_dict() == expected.tally.to_dict()
    assert len(scoring.chunks) == expected.tally.chunks > 1  # several intake chunks, each staged on its own
    assert outcome.drift is not None and outcome.drift.to_dict() == expected.drift.to_dict()
    assert outcome.suspension == expected.suspension
    staged = tmp_path / "spark"
    for left in ("intake", "candidates"):  # the driver removed the pieces, intake chunks and candidates once done
        assert (staged / left).is_dir() and not list((staged / left).iterdir())
    for chunk in scoring.chunks:  # what each executor reported is the file it staged
        assert sha256_file(staged / chunk["predictions"]) == chunk["predictions_sha256"]
        assert sha256_file(staged / chunk["quarantine"]) == chunk["quarantine_sha256"]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_spark_quarantines_hostile_rows_as_in_process(
    spark, trained_model: TrainedModel, tmp_path: Path, kind: str
) -> None:
    """Bad rows of every kind in one file, split over chunks so duplicates are found across them. A CSV file is cut
    into pieces by the driver and parsed on the executors; a JSON Lines file is read into chunks by the driver."""
    row, good = hostile_files.row, hostile_files.good_row
    rows = [good("hostile", n) for n in range(3)]
    rows += [["", *row("hostile", "noid", "hostile: no id")[1:]], row("hostile", "empty", "   ")]
    rows += [row("hostile", "formula", '=HYPERLINK("http://evil.example","click")'), row("hostile", "dash", "- dizzy")]
    rows += [row("hostile", key, f"hostile: received {key}", received_at=value) for key, value in
             {"nozone": "2026-03-01T10:00:00", "future": "2099-01-01T00:00:00Z", "word": "yesterday"}.items()]
    rows += [row("hostile", "newline", 'hostile: line one\nline "two", with a comma'), row("hostile", "bidi", "\u202e")]
    rows += [row("hostile", "long", "x" * 20_001)]
    rows += [row("hostile", "dup-text", "hostile: patient 1 tolerated the dose", label="0")]
    demo = demo_batch(60, seed=5, received_until=datetime(2026, 12, 4, 11, 0, tzinfo=UTC))
    rows += demo.reindex(columns=list(hostile_files.HEADER)).fillna("").to_numpy().tolist()
    rows += [rows[0], rows[-1]]  # the first and the last record again, chunks later: duplicates across chunks
    path = tmp_path / f"hostile.{kind}"
    if kind == "csv":
        path.write_text(hostile_files.csv_text(rows))
    else:
        path.write_text("".join(json.dumps(dict(zip(hostile_files.HEADER, row, strict=True))) + "\n" for row in rows))

    expected, kept = in_process(path, trained_model, None, 40, tmp_path)
    scoring, outcome, sink = on_spark(spark, path, trained_model, None, 40, tmp_path / "spark")

    assert_same_chunks(sink, kept)
    reasons = set(expected.tally.reasons)
    assert {"missing_field", "duplicate_report_id", "invalid_timestamp", "duplicate_text", "formula_text"} <= reasons
    assert outcome.tally.to_dict() == expected.tally.to_dict()
    tally = outcome.tally
    assert tally.received == len(rows) == tally.scored + tally.quarantined  # reconciliation
    assert (scoring.received, scoring.scored, scoring.quarantined) == (tally.received, tally.scored, tally.quarantined)
    seqs = pd.concat([frame["intake_seq"] for chunk in sink.chunks for frame in chunk]).sort_values()
    assert seqs.tolist() == list(range(tally.received))  # every record once, scored or quarantined


def test_a_batch_with_nothing_valid_is_all_quarantine(spark, trained_model: TrainedModel, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(hostile_files.csv_text([hostile_files.row("bad", str(n), "=cmd()") for n in range(3)]))
    _, kept = in_process(path, trained_model, None, 50, tmp_path)
    _, outcome, sink = on_spark(spark, path, trained_model, None, 50, tmp_path / "spark")
    assert_same_chunks(sink, kept)
    assert (outcome.tally.scored, outcome.tally.quarantined) == (0, 3)
