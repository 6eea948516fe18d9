"""The report contract of DESIGN.md and the reason codes of quarantine, shared by loaders and validation."""

from __future__ import annotations

from enum import StrEnum

#: Fields of an incoming report, in the order of DESIGN.md.
REPORT_FIELDS: tuple[str, ...] = (
    "report_id",
    "document_id",
    "source",
    "text",
    "received_at",
    "label",
    "product",
)
REQUIRED_FIELDS: tuple[str, ...] = ("report_id", "document_id", "source", "text")
#: Fields that a typed record (JSON Lines, Parquet) must give as strings: another type is quarantined, not coerced.
STRING_FIELDS: tuple[str, ...] = ("report_id", "text")

#: Intake columns every loader adds so that a record can be traced back to the bytes it came from.
INTAKE_COLUMNS: tuple[str, ...] = (
    "intake_seq",  # position of the record in the whole intake, 0-based; the reconciliation key
    "source_file",
    "source_line",  # 1-based line (row for Parquet) where the record starts
    "raw",  # the record's bytes as received
    "encoding",
    "parse_error",  # set when the record could not be split into fields
    "encoding_error",  # set when a field held bytes that are not valid in the file's encoding
    "type_error",  # set when a typed record gave a STRING_FIELDS field as another type (object, list, number, ...)
)


class Reason(StrEnum):
    """Why a record was quarantined; stable codes that reports and dashboards can group by."""

    MALFORMED_RECORD = "malformed_record"
    INVALID_ENCODING = "invalid_encoding"
    INVALID_TYPE = "invalid_type"  # a report_id or text that is not a string in a JSON Lines or Parquet record
    MISSING_FIELD = "missing_field"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    FORMULA_TEXT = "formula_text"
    INVALID_LABEL = "invalid_label"
    MISSING_LABEL = "missing_label"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_WITHOUT_ZONE = "timestamp_without_zone"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    DUPLICATE_REPORT_ID = "duplicate_report_id"
    DUPLICATE_TEXT = "duplicate_text"
    CONFLICTING_LABELS = "conflicting_labels"
    UNKNOWN_REPORT = "unknown_report"  # an adjudication for a report that was never scored
    # A declared record contract (core.record_validation): a tabular use case's columns, numbers and levels.
    MISSING_COLUMN = "missing_column"  # the file has no column the contract requires
    INVALID_NUMBER = "invalid_number"  # not a number written with the declared decimal mark
    OUT_OF_RANGE = "out_of_range"  # a number outside the declared valid range
    UNKNOWN_LEVEL = "unknown_level"  # a categorical value outside the declared levels (training only)
    DUPLICATE_ID = "duplicate_id"  # a record id already received in the batch


#: Reasons that only a declared record contract gives (the report contract checks text, not columns and levels).
RECORD_CONTRACT_REASONS: frozenset[Reason] = frozenset(
    {Reason.MISSING_COLUMN, Reason.INVALID_NUMBER, Reason.OUT_OF_RANGE, Reason.UNKNOWN_LEVEL, Reason.DUPLICATE_ID}
)


class ReportFileError(ValueError):
    """A file that cannot be read as its format at all; names the file and the line so a person can look."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


#: Fields of a prediction, in the order of DESIGN.md.
PREDICTION_FIELDS: tuple[str, ...] = (
    "report_id",
    "input_sha256",  # SHA-256 of the record's bytes as received: proves which input was scored
    "p_ae",  # calibrated probability of an adverse event
    "prediction_set",  # conformal set: "{0}", "{1}", "{0,1}" or "{}"
    "triage",  # AUTO_CLOSE, REVIEW or PRIORITY
    "triage_reason",  # why: the conformal decision, or the suspension of auto-close that overrode it
    "explanation",  # JSON list of the top contributing features
    "model_version",
    "plan_version",  # "<plan_id> <version>"
    "run_id",
    "scored_at",  # UTC
)

#: What the results store keeps per scored record: the prediction, the report it was made for, and its origin.
SCORED_COLUMNS: tuple[str, ...] = (
    "batch",
    *PREDICTION_FIELDS,
    "raw_score",  # the model's own score, before calibration (what drift and conformal sets use)
    "document_id",
    "source",
    "text",
    "product",
    "received_at",  # UTC; may be missing where validation allows it
    "due_at",  # received_at + the regulatory clock: when an expedited report would be due
    "source_file",
    "source_line",
    "intake_seq",
)
#: What the results store adds to each scored row it keeps, after ``SCORED_COLUMNS`` (missing in rows stored before).
STORE_NOTE_COLUMNS: tuple[str, ...] = (
    "resubmitted",  # the report_id had already been scored in another batch when this batch was written
)
