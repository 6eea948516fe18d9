"""Split an intake table into valid reports and quarantine rows; every record lands in exactly one of them.

Checks run in a fixed order and a record is quarantined for the first one it fails, so its reason is stable.
Record-level checks come first; the checks across records (duplicate ids, duplicate texts, conflicting labels)
then run over the records that passed them, in intake order, so the first occurrence is the one kept.
:class:`BatchValidator` does this chunk by chunk for a streamed intake; :func:`validate_reports` is one call of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from gxp_assets.core.across_records import AcrossRecords
from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, REQUIRED_FIELDS, Reason
from gxp_assets.core.seen_records import Candidates, digest

VALID_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A leading = or @, or + / - followed by a function call or a DDE / sheet reference (``+cmd|' /C calc'!A0``).
_FORMULA = re.compile(r"^[=@]|^[+\-]\s*[A-Za-z_][A-Za-z0-9_.]*\s*\(|^[+\-]\s*[\d.+\-*/^&]*[A-Za-z_][A-Za-z0-9_.]*[|!]")
# Characters that show nothing: zero-width spaces and joiners, word joiner and invisible operators, BOM, soft hyphen,
# Mongolian vowel separator, Hangul fillers, and the bidi embedding, override and isolate controls.
_INVISIBLE = re.compile(
    "[\u00ad\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0]"
)
QUARANTINE_COLUMNS: tuple[str, ...] = ("reason", "detail")


@dataclass(frozen=True)
class ValidationRules:
    """What a valid report is; typed config in the Dagster layer fills this in."""

    max_text_chars: int = 20_000
    require_label: bool = True
    require_received_at: bool = True
    future_tolerance: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class ValidationResult:
    valid: pd.DataFrame
    quarantined: pd.DataFrame


def normalize_text(text: str) -> str:
    """NFC, control characters removed (tab and newline kept as meaning), outer white space trimmed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def parse_received_at(value: str) -> datetime | Reason:
    """ISO 8601 with a zone, as UTC; a time without a zone is ambiguous and is not guessed."""
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return Reason.INVALID_TIMESTAMP
    if stamp.tzinfo is None:
        return Reason.TIMESTAMP_WITHOUT_ZONE
    return stamp.astimezone(UTC)


def _blank(value: object) -> bool:
    """None, NA, NaN or white space: a missing value in any of the spellings pandas may hand over."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or bool(pd.isna(value))


def column_values(chunk: pd.DataFrame, name: str) -> list:
    """A column's values, or None for each row when the intake has no such column."""
    return chunk[name].tolist() if name in chunk.columns else [None] * len(chunk)


def blanks(values: list) -> list[bool]:
    return [not value.strip() if type(value) is str else _blank(value) for value in values]


class FirstFailure:
    """Each row's first failed check: checks run over whole columns in the rule order, and a row keeps the reason of
    the earliest one it failed, as if its checks had run one after the other and stopped there."""

    def __init__(self, size: int) -> None:
        self.found: dict[int, tuple[Reason, str]] = {}  # by row position
        self.size = size

    def add(self, rows: Iterable[int], reason: Reason, detail: Callable[[int], str]) -> None:
        for row in rows:
            if row not in self.found:
                self.found[row] = (reason, detail(row))


def intake_failures(chunk: pd.DataFrame, failures: FirstFailure) -> None:
    """What reading found, first for any contract: a record not split into fields, bytes invalid in the file's
    encoding, a typed value of the wrong type."""
    rows = range(len(chunk))
    parse_errors, encoding_errors = chunk["parse_error"].tolist(), chunk["encoding_error"].tolist()
    blank = blanks(parse_errors)
    failures.add((row for row in rows if not blank[row]), Reason.MALFORMED_RECORD, lambda row: str(parse_errors[row]))
    blank = blanks(encoding_errors)
    failures.add((row for row in rows if not blank[row]), Reason.INVALID_ENCODING,
                 lambda row: f"{encoding_errors[row]}; declare the file's encoding if it is not UTF-8")  # fmt: skip
    type_errors = column_values(chunk, "type_error")
    blank = blanks(type_errors)
    failures.add((row for row in rows if not blank[row]), Reason.INVALID_TYPE, lambda row: str(type_errors[row]))


_FORMULA_STARTS = frozenset("=@+-")  # every alternative of _FORMULA begins with one of these


def formula_like(value: str) -> bool:
    """A cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, ``+cmd|' /C calc'!A0``),
    also behind invisible characters: quarantined wherever it would reach a reviewer's export as received."""
    text = value.strip()
    if text[:1] in _FORMULA_STARTS and _FORMULA.match(text):
        return True
    if text.isascii():  # the invisible characters are all outside ASCII
        return False
    visible = _INVISIBLE.sub("", text).strip()
    return visible[:1] in _FORMULA_STARTS and _FORMULA.match(visible) is not None


def add_formula_cells(cells: dict[str, list], names: Sequence[str], failures: FirstFailure) -> None:
    """Quarantine (FORMULA_TEXT) each row whose cell of ``names`` (identifiers, groups, subgroups, levels: shown
    as received in queues and exports) starts like a spreadsheet formula."""
    for name in names:
        values = cells[name]
        failures.add((row for row, value in enumerate(values) if isinstance(value, str) and formula_like(value)),
                     Reason.FORMULA_TEXT,
                     lambda row, name=name, values=values: f"{name} starts like a spreadsheet formula: "
                                                           f"{str(values[row])[:40]!r}")  # fmt: skip


def _record_checks(chunk: pd.DataFrame, rules: ValidationRules, now: datetime) -> tuple[dict[int, tuple], dict]:
    """The record-level checks, a column at a time: failures by row position, and the cleaned fields of every row
    (meaningful for the rows that passed; what a failed row holds is never used)."""
    failures = FirstFailure(len(chunk))
    rows = range(len(chunk))
    intake_failures(chunk, failures)
    fields = {name: column_values(chunk, name) for name in REPORT_FIELDS}
    for name in REQUIRED_FIELDS:
        if name != "text":
            blank = blanks(fields[name])
            failures.add((row for row in rows if blank[row]), Reason.MISSING_FIELD,
                         lambda row, name=name: f"{name} is missing or empty")  # fmt: skip
    texts = fields["text"]
    failures.add((row for row in rows if not isinstance(texts[row], str)), Reason.MISSING_FIELD,
                 lambda row: "text is missing")  # fmt: skip
    cleaned = [normalize_text(text) if isinstance(text, str) else "" for text in texts]
    # The invisible characters are all outside ASCII, and a normalised text is already stripped.
    visible = [text if text.isascii() else _INVISIBLE.sub("", text).strip() for text in cleaned]
    empty = "text is empty after normalisation (white space or invisible characters only)"
    failures.add((row for row in rows if not visible[row]), Reason.EMPTY_TEXT, lambda row: empty)
    limit = rules.max_text_chars
    failures.add((row for row in rows if len(cleaned[row]) > limit), Reason.TEXT_TOO_LONG,
                 lambda row: f"text has {len(cleaned[row]):,} characters, the limit is {limit:,}")  # fmt: skip
    formula = [row for row in rows if formula_like(cleaned[row])]
    failures.add(formula, Reason.FORMULA_TEXT,
                 lambda row: f"text starts like a spreadsheet formula: {visible[row][:40]!r}")  # fmt: skip
    add_formula_cells(fields, ("report_id", "document_id", "source", "product"), failures)
    labels = _labels(fields["label"], rules, failures)
    received = _received(fields["received_at"], rules, now, failures)
    products = fields["product"]
    clean = {
        "report_id": [str(value).strip() for value in fields["report_id"]],
        "document_id": [str(value).strip() for value in fields["document_id"]],
        "source": [str(value).strip().lower() for value in fields["source"]],
        "text": cleaned,
        "received_at": received,
        "label": labels,
        "product": [
            None if blank else normalize_text(str(value))
            for value, blank in zip(products, blanks(products), strict=True)
        ],
    }
    return failures.found, clean


def _labels(values: list, rules: ValidationRules, failures: FirstFailure) -> list[int | None]:
    blank = blanks(values)
    if rules.require_label:
        failures.add((row for row, empty in enumerate(blank) if empty), Reason.MISSING_LABEL,
                     lambda row: "label is missing; an adjudicated corpus needs 0 or 1")  # fmt: skip
    raw = [None if empty else str(value).strip() for value, empty in zip(values, blank, strict=True)]
    failures.add((row for row, label in enumerate(raw) if label is not None and label not in VALID_LABELS),
                 Reason.INVALID_LABEL, lambda row: f"label {raw[row][:40]!r} is not 0 or 1")  # fmt: skip
    return [VALID_LABELS.get(label) if label is not None else None for label in raw]


def _received(values: list, rules: ValidationRules, now: datetime, failures: FirstFailure) -> list[datetime | None]:
    blank = blanks(values)
    if rules.require_received_at:
        failures.add((row for row, empty in enumerate(blank) if empty), Reason.MISSING_FIELD,
                     lambda row: "received_at is missing or empty")  # fmt: skip
    parsed = [None if empty else parse_received_at(str(value)) for value, empty in zip(values, blank, strict=True)]
    for row, stamp in enumerate(parsed):
        if isinstance(stamp, Reason):
            detail = f"received_at {str(values[row])[:40]!r} is not ISO 8601 with a time zone"
            failures.add((row,), stamp, lambda row, detail=detail: detail)
            parsed[row] = None
    latest = now + rules.future_tolerance
    failures.add((row for row, stamp in enumerate(parsed) if stamp is not None and stamp > latest),
                 Reason.TIMESTAMP_IN_FUTURE,
                 lambda row: f"received_at {parsed[row].isoformat()} is after the run ({now.isoformat()})")  # fmt: skip
    return parsed


@dataclass(frozen=True)
class CheckedRecords:
    """One chunk after the record-level checks, which need no other record, so they can run anywhere: each row's
    first failure (by position) and the cleaned fields of every row."""

    failures: dict[int, tuple[Reason, str]]
    clean: dict[str, list]  # report fields, extra columns and intake_seq
    extra: list[str]

    def passed(self) -> list[int]:
        return [row for row in range(len(self.clean["intake_seq"])) if row not in self.failures]

    def candidates(self, chunk: pd.DataFrame) -> Candidates:
        rows, clean = self.passed(), self.clean
        files, lines = chunk["source_file"].tolist(), chunk["source_line"].tolist()
        report_ids = [clean["report_id"][row] for row in rows]
        return Candidates(
            [clean["intake_seq"][row] for row in rows],
            report_ids,
            [digest(report_id) for report_id in report_ids],
            [digest(clean["text"][row]) for row in rows],
            [clean["label"][row] for row in rows],
            [files[row] for row in rows],
            [lines[row] for row in rows],
        )

    def result(self, chunk: pd.DataFrame, across: dict[int, tuple[Reason, str]]) -> ValidationResult:
        """Valid reports and quarantine rows, with the failures the checks across records found (by intake_seq)."""
        seqs = self.clean["intake_seq"]
        failures = {seqs[row]: failure for row, failure in self.failures.items()}
        failures.update(across)
        valid = [row for row in range(len(seqs)) if seqs[row] not in failures]
        return ValidationResult(
            valid=_valid_frame({name: [values[row] for row in valid] for name, values in self.clean.items()},
                               self.extra),
            quarantined=quarantine_frame(chunk, failures),
        )  # fmt: skip


def check_records(chunk: pd.DataFrame, rules: ValidationRules, now: datetime) -> CheckedRecords:
    """The record-level checks of one chunk (the first part of :meth:`BatchValidator.validate`)."""
    extra = [name for name in chunk.columns if name not in (*REPORT_FIELDS, *INTAKE_COLUMNS)]
    by_row, clean = _record_checks(chunk, rules, now)
    clean.update({name: column_values(chunk, name) for name in extra})
    clean["intake_seq"] = chunk["intake_seq"].tolist()
    return CheckedRecords(by_row, clean, extra)


class BatchValidator:
    """Validates an intake chunk by chunk, remembering across chunks what the checks across records need.

    That is the first place of each report_id, and per normalised text its labels and the record kept, keyed by a
    16-byte digest (core.seen_records): memory grows with the number of distinct records (a few dozen bytes each),
    not with their size. :meth:`validate` is :func:`check_records`, :meth:`check_across` and
    :meth:`CheckedRecords.result` in a row; a distributed run does the first and last on its executors.

    One outcome depends on the chunking. When a text arrives with labels 0 and 1, a whole intake quarantines every
    record of it as ``conflicting_labels``. When an earlier chunk already passed one of them as valid (and perhaps
    quarantined later copies with its label as ``duplicate_text``), those outcomes are out; the records of the text
    in later chunks are quarantined as ``conflicting_labels``, their detail naming the record passed as valid.
    Within one chunk, the outcome is that of a whole intake.
    """

    def __init__(self, rules: ValidationRules, now: datetime) -> None:
        self.rules = rules
        self.now = now
        self._across = AcrossRecords()

    def validate(self, chunk: pd.DataFrame) -> ValidationResult:
        """Valid reports typed per the contract, and quarantine rows holding the record as received plus a reason."""
        checked = check_records(chunk, self.rules, self.now)
        return checked.result(chunk, self.check_across(checked.candidates(chunk)))

    def check_across(self, found: Candidates) -> dict[int, tuple[Reason, str]]:
        """Duplicate ids, conflicting labels and duplicate texts among the next chunk's ``found`` records and
        against every earlier chunk, in intake order; failures by intake_seq."""
        return self._across.check(found)


def validate_reports(intake: pd.DataFrame, rules: ValidationRules, now: datetime) -> ValidationResult:
    """Valid reports typed per the contract, and quarantine rows holding the record as received plus a reason."""
    return BatchValidator(rules, now).validate(intake)


def _valid_frame(columns: dict[str, list], extra: list[str]) -> pd.DataFrame:
    names = [*REPORT_FIELDS, *extra, "intake_seq"]
    frame = pd.DataFrame({name: pd.Series(columns[name], dtype=object) for name in names}, columns=names)
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True).astype("datetime64[us, UTC]")
    frame["label"] = frame["label"].astype("Int8")
    frame["intake_seq"] = frame["intake_seq"].astype("int64")
    return frame


def quarantine_frame(intake: pd.DataFrame, failures: dict[int, tuple[Reason, str]]) -> pd.DataFrame:
    frame = intake[intake["intake_seq"].isin(list(failures))].copy()
    frame["reason"] = pd.Series([str(failures[seq][0]) for seq in frame["intake_seq"]], index=frame.index, dtype=object)
    frame["detail"] = pd.Series([failures[seq][1] for seq in frame["intake_seq"]], index=frame.index, dtype=object)
    return frame.reset_index(drop=True)


def reconcile(intake: pd.DataFrame, valid: pd.DataFrame, quarantined: pd.DataFrame) -> list[str]:
    """Problems with 'records in = valid + quarantined', by record, not only by count; empty when it holds."""
    incoming = set(intake["intake_seq"])
    kept, held = list(valid["intake_seq"]), list(quarantined["intake_seq"])
    problems = []
    if len(kept) + len(held) != len(intake):
        problems.append(f"{len(intake)} records in, {len(kept)} valid + {len(held)} quarantined")
    if lost := incoming - set(kept) - set(held):
        problems.append(f"{len(lost)} records neither valid nor quarantined, e.g. intake_seq {sorted(lost)[:5]}")
    if both := set(kept) & set(held):
        problems.append(f"{len(both)} records both valid and quarantined, e.g. intake_seq {sorted(both)[:5]}")
    if unknown := (set(kept) | set(held)) - incoming:
        problems.append(f"{len(unknown)} records that never came in, e.g. intake_seq {sorted(unknown)[:5]}")
    return problems
