"""Document bootstrap: intervals contain the estimate, narrow with more documents, and resample documents, not
records."""

from __future__ import annotations

import numpy as np

from gxp_assets.core.bootstrap import document_bootstrap


def corpus(documents: int, per_document: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(documents), per_document)
    document_ae = rng.random(documents) < 0.3  # records of one document share their label: strongly correlated
    labels = document_ae[groups].astype(int)
    document_score = document_ae * 0.3 + rng.random(documents) * 0.7  # and their scores
    p_ae = np.clip(document_score[groups] + rng.normal(0, 0.03, len(groups)), 0, 1)
    triage = np.where(p_ae > 0.6, "PRIORITY", np.where(p_ae < 0.4, "AUTO_CLOSE", "REVIEW"))
    return groups, labels, p_ae, triage


def test_intervals_hold_the_estimate_and_narrow_with_more_documents() -> None:
    few = {row["metric"]: row for row in document_bootstrap(*corpus(40, 5), draws=300)}
    many = {row["metric"]: row for row in document_bootstrap(*corpus(400, 5), draws=300)}
    for name, row in few.items():
        assert row["low"] <= row["estimate"] <= row["high"], row
        assert (many[name]["high"] - many[name]["low"]) < (row["high"] - row["low"]), name
    assert few["AUTO_CLOSE share"]["documents"] == 40 and few["AUROC"]["draws"] == 300


def test_documents_not_records_are_the_unit() -> None:
    groups, labels, p_ae, triage = corpus(60, 10)
    by_document = {r["metric"]: r for r in document_bootstrap(groups, labels, p_ae, triage, draws=300)}
    by_record = {r["metric"]: r for r in document_bootstrap(np.arange(len(groups)), labels, p_ae, triage, draws=300)}
    width = lambda row: row["high"] - row["low"]  # noqa: E731
    assert width(by_document["AUTO_CLOSE share"]) > 1.5 * width(by_record["AUTO_CLOSE share"])
