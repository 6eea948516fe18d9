from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.splits import (
    SplitPlan,
    assign_splits,
    folded_text,
    leaks,
    split_groups,
    whole_document_batches,
)


def reports(n_documents: int, per_document: int = 3) -> pd.DataFrame:
    rows = [
        {"report_id": f"r{d}-{i}", "document_id": f"d{d}", "text": f"text {d} {i}", "label": (d + i) % 2, "source": "s"}
        for d in range(n_documents)
        for i in range(per_document)
    ]
    return pd.DataFrame(rows)


def test_splits_are_deterministic_grouped_and_close_to_the_plan() -> None:
    frame = reports(3000)
    splits = assign_splits(frame, SplitPlan(seed=1))
    assert splits.equals(assign_splits(frame, SplitPlan(seed=1)))
    assert leaks(splits, splits["document_id"]).empty
    shares = splits["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.03)
    assert shares["calibration"] == pytest.approx(0.2, abs=0.03)
    other_seed = assign_splits(frame, SplitPlan(seed=2))
    assert (other_seed["split"] != splits["split"]).mean() > 0.3


def test_a_report_keeps_its_side_when_more_data_arrives() -> None:
    small, large = reports(500), reports(1000)
    sides = dict(zip(*assign_splits(large, SplitPlan()).pipe(lambda s: (s["report_id"], s["split"])), strict=True))
    assert all(sides[rid] == side for rid, side in assign_splits(small, SplitPlan())[["report_id", "split"]].values)


def test_documents_sharing_a_text_are_one_group() -> None:
    frame = pd.DataFrame(
        {"document_id": ["b", "a", "c", "d"], "text": ["Same  TEXT", "same text", "other", "unrelated"]}
    )
    groups = split_groups(frame["document_id"], frame["text"])
    assert groups[0] == groups[1] != groups[2]
    assert groups[2] != groups[3]
    linked = pd.DataFrame(
        {"report_id": list("wxyz"), "label": [0, 1, 0, 1], "source": "s", **frame.to_dict("list")}
    ).loc[[0, 1, 2, 3]]
    for seed in range(20):  # whatever the seed, the shared text never straddles two sides
        splits = assign_splits(linked, SplitPlan(seed=seed))
        assert leaks(splits, linked["text"].map(folded_text).reset_index(drop=True)).empty


def test_invalid_proportions_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SplitPlan(train=0.7, calibration=0.2, test=0.2)


def test_leaks_reports_the_sides() -> None:
    splits = pd.DataFrame({"split": ["train", "test", "train"]})
    found = leaks(splits, pd.Series(["k", "k", "j"]))
    assert found.to_dict("records") == [{"key": "k", "splits": ["test", "train"]}]


def test_whole_document_batches_keep_documents_together_and_never_share_a_row() -> None:
    reports = pd.DataFrame({"document_id": [f"d{k // 3}" for k in range(60)]})  # 20 documents of 3 records
    batches = whole_document_batches(reports, size=9, count=4, seed=1)
    assert len(batches) == 4 and all(len(rows) == 9 for rows in batches)
    used = np.concatenate(batches)
    assert len(set(used.tolist())) == len(used)
    for rows in batches:  # 9 rows of 3-record documents: exactly three whole documents
        assert reports["document_id"].iloc[rows].value_counts().eq(3).all()
    assert [rows.tolist() for rows in batches] == [rows.tolist() for rows in whole_document_batches(reports, 9, 4, 1)]
