"""Synthetic batch records: deterministic bytes, the dissolution use case's contract, and the documented mechanism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import (
    BAD_KINDS,
    CATEGORICAL_LEVELS,
    COLUMNS,
    FAILURE_BAND,
    NUMERIC_COLUMNS,
    format_batch_records,
    generate_batch_records,
    is_failure,
    write_batch_records,
)
from gxp_assets.core.record_contract import parse_number
from gxp_assets.governance.use_case import USE_CASES_ROOT, UseCase, load_use_case


@pytest.fixture(scope="module")
def use_case() -> UseCase:
    return load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case


@pytest.fixture(scope="module")
def batches() -> pd.DataFrame:
    return generate_batch_records(1000, seed=0)


def read_back(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", decimal=",", encoding="utf-8")


def test_one_seed_gives_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    files = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        path = tmp_path / f"{name}.csv"
        write_batch_records(path, generate_batch_records(300, seed=seed), bad_rows=6, seed=seed)
        files.append(path.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_the_columns_are_the_ones_the_use_case_declares(use_case: UseCase) -> None:
    record = use_case.record
    roles = [record.id_column, record.group_column, record.subgroup_column, record.time_column, record.label_column]
    assert sorted(COLUMNS) == sorted([*roles, *use_case.features.columns()])
    declared = {feature.column: feature for feature in use_case.features.numeric}
    for column in NUMERIC_COLUMNS:
        feature = declared[column.name]
        assert (feature.unit, feature.valid_range.min, feature.valid_range.max) == (
            column.unit, column.valid_min, column.valid_max
        )  # fmt: skip
    assert {feature.column: tuple(feature.levels) for feature in use_case.features.categorical} == CATEGORICAL_LEVELS


def test_every_value_lies_in_the_declared_range_and_levels(use_case: UseCase, batches: pd.DataFrame) -> None:
    for feature in use_case.features.numeric:
        values = batches[feature.column]
        assert values.notna().all()
        assert values.between(feature.valid_range.min, feature.valid_range.max).all(), feature.column
    for feature in use_case.features.categorical:
        assert set(batches[feature.column]) == set(feature.levels)  # every level occurs, nothing else
    assert batches[use_case.record.id_column].is_unique
    assert batches["manufactured_at"].is_monotonic_increasing and str(batches["manufactured_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_failure_share_lies_in_the_stated_band(seed: int, use_case: UseCase) -> None:
    frame = generate_batch_records(1000, seed=seed)
    failures = is_failure(frame["dissolution_pct"])
    assert FAILURE_BAND[0] <= failures.mean() <= FAILURE_BAND[1]
    labels = [use_case.label_of(text) for text in format_batch_records(frame)["dissolution_pct"]]
    assert labels == failures.astype(int).tolist()  # the declared rule and the generator agree on every batch


@pytest.mark.parametrize(
    ("column", "more"),
    [("mgst_pct", 0.12), ("api_d50_um", 0.05), ("tablet_hardness_n", 0.05)],
)
def test_failures_follow_the_documented_mechanism(batches: pd.DataFrame, column: str, more: float) -> None:
    """Over-lubrication, coarse API and hard tablets fail more: top quartile against bottom quartile."""
    failures = is_failure(batches["dissolution_pct"])
    low, high = batches[column].quantile([0.25, 0.75])
    bottom, top = failures[batches[column] <= low].mean(), failures[batches[column] >= high].mean()
    assert top - bottom >= more, (column, bottom, top)


def test_products_are_groups_of_several_batches(batches: pd.DataFrame) -> None:
    sizes = batches.groupby("product_code").size()
    assert len(sizes) == 40 and sizes.min() >= 3
    with pytest.raises(ValueError, match="cannot give each of 40 products 3 batches"):
        generate_batch_records(100, seed=0, n_products=40)


def test_the_written_file_parses_back_to_the_same_values(tmp_path: Path, batches: pd.DataFrame) -> None:
    path = tmp_path / "batches.csv"
    assert write_batch_records(path, batches) == []
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ";".join(COLUMNS) and "." not in text.splitlines()[1].split(";")[5]
    parsed = read_back(path)
    parsed["manufactured_at"] = pd.to_datetime(parsed["manufactured_at"], utc=True)
    pd.testing.assert_frame_equal(parsed, batches, check_dtype=False, check_exact=True)


def test_bad_rows_are_spoilt_as_stated_and_nothing_else_is(tmp_path: Path, use_case: UseCase) -> None:
    frame = generate_batch_records(300, seed=3)
    path = tmp_path / "batches.csv"
    spoilt = write_batch_records(path, frame, bad_rows=9, seed=3)
    assert len(spoilt) == 9 and {cell.kind for cell in spoilt} == set(BAD_KINDS)
    assert len({cell.row for cell in spoilt}) == 9
    cells = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    expected = format_batch_records(frame)
    ranges = {feature.column: feature.valid_range for feature in use_case.features.numeric}
    decimal = use_case.file_format.decimal
    for cell in spoilt:
        written = cells.at[cell.row, cell.column]
        assert written == cell.cell and cells.at[cell.row, "batch_id"] == cell.batch_id
        number = parse_number(written, decimal) if written else None
        if cell.kind == "missing":
            assert written == ""
        elif cell.kind == "out_of_range":
            assert number is not None and not ranges[cell.column].min <= number <= ranges[cell.column].max
        else:  # a decimal point where the file uses commas: not a number under the declared format
            assert "." in written and number is None
        cells.at[cell.row, cell.column] = expected.at[cell.row, cell.column]
    pd.testing.assert_frame_equal(cells, expected.astype(str), check_dtype=False)
    assert np.isnan(read_back(path)[spoilt[0].column].iloc[spoilt[0].row])  # the first is the missing one


def test_no_batch_is_ever_made_in_the_future_and_until_moves_them_by_whole_days() -> None:
    many = generate_batch_records(5000, seed=3)  # ~4 years of batches at 2 to 12 h apart
    assert many["manufactured_at"].max() <= pd.Timestamp(datetime(2026, 1, 5, 6, tzinfo=UTC))
    assert many["manufactured_at"].is_monotonic_increasing
    now = datetime(2031, 6, 1, 3, 0, tzinfo=UTC)
    moved = generate_batch_records(5000, seed=3, manufactured_until=now)
    newest = moved["manufactured_at"].max()
    assert now - timedelta(days=2) < newest <= now - timedelta(days=1)
    shift = moved["manufactured_at"] - many["manufactured_at"]
    assert shift.nunique() == 1 and shift.iloc[0] % timedelta(days=1) == timedelta(0)
    assert moved.drop(columns="manufactured_at").equals(many.drop(columns="manufactured_at"))
