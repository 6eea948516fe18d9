"""In-process scoring in blocks of reports: the same bytes whatever the block, PRIORITY and REVIEW reports explained
from the per-token shares kept when they were encoded (no second pass of the network), and the embedding cache only
read."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from gxp_assets.core import batch_scoring, sentence_encoder
from gxp_assets.core.batch_scoring import score_file
from gxp_assets.core.demo_data import demo_batch
from gxp_assets.core.sentence_encoder import SentenceEncoder
from gxp_assets_tests.remote.conftest import TrainedModel
from gxp_assets_tests.remote.test_spark_scoring import RULES, STAMP, KeptChunks


def scored(path: Path, trained: TrainedModel, staging: Path) -> pd.DataFrame:
    model, spec = trained.bundle.load()
    sink = KeptChunks()
    score_file(path, model, spec, RULES, STAMP, sink, chunk_records=300, staging_dir=staging)
    return pd.concat([predictions for predictions, _ in sink.chunks], ignore_index=True)


def written_batch(folder: Path, documents: int, seed: int) -> tuple[pd.DataFrame, Path]:
    batch = demo_batch(documents, seed=seed, received_until=datetime(2026, 12, 4, 11, 0, tzinfo=UTC))
    path = folder / "batch.csv"
    batch.to_csv(path, index=False, lineterminator="\n")
    return batch, path


def test_blocks_give_the_same_predictions_and_encode_each_report_once(
    trained_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, path = written_batch(tmp_path, 150, seed=43)
    monkeypatch.setenv("GXP_ENCODER_CACHE", "off")  # every report goes through the network
    runs: list[int] = []
    original = SentenceEncoder._hidden
    monkeypatch.setattr(SentenceEncoder, "_hidden", lambda self, ids: runs.append(len(ids)) or original(self, ids))
    monkeypatch.setattr(batch_scoring, "SCORE_BLOCK_ROWS", 40)
    in_blocks = scored(path, trained_model, tmp_path)
    rows_in_blocks = sum(runs)

    runs.clear()
    monkeypatch.setattr(batch_scoring, "SCORE_BLOCK_ROWS", 10**6)  # a whole intake chunk at once
    whole = scored(path, trained_model, tmp_path)
    rows_whole = sum(runs)

    runs.clear()
    monkeypatch.setattr(sentence_encoder, "RECENT_SHARES_BYTES", 0)  # nothing kept: every explanation recomputed
    recomputed = scored(path, trained_model, tmp_path)

    pd.testing.assert_frame_equal(in_blocks, whole, check_exact=True)
    pd.testing.assert_frame_equal(recomputed, whole, check_exact=True)  # kept shares are the recomputed bytes
    explained = whole["prediction_set"].str.contains("1").sum()  # AE in the set: its words are shown
    assert explained > 20 and len(whole) == len(batch)
    assert rows_in_blocks == rows_whole == len(whole)  # each report encoded once, its words from the kept shares
    assert sum(runs) == len(whole) + explained  # without them, every explained report goes through the network again


def test_scoring_reads_the_embedding_cache_but_does_not_fill_it(
    trained_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, path = written_batch(tmp_path, 40, seed=44)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GXP_ENCODER_CACHE", str(cache))

    def stored() -> int:
        files = list(cache.glob("*.sqlite"))
        if not files:
            return 0
        with sqlite3.connect(files[0]) as connection:
            return connection.execute("SELECT COUNT(*) FROM embedding").fetchone()[0]

    monkeypatch.delenv("GXP_ENCODER_CACHE_SCORING", raising=False)
    by_default = scored(path, trained_model, tmp_path)
    assert stored() == 0
    monkeypatch.setenv("GXP_ENCODER_CACHE_SCORING", "store")
    storing = scored(path, trained_model, tmp_path)
    assert stored() == batch["text"].nunique()
    pd.testing.assert_frame_equal(by_default, storing, check_exact=True)
