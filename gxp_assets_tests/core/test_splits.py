from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import generate_batch_records, is_failure
from gxp_assets.core.hashing import unit_interval
from gxp_assets.core.splits import (
    SPLITS,
    SplitPlan,
    assign_record_splits,
    assign_splits,
    folded_text,
    leaks,
    split_groups,
    split_shortfalls,
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


def test_texts_fold_case_and_every_kind_of_whitespace_as_the_regex_did() -> None:
    """``str.split`` replaced ``re.sub(r"\\s+", " ", ...)``: the two agree on every code point, tabs, newlines,
    no-break and ideographic spaces among them, so no split group changes."""
    import re
    import sys

    def by_regex(text: str) -> str:
        return re.sub(r"\s+", " ", text.casefold()).strip()

    samples = ["  Severe\tRASH\n\nafter  dose ", "ÉTAT\u00a0grave\u3000Straße", "\u2028\x1c\x1d\x85 x \u200b y"]
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for text in [*samples, every, *(f"a{chr(c)}b{chr(c)}" for c in range(0x3100))]:
        assert folded_text(text) == by_regex(text)
    assert folded_text("  Severe\tRASH\n\nafter  dose ") == "severe rash after dose"


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


@pytest.fixture(scope="module")
def batches() -> pd.DataFrame:
    frame = generate_batch_records(1000, seed=0)
    return frame.assign(label=is_failure(frame["dissolution_pct"]).astype(int))


def positives_per_part(splits: pd.DataFrame) -> list[int]:
    return [int(splits.loc[splits["split"] == name, "label"].sum()) for name in SPLITS]


@pytest.mark.parametrize("group", ["batch_id", "product_code"])
def test_record_splits_keep_groups_whole_and_deal_the_positives_out(batches: pd.DataFrame, group: str) -> None:
    plan = SplitPlan()
    splits = assign_record_splits(batches, "batch_id", group, plan, subgroup_column="site")
    assert splits.equals(assign_record_splits(batches, "batch_id", group, plan, subgroup_column="site"))
    assert leaks(splits, splits["split_group"]).empty
    assert splits["report_id"].tolist() == batches["batch_id"].tolist()
    assert splits["source"].tolist() == batches["site"].tolist()
    assert list(splits.columns) == list(assign_splits(reports(2), SplitPlan()).columns)  # one split table
    total = int(batches["label"].sum())  # 62 failing batches of 1,000; 22 of the 40 products hold any
    wanted = [share * total for share in (plan.train, plan.calibration, plan.test)]
    # By batch the shares are met to a batch; by product (13 failures in the largest) to a product's worth.
    tolerance = 1 if group == "batch_id" else 3
    assert all(abs(have - want) <= tolerance for have, want in zip(positives_per_part(splits), wanted, strict=True))
    records = [int((splits["split"] == name).sum()) for name in SPLITS]
    assert all(abs(have - 1000 * share) <= 10 for have, share in zip(records, (0.6, 0.2, 0.2), strict=True))


def test_hashing_products_alone_leaves_a_part_short_of_positives(batches: pd.DataFrame) -> None:
    """Why record splits deal instead of hashing: by product, the hash leaves the test part 3 of 62 positives."""
    plan = SplitPlan()
    u = batches["product_code"].map(lambda product: unit_interval(str(plan.seed), product))
    side = np.where(u < plan.train, "train", np.where(u < plan.train + plan.calibration, "calibration", "test"))
    hashed = pd.DataFrame({"split": side, "split_group": batches["product_code"], "label": batches["label"]})
    assert positives_per_part(hashed) == [39, 20, 3]
    dealt = assign_record_splits(batches, "batch_id", "product_code", SplitPlan())
    assert split_shortfalls(hashed, {"test": 10}) and not split_shortfalls(dealt, {"test": 10})


def test_a_split_that_cannot_support_the_plan_says_so_with_the_numbers(batches: pd.DataFrame) -> None:
    by_batch = assign_record_splits(batches, "batch_id", "batch_id", SplitPlan())
    assert split_shortfalls(by_batch, {"train": 20, "calibration": 12, "test": 12}) == []
    problems = split_shortfalls(by_batch, {"calibration": 45})
    assert problems == [
        "the calibration part holds 13 positives in 13 of its 200 groups (200 records); the plan needs at least 45 "
        "positives",
        "all parts: 62 positives in 62 of 1,000 groups (1,000 records): the data cannot support the plan as split; "
        "add data, or state a plan it can",
    ]
    by_product = assign_record_splits(batches, "batch_id", "product_code", SplitPlan())
    problems = split_shortfalls(by_product, {}, min_groups=10)
    assert problems[0].startswith("the calibration part holds") and "at least 10 groups" in problems[0]
    assert problems[-1].endswith("add data, or split by a finer group")
