"""The domain classifier's side for declared records (core.record_domain), without a model: how a sampled record
becomes a feature row, and what a batch too small to judge gets. The end-to-end cases (a steady batch, a joint
shift that suspends the fast route, chunking) are in test_batch_scoring_records.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import generate_batch_records
from gxp_assets.core.domain_shift import MIN_DOMAIN_ROWS, judged_auc
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.record_domain import RecordScaling, record_domain_shift
from gxp_assets.core.record_reference import RecordReference, build_record_reference, sample_values

SPEC = FeatureSpec(
    name="toy",
    version="1",
    text_column=None,
    numeric_columns=("mgst_pct", "tablet_hardness_n"),
    categorical_columns=("line",),
)


def later() -> pd.DataFrame:
    """Batches after the reference's, of the same products (one generator run)."""
    return generate_batch_records(600, seed=4).iloc[300:]


@pytest.fixture(scope="module")
def reference() -> RecordReference:
    records = generate_batch_records(600, seed=4).iloc[:300]
    n = len(records)
    return build_record_reference(records, records, SPEC, np.linspace(0, 1, n), ["REVIEW"] * n, ["x"] * n,
                                  sample_records=records, sample_ids=records["batch_id"].tolist())  # fmt: skip


def test_a_record_row_is_standardised_with_missing_pairs_and_levels(reference: RecordReference) -> None:
    scaling = RecordScaling.of(reference)
    numbers = np.array([row[:2] for row in reference.sample.rows], dtype=float)
    assert np.allclose(scaling.means, numbers.mean(axis=0)) and np.allclose(scaling.scales, numbers.std(axis=0))
    assert scaling.levels == (("L1", "L2", "L3"),)
    mean_mgst, mean_hardness = scaling.means
    rows = [(mean_mgst + scaling.scales[0], None, "L2"), (mean_mgst, mean_hardness - 2 * scaling.scales[1], "L9"),
            (mean_mgst, mean_hardness, None)]  # fmt: skip
    X = scaling.matrix(rows).toarray()
    # z (2), missing (2), products z0*z0, z0*z1, z1*z1 (3), line: L1, L2, L3, other level, missing (5).
    assert X.shape == (3, 12)
    assert np.allclose(X[0], [1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0])  # hardness missing: 0 and its indicator
    assert np.allclose(X[1], [0, -2, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0])  # a level training never held: "other"
    assert np.allclose(X[2], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])  # no line: "missing"
    # Over the reference sample itself each standardised column has mean 0 and sd 1.
    Z = scaling.matrix(reference.sample.rows).toarray()[:, :2]
    assert np.allclose(Z.mean(axis=0), 0) and np.allclose(Z.std(axis=0), 1)


def test_a_batch_too_small_gets_a_note_and_no_verdict(reference: RecordReference) -> None:
    batch = sample_values(later().iloc[: MIN_DOMAIN_ROWS - 1], SPEC)
    shift = record_domain_shift(reference, batch)
    notes: list[str] = []
    assert shift.auc is None and judged_auc(shift, 0.8, notes, "records") is None
    assert notes == [f"domain_auc not judged: 300 reference and {MIN_DOMAIN_ROWS - 1} batch records sampled, "
                     f"at least {MIN_DOMAIN_ROWS} needed on each"]  # fmt: skip
    assert record_domain_shift(reference, []).batch_rows == 0


def test_records_of_another_process_are_told_apart(reference: RecordReference) -> None:
    same = record_domain_shift(reference, sample_values(later(), SPEC))
    harder = later().copy()
    harder["tablet_hardness_n"] = harder["tablet_hardness_n"] + 40.0  # a shift of the mean: linear terms see it
    shifted = record_domain_shift(reference, sample_values(harder, SPEC))
    assert same.auc is not None and shifted.auc is not None and shifted.z is not None
    assert abs(same.auc - 0.5) < 0.1 and shifted.auc > 0.85 and shifted.z > 10, (same, shifted)
    assert judged_auc(shifted, 0.8, [], "records") == shifted.auc
