"""A declared record contract as plain values: what core needs of a use case to read, check and featurize records.

The declaration (``use_cases/<id>/use_case.yaml``) is typed and validated in governance; ``UseCase.record_contract()``
turns it into the frozen dataclasses here, so that core never imports governance and a Dagster asset can hand core
one object. :func:`parse_number` is the one reading of a number written in a file: validation checks a cell with
it and featurization turns the same text into the same float with it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The column of a validated record that holds its label as 0/1 (the label column keeps the value as received).
LABEL = "label"
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
DECIMAL_MARKS = (".", ",")


def parse_number(text: str, decimal: str) -> float | None:
    """A plain decimal number written with ``decimal`` as its mark (no thousands separator, no exponent); None if
    it is not one. "0,75" with "," is 0.75; with "." it is None, not 75 or 0.75 guessed."""
    value = text.strip()
    other = "," if decimal == "." else "."
    if other in value:
        return None
    value = value.replace(decimal, ".")
    return float(value) if _NUMBER.match(value) else None


@dataclass(frozen=True)
class FileFormat:
    """How a delimited text file of records is written; JSON Lines and Parquet carry their own types."""

    delimiter: str = ","
    encoding: str | None = None  # None: UTF-8 unless a byte-order mark says otherwise
    decimal: str = "."

    def __post_init__(self) -> None:
        if self.decimal not in DECIMAL_MARKS:
            raise ValueError(f"the decimal mark is one of {DECIMAL_MARKS}, got {self.decimal!r}")
        if len(self.delimiter) != 1 or self.delimiter == self.decimal:
            raise ValueError(f"the delimiter is one character other than the decimal mark, got {self.delimiter!r}")

    def decimal_of(self, file: Path | str) -> str:
        """The decimal mark of numbers written in ``file``: the declared one in a CSV file, "." in JSON and Parquet
        (whose numbers are typed, and reach the intake as JSON writes them)."""
        return self.decimal if Path(file).suffix.lower() == ".csv" else "."


@dataclass(frozen=True)
class LabelRule:
    """Exactly one of: the label text is one of ``equals``; the label number is ``below`` or ``above`` a limit."""

    equals: tuple[str, ...] = ()
    below: float | None = None
    above: float | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("equals", "below", "above") if getattr(self, name) not in ((), None)]
        if len(given) != 1:
            raise ValueError(f"a label rule gives exactly one of equals, below, above; got {given or 'none'}")

    def matches(self, raw: str, decimal: str) -> bool | None:
        """Whether the label text ``raw`` meets the rule; None when a numeric rule meets no number."""
        if self.equals:
            return raw.strip() in self.equals
        number = parse_number(raw, decimal)
        if number is None:
            return None
        return number < self.below if self.below is not None else number > float(self.above)  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.equals:
            return "one of " + ", ".join(map(repr, self.equals))
        return f"a number below {self.below:g}" if self.below is not None else f"a number above {self.above:g}"


def label_of(raw: str, positive: LabelRule, negative: LabelRule | None, decimal: str) -> int | None:
    """1 (positive), 0 (negative), or None: a label that meets neither rule (or no number for a numeric rule)."""
    is_positive = positive.matches(raw, decimal)
    if is_positive is None:
        return None
    if is_positive:
        return 1
    return 0 if negative is None or negative.matches(raw, decimal) else None


@dataclass(frozen=True)
class NumericColumn:
    name: str
    unit: str
    valid_min: float
    valid_max: float  # a value outside [valid_min, valid_max] is quarantined, not clipped
    required: bool = True  # False: a missing value is a feature (NaN), not a reason to quarantine

    def __post_init__(self) -> None:
        if not (math.isfinite(self.valid_min) and math.isfinite(self.valid_max)) or self.valid_min > self.valid_max:
            raise ValueError(f"{self.name}: the valid range [{self.valid_min}, {self.valid_max}] is not a range")


@dataclass(frozen=True)
class CategoricalColumn:
    name: str
    levels: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class RecordContract:
    """Which column plays which part in a record, and what a valid value of each feature column is."""

    id_column: str
    group_column: str  # records of one group stay on one side of a split
    label_column: str
    positive_when: LabelRule
    negative_when: LabelRule | None = None
    subgroup_column: str | None = None
    time_column: str | None = None  # UTC, ISO 8601 with a zone
    numeric: tuple[NumericColumn, ...] = ()
    categorical: tuple[CategoricalColumn, ...] = ()
    other_columns: tuple[str, ...] = ()  # kept with the record, never features
    file_format: FileFormat = field(default_factory=FileFormat)

    def __post_init__(self) -> None:
        reserved = {LABEL: "the label (0/1) of validated records", "unknown_levels": "validation's note",
                    "intake_seq": "the intake's record number"}  # fmt: skip
        for name in (self.id_column, self.group_column, self.subgroup_column, self.time_column,
                     *self.feature_columns(), *self.other_columns):  # fmt: skip
            if name in reserved:
                raise ValueError(f"a contract column may not be named {name!r}: it holds {reserved[name]}")

    def required_columns(self) -> list[str]:
        """The columns a file must have: every part of the contract except optional features and other columns."""
        parts = [self.id_column, self.group_column, self.subgroup_column, self.time_column, self.label_column]
        features = [column.name for column in (*self.numeric, *self.categorical) if column.required]
        return [name for name in (*parts, *features) if name]

    def feature_columns(self) -> list[str]:
        return [column.name for column in (*self.numeric, *self.categorical)]


def numeric_values(values: Sequence[object], decimal: str) -> list[float]:
    """Cells of a numeric column as floats by :func:`parse_number`; numbers pass as they are, anything missing or
    unreadable is NaN (validation quarantines an unreadable cell before it reaches a model)."""
    parsed = []
    for value in values:
        if isinstance(value, str):
            number = parse_number(value, decimal)
            parsed.append(math.nan if number is None else number)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            parsed.append(float(value))
        else:  # None, NA, NaT, or a type that is not a number
            parsed.append(math.nan)
    return parsed
