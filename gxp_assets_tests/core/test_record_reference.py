"""The tabular model's column names and drift reference: what a reviewer reads, and what scoring compares with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.column_names import tabular_feature_names
from gxp_assets.core.features import FeatureSpec, featurize
from gxp_assets.core.record_reference import REFERENCE_KIND, RecordReference, build_record_reference

SPEC = FeatureSpec(name="t", version="1", text_column=None, numeric_columns=("dose_mg", "age"),
                   categorical_columns=("site", "line"), categorical_buckets=64)  # fmt: skip
LEVELS = {"site": ("A", "B"), "line": ("L1", "L2", "L3")}


def records(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": [f"r{seed}-{i}" for i in range(n)],
        "dose_mg": rng.normal(50, 5, n).round(1),
        "age": rng.integers(20, 80, n).astype(float),
        "site": rng.choice(["A", "B"], n),
        "line": rng.choice(["L1", "L2", "L3"], n),
    })  # fmt: skip


def test_columns_are_named_by_the_declared_column_or_level_that_fills_them() -> None:
    names = tabular_feature_names(SPEC, LEVELS)
    assert names[0] == "dose_mg" and names[1] == "age"
    for column, levels in LEVELS.items():
        for level in levels:
            row = pd.DataFrame({"dose_mg": [1.0], "age": [2.0], "site": ["A"], "line": ["L1"]} | {column: [level]})
            filled = featurize(row, SPEC)[0, 2:].nonzero()[1] + 2
            assert any(f"{column}={level}" in names[int(index)].split(" | ") for index in filled)
    assert set(names) <= set(range(SPEC.n_features))


def test_the_reference_is_plain_json_with_its_kind_and_is_read_back_exactly() -> None:
    train, test = records(300, 1), records(120, 2)
    scores = np.linspace(0.01, 0.99, len(test))
    triage = np.where(scores < 0.3, "AUTO_CLOSE", np.where(scores > 0.8, "PRIORITY", "REVIEW"))
    reference = build_record_reference(train, test, SPEC, scores, triage, test["site"], sample_records=test,
                                       sample_ids=test["id"], sample_rows=50)  # fmt: skip
    values = reference.to_dict()
    assert values["kind"] == REFERENCE_KIND and values["schema"] == 1
    assert RecordReference.from_dict(values) == reference and RecordReference.from_dict(values).to_dict() == values
    assert reference.columns.n_records == 300 and reference.n_records == 120
    assert reference.review_share == pytest.approx(float((triage == "REVIEW").mean()))
    assert set(reference.source_shares) == {"A", "B"}
    assert len(reference.sample.rows) == 50 and list(reference.sample.frame().columns) == ["dose_mg", "age", "site",
                                                                                           "line"]  # fmt: skip
    # The sample is chosen by the records' ids, not by their position: the same records in another order.
    shuffled = test.sample(frac=1.0, random_state=0)
    again = build_record_reference(train, test, SPEC, scores, triage, test["site"], sample_records=shuffled,
                                   sample_ids=shuffled["id"], sample_rows=50)  # fmt: skip
    assert sorted(map(tuple, again.sample.frame().astype(str).values)) == sorted(
        map(tuple, reference.sample.frame().astype(str).values)
    )
    with pytest.raises(ValueError, match="not a records drift reference"):
        RecordReference.from_dict({**values, "kind": "text"})
