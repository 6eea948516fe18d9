from __future__ import annotations

import numpy as np
import pytest

from gxp_assets.core import output_drift
from gxp_assets.core.output_drift import OutputCounts, OutputReference

REFERENCE = OutputReference(
    n=100, score_edges=(0.25, 0.5, 0.75), score_shares=(0.25, 0.25, 0.25, 0.25), review_share=0.3,
    source_shares={"literature": 1.0},
)  # fmt: skip


@pytest.mark.parametrize("merge_at_least", [1, 7, 65_536])
def test_documents_are_counted_once_whatever_the_chunks_and_merges(
    merge_at_least: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PSI noise counts distinct documents: a document seen in many chunks counts once, whether the chunks'
    hashes were merged at every chunk, now and then, or only when the count is read."""
    monkeypatch.setattr(output_drift, "MERGE_AT_LEAST", merge_at_least)
    rng = np.random.default_rng(3)
    documents = [f"doc-{number}" for number in rng.integers(0, 400, size=3_000)]  # many repeats, across chunks
    counts = OutputCounts(REFERENCE)
    for start in range(0, len(documents), 37):
        rows = documents[start : start + 37]
        counts.add(rng.random(len(rows)), ["REVIEW"] * len(rows), ["literature"] * len(rows), rows)
        if start % 370 == 0:  # reading the count in between changes nothing that follows
            assert counts.documents == len(set(documents[: start + 37]))
    assert counts.documents == len(set(documents))
    assert counts.n == len(documents)
