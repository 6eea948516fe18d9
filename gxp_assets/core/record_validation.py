"""Validation of records against a declared record contract (a tabular use case), with the report contract's rules.

Same machinery as core.validation: checks run over whole columns in a fixed order and a record keeps the reason of
the first one it fails; intake problems (a malformed row, bytes invalid in the encoding) come first; the id check
runs across chunks on the records that passed the rest (core.across_records). Every record is either valid or
quarantined with a reason and a detail (``reconcile``); nothing is dropped or clipped.

Order of the record checks: the contract's columns present in the file; id, group, subgroup present; time (UTC,
with a zone, not in the future); label (training: present; present: meets ``positive_when`` or the negative rule);
numeric cells readable with the file's decimal mark and inside their valid range; categorical cells among their
levels. A cell's column is checked in declaration order.

An undeclared level is a training/scoring difference, chosen on purpose. At training it is quarantined: a model
must learn only the levels the declaration states. At scoring it is kept, featurized as an unseen hash bucket and
named in the ``unknown_levels`` column (``column=value; ...``), so that the pipeline can withhold the fast route
for that record and drift counts the unseen-level share: a new supplier is news to report, not a broken record. A
number outside its valid range is a data error at both stages (quarantined).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from gxp_assets.core.across_records import AcrossRecords
from gxp_assets.core.contracts import INTAKE_COLUMNS, Reason
from gxp_assets.core.quarantine_tally import QuarantineTally
from gxp_assets.core.record_contract import (
    LABEL,
    CategoricalColumn,
    NumericColumn,
    RecordContract,
    label_of,
    parse_number,
)
from gxp_assets.core.seen_records import Candidates, digest
from gxp_assets.core.validation import (
    FirstFailure,
    ValidationResult,
    add_formula_cells,
    blanks,
    column_values,
    intake_failures,
    parse_received_at,
    quarantine_frame,
)

Stage = Literal["training", "scoring"]
STAGES: tuple[str, ...] = ("training", "scoring")
UNKNOWN_LEVELS_COLUMN = "unknown_levels"
_OTHER_DELIMITERS = (";", ",", "\t", "|")


def header_note(columns: Sequence[str], contract: RecordContract) -> str | None:
    """Why the file lacks the contract's columns, when its header says: one column holding several of their names
    joined by another delimiter than the declared one."""
    declared = contract.file_format.delimiter
    wanted = set(contract.required_columns())
    for column in columns:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter != declared and len(wanted & set(column.split(delimiter))) >= 2:
                shown = column if len(column) <= 60 else column[:57] + "..."
                return (
                    f"the header's column {shown!r} holds several contract columns separated by {delimiter!r}: the "
                    f"file looks {delimiter!r}-separated, but the declared file_format.delimiter is {declared!r}"
                )
    return None


def _missing_columns(chunk: pd.DataFrame, contract: RecordContract, stage: Stage, failures: FirstFailure) -> str | None:
    """Every record of a file without a required column is quarantined, the detail naming all that are missing. At
    scoring the label column is not required: a batch is scored before its result exists."""
    present = set(chunk.columns) - set(INTAKE_COLUMNS)
    optional = {contract.label_column} if stage == "scoring" else set()
    missing = [name for name in contract.required_columns() if name not in present and name not in optional]
    if not missing:
        return None
    note = header_note(sorted(present), contract)
    detail = f"the file has no column {missing[0]!r}" + (
        f" (nor {', '.join(map(repr, missing[1:4]))}{', ...' if len(missing) > 4 else ''}; {len(missing)} of the "
        f"contract's columns missing)" if len(missing) > 1 else ""
    ) + (f"; {note}" if note else "")  # fmt: skip
    failures.add(range(len(chunk)), Reason.MISSING_COLUMN, lambda row: detail)
    return note


def _present(chunk: pd.DataFrame, name: str, failures: FirstFailure) -> list[str]:
    values = column_values(chunk, name)
    blank = blanks(values)
    _required(blank, name, failures)
    return ["" if empty else str(value).strip() for value, empty in zip(values, blank, strict=True)]


def _check(chunk: pd.DataFrame, contract: RecordContract, stage: Stage, now: datetime, tolerance: timedelta,
           failures: FirstFailure) -> dict[str, list]:  # fmt: skip
    """The record-level checks of one chunk, a column at a time; the cleaned value of every cell checked."""
    rows = range(len(chunk))
    files = chunk["source_file"].tolist()
    marks = {file: contract.file_format.decimal_of(file) for file in dict.fromkeys(files)}
    decimal = [marks[file] for file in files]
    clean: dict[str, list] = {}
    for name in (contract.id_column, contract.group_column, contract.subgroup_column):
        if name:
            clean[name] = _present(chunk, name, failures)
    if contract.time_column:
        clean[contract.time_column] = _times(chunk, contract.time_column, now + tolerance, failures)
    clean[LABEL] = _labels(chunk, contract, stage, decimal, failures)
    if contract.label_column != LABEL:  # the value as received, beside its label (dissolution 78,5 -> 1)
        clean[contract.label_column] = [None if value is None else str(value).strip()
                                        for value in column_values(chunk, contract.label_column)]  # fmt: skip
    for column in contract.numeric:
        clean[column.name] = _numbers(column_values(chunk, column.name), column, decimal, failures)
    unknown: list[list[str]] = [[] for _ in rows]
    for category in contract.categorical:
        clean[category.name] = _levels(column_values(chunk, category.name), category, stage, unknown, failures)
    shown = [name for name in (contract.id_column, contract.group_column, contract.subgroup_column) if name]
    add_formula_cells(clean, [*shown, *(category.name for category in contract.categorical)], failures)
    clean[UNKNOWN_LEVELS_COLUMN] = ["; ".join(names) or None for names in unknown]
    return clean


def _required(blank: list[bool], name: str, failures: FirstFailure) -> None:
    failures.add((row for row, empty in enumerate(blank) if empty), Reason.MISSING_FIELD,
                 lambda row: f"{name} is missing or empty")  # fmt: skip


def _numbers(values: list, column: NumericColumn, decimal: list[str], failures: FirstFailure) -> list[float]:
    """Readable with the row's decimal mark and inside the valid range; a missing optional cell is NaN."""
    blank = blanks(values)
    if column.required:
        _required(blank, column.name, failures)
    rows = range(len(values))
    parsed = [None if blank[row] else parse_number(str(values[row]), decimal[row]) for row in rows]
    failures.add((row for row in rows if not blank[row] and parsed[row] is None), Reason.INVALID_NUMBER,
                 lambda row: f"{column.name} {str(values[row])[:40]!r} is not a number written with the decimal "
                             f"mark {decimal[row]!r}")  # fmt: skip
    low, high, unit = column.valid_min, column.valid_max, column.unit
    failures.add((row for row in rows if parsed[row] is not None and not low <= parsed[row] <= high),
                 Reason.OUT_OF_RANGE,
                 lambda row: f"{column.name} {parsed[row]:g} {unit} is outside the valid range {low:g} to {high:g} "
                             f"{unit}")  # fmt: skip
    return [np.nan if value is None else value for value in parsed]


def _levels(values: list, category: CategoricalColumn, stage: Stage, unknown: list[list[str]],
            failures: FirstFailure) -> list[str | None]:  # fmt: skip
    """Among the declared levels; outside them: quarantined at training, named in ``unknown`` at scoring."""
    blank = blanks(values)
    if category.required:
        _required(blank, category.name, failures)
    cells = [None if empty else str(value).strip() for value, empty in zip(values, blank, strict=True)]
    levels = set(category.levels)
    outside = [row for row, cell in enumerate(cells) if cell is not None and cell not in levels]
    if stage == "training":
        failures.add(outside, Reason.UNKNOWN_LEVEL,
                     lambda row: f"{category.name} {cells[row][:40]!r} is not one of the declared levels "
                                 f"{list(category.levels)}")  # fmt: skip
    for row in outside:
        unknown[row].append(f"{category.name}={cells[row]}")
    return cells


def _times(chunk: pd.DataFrame, name: str, latest: datetime, failures: FirstFailure) -> list[datetime | None]:
    values = _present(chunk, name, failures)
    parsed = [parse_received_at(value) if value else None for value in values]
    for row, stamp in enumerate(parsed):
        if not isinstance(stamp, datetime) and stamp is not None:
            detail = f"{name} {values[row][:40]!r} is not ISO 8601 with a time zone"
            failures.add((row,), stamp, lambda row, detail=detail: detail)
            parsed[row] = None
    failures.add((row for row, stamp in enumerate(parsed) if stamp is not None and stamp > latest),
                 Reason.TIMESTAMP_IN_FUTURE,
                 lambda row: f"{name} {parsed[row].isoformat()} is after the run ({latest.isoformat()})")  # fmt: skip
    return parsed


def _labels(chunk: pd.DataFrame, contract: RecordContract, stage: Stage, decimal: list[str],
            failures: FirstFailure) -> list[int | None]:  # fmt: skip
    name = contract.label_column
    values = column_values(chunk, name)
    blank = blanks(values)
    if stage == "training":
        failures.add((row for row, empty in enumerate(blank) if empty), Reason.MISSING_LABEL,
                     lambda row: f"{name} is missing; training needs every record's label")  # fmt: skip
    labels = [
        None if empty else label_of(str(value), contract.positive_when, contract.negative_when, mark)
        for value, empty, mark in zip(values, blank, decimal, strict=True)
    ]
    rule = f"positive when {contract.positive_when.describe()}" + (
        f", negative when {contract.negative_when.describe()}" if contract.negative_when else "")  # fmt: skip
    failures.add((row for row, label in enumerate(labels) if label is None and not blank[row]), Reason.INVALID_LABEL,
                 lambda row: f"{name} {str(values[row])[:40]!r} meets no label rule ({rule}; decimal mark "
                             f"{decimal[row]!r})")  # fmt: skip
    return labels


class RecordValidator:
    """Validates an intake against a record contract chunk by chunk; remembers the ids seen and tallies reasons."""

    def __init__(
        self, contract: RecordContract, stage: Stage, now: datetime, future_tolerance: timedelta = timedelta(minutes=5)
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage is one of {STAGES}, got {stage!r}")
        self.contract, self.stage, self.now, self.tolerance = contract, stage, now, future_tolerance
        self._across = AcrossRecords()
        self.tally = QuarantineTally()

    def validate(self, chunk: pd.DataFrame) -> ValidationResult:
        """Valid records typed per the contract, and quarantine rows holding the record as received plus a reason."""
        contract = self.contract
        failures = FirstFailure(len(chunk))
        intake_failures(chunk, failures)
        note = _missing_columns(chunk, contract, self.stage, failures)
        if note:
            self.tally.note(note)
        clean = _check(chunk, contract, self.stage, self.now, self.tolerance, failures)
        seqs = chunk["intake_seq"].tolist()
        passed = [row for row in range(len(chunk)) if row not in failures.found]
        ids = [clean[contract.id_column][row] for row in passed]
        files, lines = chunk["source_file"].tolist(), chunk["source_line"].tolist()
        found = Candidates([seqs[row] for row in passed], ids, [digest(value) for value in ids], [],
                           [None] * len(passed), [files[row] for row in passed],
                           [lines[row] for row in passed])  # fmt: skip
        by_seq = {seqs[row]: failure for row, failure in failures.found.items()}
        by_seq.update(self._across.check_ids(found, contract.id_column, Reason.DUPLICATE_ID))
        valid_rows = [row for row in range(len(chunk)) if seqs[row] not in by_seq]
        result = ValidationResult(valid=self._valid_frame(chunk, clean, valid_rows),
                                  quarantined=quarantine_frame(chunk, by_seq))  # fmt: skip
        self.tally.add(len(chunk), len(result.valid), result.quarantined)
        return result

    def require_valid(self) -> None:
        """:class:`NoValidRecordsError` (core.quarantine_tally) when no record so far is valid, with the reasons."""
        self.tally.require_valid()

    def _valid_frame(self, chunk: pd.DataFrame, clean: dict[str, list], rows: list[int]) -> pd.DataFrame:
        contract = self.contract
        declared = [contract.id_column, contract.group_column, contract.subgroup_column, contract.time_column,
                    contract.label_column, LABEL, *contract.feature_columns()]  # fmt: skip
        declared = list(dict.fromkeys(name for name in declared if name))
        others = [name for name in chunk.columns if name not in (*declared, *INTAKE_COLUMNS)]
        columns: dict[str, pd.Series] = {}
        for name in declared:
            columns[name] = pd.Series([clean[name][row] for row in rows], dtype=object)
        for name in others:
            columns[name] = pd.Series([chunk[name].iat[row] for row in rows], dtype=object)
        columns[UNKNOWN_LEVELS_COLUMN] = pd.Series([clean[UNKNOWN_LEVELS_COLUMN][row] for row in rows], dtype=object)
        columns["intake_seq"] = pd.Series([int(chunk["intake_seq"].iat[row]) for row in rows], dtype="int64")
        frame = pd.DataFrame(columns)
        if contract.time_column:
            frame[contract.time_column] = pd.to_datetime(frame[contract.time_column], utc=True).astype(
                "datetime64[us, UTC]"
            )
        frame[LABEL] = frame[LABEL].astype("Int8")
        for column in contract.numeric:
            frame[column.name] = frame[column.name].astype("float64")
        return frame


def validate_records(intake: pd.DataFrame, contract: RecordContract, stage: Stage, now: datetime) -> ValidationResult:
    """One intake table in one piece: :class:`RecordValidator` fed a single chunk."""
    return RecordValidator(contract, stage, now).validate(intake)
