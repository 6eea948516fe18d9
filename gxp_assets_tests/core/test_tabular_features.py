"""Numeric and categorical features of a declared spec: decimal marks honoured, the same in training and scoring,
and no rows (everything quarantined) a clear error at validation instead of a crash in featurizing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import generate_batch_records, write_batch_records
from gxp_assets.core.features import DEFAULT_FEATURE_SPEC, FeatureSpec, featurize, word_features
from gxp_assets.core.intake_table import IntakeRecord, intake_table
from gxp_assets.core.quarantine_tally import NoValidRecordsError, require_valid_records
from gxp_assets.core.record_files import validated_records
from gxp_assets.core.tabular_features import tabular_parts
from gxp_assets.core.validation import ValidationRules, validate_reports
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
SPEC = FeatureSpec(text_column=None, numeric_columns=("dose_mg",), categorical_columns=("site",), categorical_buckets=8)


def test_numbers_written_with_a_decimal_comma_are_read_with_it() -> None:
    batch = pd.DataFrame({"dose_mg": ["0,75", "12", None, "0.75", ""], "site": ["A", "B", None, "A", "A"]})
    with_comma = featurize(batch, SPEC, decimal=",")[:, 0].toarray().ravel()
    np.testing.assert_array_equal(with_comma[:2], np.float32([0.75, 12]))
    assert np.isnan(with_comma[2:]).all()  # missing, and a point where the mark is a comma: never guessed
    with_point = featurize(batch, SPEC)[:, 0].toarray().ravel()
    assert np.isnan(with_point[0]) and with_point[3] == np.float32(0.75)


def test_numbers_as_numbers_pass_as_they_are() -> None:
    batch = pd.DataFrame({"dose_mg": [0.75, np.nan, 3], "site": ["A", "B", "C"]})
    values = featurize(batch, SPEC, decimal=",")[:, 0].toarray().ravel()
    np.testing.assert_array_equal(values[[0, 2]], np.float32([0.75, 3]))
    assert np.isnan(values[1])


def test_training_and_scoring_give_the_same_features_for_the_same_file(tmp_path: Path) -> None:
    """Validated at either stage, or featurized from the cells as written with the declared mark: one matrix."""
    use_case = load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case
    contract, spec = use_case.record_contract(), use_case.feature_spec()
    path = tmp_path / "batches.csv"
    write_batch_records(path, generate_batch_records(300, seed=3), bad_rows=9)
    training = validated_records(path, contract, "training", NOW)
    scoring = validated_records(path, contract, "scoring", NOW)
    X = featurize(training.valid, spec)
    assert X.shape == (291, spec.n_features)
    assert (X != featurize(scoring.valid, spec)).nnz == 0
    as_written = training.intake.set_index("intake_seq").loc[training.valid["intake_seq"]].reset_index()
    assert (X != featurize(as_written, spec, decimal=",")).nnz == 0
    np.testing.assert_array_equal(X[:, 0].toarray().ravel(), training.valid["api_d50_um"].to_numpy(np.float32))
    assert (np.asarray((X[:, 8:] > 0).sum(axis=1)).ravel() == 2).all()  # one bucket per categorical column


@pytest.mark.parametrize("spec", [DEFAULT_FEATURE_SPEC, SPEC])
def test_no_rows_give_no_rows_not_a_stop_iteration(spec: FeatureSpec) -> None:
    empty = pd.DataFrame({"text": pd.Series([], dtype=object), "dose_mg": [], "site": []})
    X = featurize(empty, spec)
    assert X.shape == (0, spec.n_features) and X.dtype == np.dtype(spec.dtype)
    assert word_features(empty, spec).shape == (0, spec.word_buckets if spec.text_column else 0)
    tabular_width = len(spec.numeric_columns) + (spec.categorical_buckets if spec.categorical_columns else 0)
    assert sum(part.shape[1] for part in tabular_parts(empty, spec)) == tabular_width


def test_zero_valid_reports_stop_at_validation_naming_the_reasons() -> None:
    records = [IntakeRecord("reports.csv", line, b"x", "utf-8", {"report_id": f"r{line}"},
                            "row has 10 fields where the header has 1") for line in range(2, 1002)]  # fmt: skip
    intake = intake_table(records)
    result = validate_reports(intake, ValidationRules(), NOW)
    with pytest.raises(NoValidRecordsError) as raised:
        require_valid_records(len(intake), result.valid, result.quarantined)
    assert str(raised.value) == (
        "0 of 1,000 records are valid; 1,000 quarantined: malformed_record 1,000 (e.g. reports.csv:2: row has 10 "
        "fields where the header has 1)"
    )
    with pytest.raises(NoValidRecordsError, match="the intake is empty"):
        require_valid_records(0, result.valid, result.quarantined.iloc[:0])
