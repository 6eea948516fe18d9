"""A declared record contract end to end on real files: read with the declared format, validated, reconciled.

The files are the synthetic batch records of the dissolution use case, written by their own writer (semicolons,
decimal commas, a few cells spoilt on purpose), so every quarantine reason is checked against a known answer.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gxp_assets.core.batch_records import (
    NUMERIC_COLUMNS,
    format_batch_records,
    generate_batch_records,
    is_failure,
    write_batch_records,
)
from gxp_assets.core.contracts import Reason
from gxp_assets.core.quarantine_tally import NoValidRecordsError
from gxp_assets.core.record_contract import LABEL, FileFormat, RecordContract, parse_number
from gxp_assets.core.record_files import read_record_chunks, read_records, validated_records
from gxp_assets.core.record_validation import UNKNOWN_LEVELS_COLUMN, RecordValidator
from gxp_assets.core.validation import reconcile
from gxp_assets.governance.use_case import USE_CASES_ROOT, load_use_case

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
SPOIL_REASONS = {"missing": Reason.MISSING_FIELD, "out_of_range": Reason.OUT_OF_RANGE,
                 "wrong_decimal": Reason.INVALID_NUMBER}  # fmt: skip


@pytest.fixture(scope="module")
def contract() -> RecordContract:
    return load_use_case(USE_CASES_ROOT / "dissolution_risk").use_case.record_contract()


@pytest.fixture(scope="module")
def batches() -> pd.DataFrame:
    return generate_batch_records(1000, seed=0)


def outcomes(records) -> dict[str, str]:
    """Each batch id's fate: "valid" or its quarantine reason."""
    fate = dict.fromkeys(records.valid["batch_id"], "valid")
    held = records.quarantined
    fate.update(zip(held["batch_id"], held["reason"], strict=True))
    return fate


def edit_cell(path: Path, batch_id: str, column: str, cell: str) -> None:
    """Rewrite one cell of a written batch-record file, keeping everything else byte for byte."""
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split(";")
    for number, line in enumerate(lines[1:], start=1):
        cells = line.split(";")
        if cells[0] == batch_id:
            cells[header.index(column)] = cell
            lines[number] = ";".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "decimal", "value"),
    [("0,75", ",", 0.75), ("0.75", ".", 0.75), ("0.75", ",", None), ("0,75", ".", None), (" -3 ", ",", -3.0),
     ("1.234,5", ",", None), ("1e3", ".", None), ("", ",", None), (",", ",", None), ("12,", ",", 12.0)],
)  # fmt: skip
def test_parse_number_reads_the_declared_decimal_mark_only(text: str, decimal: str, value: float | None) -> None:
    assert parse_number(text, decimal) == value


def test_the_reader_keeps_every_cell_as_the_string_written(tmp_path: Path, batches: pd.DataFrame) -> None:
    path = tmp_path / "batches.csv"
    spoilt = write_batch_records(path, batches, bad_rows=30)
    intake = read_records(path, FileFormat(";", "utf-8", ","))
    assert len(intake) == 1000 and intake["intake_seq"].tolist() == list(range(1000))
    written = format_batch_records(batches)
    for bad in spoilt:
        written.loc[bad.row, bad.column] = bad.cell
    for column in written.columns:
        assert intake[column].tolist() == written[column].astype(str).tolist(), column
    assert intake["parse_error"].isna().all()


def test_validation_quarantines_exactly_the_spoilt_cells(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    path = tmp_path / "batches.csv"
    spoilt = write_batch_records(path, batches, bad_rows=30)
    records = validated_records(path, contract, "training", NOW, chunk_records=128)
    assert reconcile(records.intake, records.valid, records.quarantined) == []
    assert len(records.valid) + len(records.quarantined) == 1000 and len(records.quarantined) == 30
    fate = outcomes(records)
    for bad in spoilt:
        assert fate[bad.batch_id] == SPOIL_REASONS[bad.kind]
        detail = records.quarantined.set_index("batch_id").loc[bad.batch_id, "detail"]
        assert bad.column in detail
    kept = batches.set_index("batch_id").loc[records.valid["batch_id"]]
    for column in NUMERIC_COLUMNS:  # the decimal commas read back to exactly the generated values
        np.testing.assert_array_equal(records.valid[column.name].to_numpy(), kept[column.name].to_numpy())
    assert records.valid[LABEL].tolist() == is_failure(kept["dissolution_pct"]).astype(int).tolist()
    assert records.valid["dissolution_pct"].iloc[0] == format_batch_records(batches)["dissolution_pct"].iloc[0]
    assert str(records.valid["manufactured_at"].dtype) == "datetime64[us, UTC]"
    assert records.valid[UNKNOWN_LEVELS_COLUMN].isna().all()


def test_a_wrong_delimiter_is_a_clear_error_naming_reasons_and_counts(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    path = tmp_path / "batches.csv"
    write_batch_records(path, batches)
    wrong = dataclasses.replace(contract, file_format=FileFormat(",", "utf-8", "."))
    with pytest.raises(NoValidRecordsError) as raised:
        validated_records(path, wrong, "training", NOW)
    message = str(raised.value)
    assert message.startswith("0 of 1,000 records are valid; 1,000 quarantined: malformed_record 1,000 (e.g. ")
    assert "the file looks ';'-separated, but the declared file_format.delimiter is ','" in message


def test_a_missing_column_quarantines_every_record_naming_it(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    path = tmp_path / "no_site.csv"
    write_batch_records(path, batches.drop(columns=["site"]).head(20))
    with pytest.raises(NoValidRecordsError, match=r"missing_column 20 \(e\.g\. .*the file has no column 'site'"):
        validated_records(path, contract, "training", NOW)


def test_the_declared_encoding_is_honoured_and_bad_bytes_are_quarantined(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    utf8 = tmp_path / "utf8.csv"
    write_batch_records(utf8, batches.head(50))
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(utf8.read_text(encoding="utf-8").encode("utf-16-le"))  # no byte-order mark
    with pytest.raises(NoValidRecordsError, match="the file has no column 'batch_id'"):  # read as UTF-8
        validated_records(utf16, contract, "training", NOW)
    utf16_format = dataclasses.replace(contract.file_format, encoding="utf-16-le")
    declared = dataclasses.replace(contract, file_format=utf16_format)
    assert len(validated_records(utf16, declared, "training", NOW).valid) == 50
    data = utf8.read_bytes().replace(b"B26-00007;P-", b"B26-00007;\xff-", 1)
    utf8.write_bytes(data)
    records = validated_records(utf8, contract, "training", NOW)
    assert outcomes(records)["B26-00007"] == Reason.INVALID_ENCODING and len(records.valid) == 49


def test_an_unknown_level_is_quarantined_at_training_and_kept_and_named_at_scoring(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    path = tmp_path / "batches.csv"
    write_batch_records(path, batches.head(40))
    edit_cell(path, "B26-00003", "excipient_supplier", "SUP-D")
    training = validated_records(path, contract, "training", NOW)
    assert outcomes(training)["B26-00003"] == Reason.UNKNOWN_LEVEL
    assert "'SUP-D' is not one of the declared levels" in training.quarantined["detail"].iat[0]
    scoring = validated_records(path, contract, "scoring", NOW)
    assert len(scoring.valid) == 40
    flagged = scoring.valid.set_index("batch_id")[UNKNOWN_LEVELS_COLUMN]
    assert flagged["B26-00003"] == "excipient_supplier=SUP-D" and flagged.drop("B26-00003").isna().all()


@pytest.mark.parametrize(
    ("column", "cell", "training", "scoring"),
    [
        ("dissolution_pct", "", Reason.MISSING_LABEL, "valid"),
        ("dissolution_pct", "n/a", Reason.INVALID_LABEL, Reason.INVALID_LABEL),
        ("dissolution_pct", "78.5", Reason.INVALID_LABEL, Reason.INVALID_LABEL),  # a point in a decimal-comma file
        ("batch_id", " ", Reason.MISSING_FIELD, Reason.MISSING_FIELD),
        ("product_code", "", Reason.MISSING_FIELD, Reason.MISSING_FIELD),
        ("manufactured_at", "2026-01-05T10:00:00", Reason.TIMESTAMP_WITHOUT_ZONE, Reason.TIMESTAMP_WITHOUT_ZONE),
        ("manufactured_at", "2027-01-05T10:00:00Z", Reason.TIMESTAMP_IN_FUTURE, Reason.TIMESTAMP_IN_FUTURE),
        ("line", "", Reason.MISSING_FIELD, Reason.MISSING_FIELD),
        ("mgst_pct", "0,7,5", Reason.INVALID_NUMBER, Reason.INVALID_NUMBER),
        # Cells shown as received in queues and exports never start like a spreadsheet formula.
        ("batch_id", "=2+5", Reason.FORMULA_TEXT, Reason.FORMULA_TEXT),
        ("product_code", "@SUM(1+1)", Reason.FORMULA_TEXT, Reason.FORMULA_TEXT),
        ("site", "+cmd|' /C calc'!A0", Reason.FORMULA_TEXT, Reason.FORMULA_TEXT),
        ("excipient_supplier", "\u200b=1+2", Reason.UNKNOWN_LEVEL, Reason.FORMULA_TEXT),  # behind a zero-width
    ],
)
def test_each_contract_rule_quarantines_with_its_reason(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract, column: str, cell: str, training: str, scoring: str
) -> None:
    path = tmp_path / "batches.csv"
    write_batch_records(path, batches.head(10))
    edit_cell(path, "B26-00004", column, cell)
    for stage, expected in (("training", training), ("scoring", scoring)):
        records = validated_records(path, contract, stage, NOW)
        assert reconcile(records.intake, records.valid, records.quarantined) == []
        fate = dict.fromkeys(records.valid["intake_seq"], "valid")
        fate.update(zip(records.quarantined["intake_seq"], records.quarantined["reason"], strict=True))
        assert [fate[seq] for seq in range(10)] == ["valid"] * 3 + [expected] + ["valid"] * 6, stage
    if scoring == "valid":
        assert pd.isna(validated_records(path, contract, "scoring", NOW).valid[LABEL].iat[3])


def test_a_repeated_id_is_quarantined_across_chunks_naming_the_first(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    frame = batches.head(300).copy()
    frame.loc[250, "batch_id"] = frame.loc[10, "batch_id"]
    path = tmp_path / "batches.csv"
    write_batch_records(path, frame)
    validator = RecordValidator(contract, "training", NOW)
    results = [validator.validate(chunk) for chunk in read_record_chunks(path, contract.file_format, 100)]
    held = pd.concat([result.quarantined for result in results])
    assert held["reason"].tolist() == [Reason.DUPLICATE_ID]
    assert held["detail"].iat[0] == f"batch_id 'B26-00011' was already received at {path}:12"
    assert sum(len(result.valid) for result in results) == 299
    validator.require_valid()  # some are valid: no error


def test_a_folder_of_files_numbers_its_records_on(
    tmp_path: Path, batches: pd.DataFrame, contract: RecordContract
) -> None:
    write_batch_records(tmp_path / "a.csv", batches.head(30))
    write_batch_records(tmp_path / "b.csv", batches.iloc[30:70])
    records = validated_records(tmp_path, contract, "training", NOW, chunk_records=16)
    assert records.intake["intake_seq"].tolist() == list(range(70)) and len(records.valid) == 70
    assert records.intake["source_line"].iat[30] == 2
