"""Tabular drift per column: a known shift of batch records moves its own column's PSI and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import generate_batch_records, write_batch_records
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.record_contract import RecordContract
from gxp_assets.core.record_files import validated_records
from gxp_assets.core.tabular_drift import (
    TabularReference,
    build_tabular_reference,
    measure_tabular_drift,
    smoothed_psi,
)
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def declared() -> tuple[RecordContract, FeatureSpec]:
    use_case = load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case
    return use_case.record_contract(), use_case.feature_spec()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_batch_records(1000, seed=0)


def valid(tmp_path: Path, name: str, frame: pd.DataFrame, contract: RecordContract, stage: str = "training"):
    path = tmp_path / f"{name}.csv"
    write_batch_records(path, frame)
    return validated_records(path, contract, stage, NOW).valid


@pytest.fixture()
def reference(tmp_path: Path, frame: pd.DataFrame, declared: tuple[RecordContract, FeatureSpec]) -> TabularReference:
    contract, spec = declared
    training = valid(tmp_path, "training", frame.iloc[:800], contract)
    return build_tabular_reference(training, spec.numeric_columns, spec.categorical_columns)


@pytest.mark.parametrize(
    ("column", "shift"),
    [("api_d50_um", lambda batch: (batch["api_d50_um"] * 1.5).round(1)),  # coarser API
     ("mgst_pct", lambda batch: (batch["mgst_pct"] + 0.3).round(2))],  # more lubricant
)  # fmt: skip
def test_a_shifted_column_has_a_higher_psi_than_an_in_distribution_batch(
    tmp_path: Path, frame: pd.DataFrame, declared: tuple, reference: TabularReference, column: str, shift
) -> None:
    contract, _ = declared
    later = frame.iloc[800:]
    same = measure_tabular_drift(reference, valid(tmp_path, "same", later, contract, "scoring"))
    shifted = measure_tabular_drift(
        reference, valid(tmp_path, "shifted", later.assign(**{column: shift(later)}), contract, "scoring")
    )
    assert same.column(column).psi < same.column(column).psi_noise  # within sampling noise
    assert shifted.column(column).psi > 5 * same.column(column).psi_noise
    assert shifted.column(column).out_of_range_share > same.column(column).out_of_range_share == 0
    for other in shifted.columns:  # nothing else moved
        if other.column != column:
            assert other.psi == same.column(other.column).psi


def test_the_reference_is_json_and_identical_records_give_no_drift(
    tmp_path: Path, frame: pd.DataFrame, declared: tuple, reference: TabularReference
) -> None:
    contract, _ = declared
    again = TabularReference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert again == reference and again.sha256 == reference.sha256
    numeric = reference.numeric[0]
    assert len(numeric.edges) == 9 and sum(numeric.counts) == 800 and numeric.low <= numeric.high
    drift = measure_tabular_drift(reference, valid(tmp_path, "training", frame.iloc[:800], contract))
    assert all(column.psi == 0 and column.missing_share == 0 for column in drift.columns)
    json.dumps(drift.to_dict())  # plain JSON


def test_unseen_and_missing_levels_are_shares_of_their_own() -> None:
    training = pd.DataFrame({"supplier": ["A"] * 60 + ["B"] * 40})
    reference = build_tabular_reference(training, [], ["supplier"])
    batch = pd.DataFrame({"supplier": ["A"] * 10 + ["D"] * 5 + [None] * 5})
    drift = measure_tabular_drift(reference, batch).column("supplier")
    assert drift.unseen_level_share == 5 / 15 and drift.missing_share == 5 / 20
    assert drift.counts == (10, 0, 5) and drift.psi > 1  # no B, a third unseen


def test_empty_bins_are_smoothed_and_a_constant_column_still_shows_change() -> None:
    assert np.isfinite(smoothed_psi([20, 0, 0], [10, 10, 10]))  # empty batch bins: finite, not a floor spike
    assert smoothed_psi([10, 10, 10], [100, 100, 100]) == pytest.approx(0, abs=1e-12)
    reference = build_tabular_reference(pd.DataFrame({"force": [5.0] * 50 + [np.nan] * 10}), ["force"], [])
    assert reference.numeric[0].counts == (0, 50, 0) and reference.numeric[0].missing == 10
    unchanged = measure_tabular_drift(reference, pd.DataFrame({"force": [5.0] * 20})).column("force")
    changed = measure_tabular_drift(reference, pd.DataFrame({"force": [5.5] * 20})).column("force")
    assert unchanged.psi < 0.05 and unchanged.out_of_range_share == 0 and unchanged.missing_share == 0
    assert changed.psi > 1 and changed.out_of_range_share == 1
    assert unchanged.reference_missing_share == 10 / 60
    empty = measure_tabular_drift(reference, pd.DataFrame({"force": [np.nan, np.nan]})).column("force")
    assert empty.psi is None and empty.missing_share == 1 and empty.out_of_range_share is None


def test_numbers_as_written_give_the_numbers_validated() -> None:
    training = pd.DataFrame({"mgst_pct": np.linspace(0.3, 1.2, 100)})
    reference = build_tabular_reference(training, ["mgst_pct"], [])
    values = [0.35, 0.8, 1.1, 1.3]
    as_numbers = measure_tabular_drift(reference, pd.DataFrame({"mgst_pct": values}))
    as_written = measure_tabular_drift(reference, pd.DataFrame({"mgst_pct": ["0,35", "0,8", "1,1", "1,3"]}), ",")
    assert as_numbers == as_written and as_numbers.column("mgst_pct").out_of_range_share == 0.25


def test_a_level_kept_at_scoring_is_counted_as_unseen(
    tmp_path: Path, frame: pd.DataFrame, declared: tuple, reference: TabularReference
) -> None:
    contract, _ = declared
    later = frame.iloc[800:840].copy()
    later.iloc[:4, later.columns.get_loc("excipient_supplier")] = "SUP-D"  # a new supplier, not declared
    scored = valid(tmp_path, "new_supplier", later, contract, "scoring")
    assert len(scored) == 40  # kept at scoring (core.record_validation), so drift can count it
    drift = measure_tabular_drift(reference, scored).column("excipient_supplier")
    assert drift.unseen_level_share == 4 / 40 and drift.counts[-1] == 4
