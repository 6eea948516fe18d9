"""Split an intake table into valid reports and quarantine rows; every record lands in exactly one of them.

Checks run in a fixed order and a record is quarantined for the first one it fails, so its reason is stable.
Record-level checks come first; the checks across records (duplicate ids, duplicate texts, conflicting labels)
then run over the records that passed them, in intake order, so the first occurrence is the one kept.
:class:`BatchValidator` does this chunk by chunk for a streamed intake; :func:`validate_reports` is one call of it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from gxp_assets.core.contracts import INTAKE_COLUMNS, REPORT_FIELDS, REQUIRED_FIELDS, Reason

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


def _check_record(row: dict[str, object], rules: ValidationRules, now: datetime) -> tuple[Reason, str] | dict:
    """The record-level checks; returns the cleaned fields or the first failure."""
    if not _blank(row["parse_error"]):
        return Reason.MALFORMED_RECORD, str(row["parse_error"])
    if not _blank(row["encoding_error"]):
        return Reason.INVALID_ENCODING, f"{row['encoding_error']}; declare the file's encoding if it is not UTF-8"
    if not _blank(row.get("type_error")):
        return Reason.INVALID_TYPE, str(row["type_error"])
    for name in REQUIRED_FIELDS:
        if name == "text":
            continue
        if _blank(row.get(name)):
            return Reason.MISSING_FIELD, f"{name} is missing or empty"
    if not isinstance(row.get("text"), str):
        return Reason.MISSING_FIELD, "text is missing"
    text = normalize_text(str(row["text"]))
    visible = _INVISIBLE.sub("", text).strip()
    if not visible:
        return Reason.EMPTY_TEXT, "text is empty after normalisation (white space or invisible characters only)"
    if len(text) > rules.max_text_chars:
        return Reason.TEXT_TOO_LONG, f"text has {len(text):,} characters, the limit is {rules.max_text_chars:,}"
    if _FORMULA.match(text) or _FORMULA.match(visible):  # also behind zero-width or bidi characters
        return Reason.FORMULA_TEXT, f"text starts like a spreadsheet formula: {visible[:40]!r}"
    label: int | None = None
    if _blank(row.get("label")):
        if rules.require_label:
            return Reason.MISSING_LABEL, "label is missing; an adjudicated corpus needs 0 or 1"
    else:
        raw_label = str(row["label"]).strip()
        if raw_label not in VALID_LABELS:
            return Reason.INVALID_LABEL, f"label {raw_label[:40]!r} is not 0 or 1"
        label = VALID_LABELS[raw_label]
    received_at: datetime | None = None
    if _blank(row.get("received_at")):
        if rules.require_received_at:
            return Reason.MISSING_FIELD, "received_at is missing or empty"
    else:
        parsed = parse_received_at(str(row["received_at"]))
        if isinstance(parsed, Reason):
            return parsed, f"received_at {str(row['received_at'])[:40]!r} is not ISO 8601 with a time zone"
        if parsed > now + rules.future_tolerance:
            return Reason.TIMESTAMP_IN_FUTURE, f"received_at {parsed.isoformat()} is after the run ({now.isoformat()})"
        received_at = parsed
    return {
        "report_id": str(row["report_id"]).strip(),
        "document_id": str(row["document_id"]).strip(),
        "source": str(row["source"]).strip().lower(),
        "text": text,
        "received_at": received_at,
        "label": label,
        "product": None if _blank(row.get("product")) else normalize_text(str(row["product"])),
    }


_BOTH_LABELS = 0b11  # label bits of a text: bit 0 for label 0, bit 1 for label 1


def _digest(value: str) -> bytes:
    """A 16-byte key, so that what is remembered across chunks does not grow with the length of texts and ids."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(slots=True)
class _TextSeen:
    """What later records with the same text are judged against."""

    labels: int  # label bits of its records that passed the record checks with a report_id not seen before
    kept_id: str | None = None  # the record passed as valid, and where it was received;
    kept_at: tuple[str, int] | None = None  # both None while the labels conflict


def _at(where: tuple[str, int]) -> str:
    return f"{where[0]}:{where[1]}"


class BatchValidator:
    """Validates an intake chunk by chunk, remembering across chunks what the checks across records need.

    That is the first location of each report_id, and per normalised text its labels and the record kept, keyed by a
    16-byte digest: memory grows with the number of distinct records (some 400 bytes each), not with their size.

    One outcome depends on the chunking. When a text arrives with labels 0 and 1, a whole intake quarantines every
    record of it as ``conflicting_labels``. When an earlier chunk already passed one of them as valid (and perhaps
    quarantined later copies with its label as ``duplicate_text``), those outcomes are out; the records of the text
    in later chunks are quarantined as ``conflicting_labels``, their detail naming the record passed as valid.
    Within one chunk, the outcome is that of a whole intake.
    """

    def __init__(self, rules: ValidationRules, now: datetime) -> None:
        self.rules = rules
        self.now = now
        self._first_by_id: dict[bytes, tuple[str, int]] = {}
        self._by_text: dict[bytes, _TextSeen] = {}

    def validate(self, chunk: pd.DataFrame) -> ValidationResult:
        """Valid reports typed per the contract, and quarantine rows holding the record as received plus a reason."""
        extra = [name for name in chunk.columns if name not in (*REPORT_FIELDS, *INTAKE_COLUMNS)]
        cleaned: list[dict] = []
        failures: dict[int, tuple[Reason, str]] = {}
        columns = list(chunk.columns)
        for values in chunk.itertuples(index=False, name=None):  # a row at a time: a chunk's rows as dicts are big
            row = dict(zip(columns, values, strict=True))
            outcome = _check_record(row, self.rules, self.now)
            if isinstance(outcome, tuple):
                failures[row["intake_seq"]] = outcome
            else:
                outcome.update({name: row[name] for name in extra})
                outcome["intake_seq"] = row["intake_seq"]
                cleaned.append(outcome)
        failures.update(self._cross_record_failures(cleaned, chunk))
        valid_rows = [row for row in cleaned if row["intake_seq"] not in failures]
        return ValidationResult(
            valid=_valid_frame(valid_rows, extra),
            quarantined=_quarantine_frame(chunk, failures),
        )

    def _cross_record_failures(self, cleaned: list[dict], chunk: pd.DataFrame) -> dict[int, tuple[Reason, str]]:
        """Duplicate ids, conflicting labels and duplicate texts, judged in intake order."""
        where = {
            seq: (file, line)
            for seq, file, line in zip(chunk["intake_seq"], chunk["source_file"], chunk["source_line"], strict=True)
        }
        failures: dict[int, tuple[Reason, str]] = {}
        for row in cleaned:
            key, seq = _digest(row["report_id"]), row["intake_seq"]
            if (first := self._first_by_id.get(key)) is None:
                self._first_by_id[key] = where[seq]
            else:
                failures[seq] = (
                    Reason.DUPLICATE_REPORT_ID,
                    f"report_id {row['report_id']!r} was already received at {_at(first)}",
                )
        texts = [(row, _digest(row["text"])) for row in cleaned if row["intake_seq"] not in failures]
        chunk_labels: dict[bytes, int] = {}
        for row, key in texts:
            if row["label"] is not None:
                chunk_labels[key] = chunk_labels.get(key, 0) | 1 << row["label"]
        for row, key in texts:
            seq = row["intake_seq"]
            if (seen := self._by_text.get(key)) is None:
                seen = self._by_text[key] = _TextSeen(0)
            seen.labels |= chunk_labels.get(key, 0)
            if seen.labels == _BOTH_LABELS:
                failures[seq] = (Reason.CONFLICTING_LABELS, _conflict_detail(seen))
            elif seen.kept_at is None:
                seen.kept_id, seen.kept_at = row["report_id"], where[seq]
            else:
                failures[seq] = (
                    Reason.DUPLICATE_TEXT,
                    f"same text as report {seen.kept_id!r} ({_at(seen.kept_at)}), which is kept",
                )
        return failures


def _conflict_detail(seen: _TextSeen) -> str:
    detail = "the same text was received with labels 0 and 1"
    if seen.kept_at is None:
        return detail
    # Only a text without conflicting labels up to an earlier chunk has a record kept.
    return f"{detail}; report {seen.kept_id!r} ({_at(seen.kept_at)}) with it was passed as valid in an earlier chunk"


def validate_reports(intake: pd.DataFrame, rules: ValidationRules, now: datetime) -> ValidationResult:
    """Valid reports typed per the contract, and quarantine rows holding the record as received plus a reason."""
    return BatchValidator(rules, now).validate(intake)


def _valid_frame(rows: list[dict], extra: list[str]) -> pd.DataFrame:
    columns = [*REPORT_FIELDS, *extra, "intake_seq"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("report_id", "document_id", "source", "text", "product", *extra):
        frame[name] = frame[name].astype(object)
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True).astype("datetime64[us, UTC]")
    frame["label"] = frame["label"].astype("Int8")
    frame["intake_seq"] = frame["intake_seq"].astype("int64")
    return frame.reset_index(drop=True)


def _quarantine_frame(intake: pd.DataFrame, failures: dict[int, tuple[Reason, str]]) -> pd.DataFrame:
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
