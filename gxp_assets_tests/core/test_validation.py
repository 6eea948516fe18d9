from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from gxp_assets.core.contracts import Reason
from gxp_assets.core.intake_table import IntakeRecord, intake_table
from gxp_assets.core.validation import ValidationRules, normalize_text, reconcile, validate_reports

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GOOD = {
    "report_id": "r1",
    "document_id": "d1",
    "source": "Social_Media",
    "text": "felt dizzy after the first dose",
    "received_at": "2026-03-01T10:00:00Z",
    "label": "1",
    "product": "drugx",
}


def intake(*rows: dict) -> pd.DataFrame:
    records = []
    for line, fields in enumerate(rows, start=2):
        fields = dict(fields)
        parse_error = fields.pop("parse_error", None)
        records.append(IntakeRecord("in.csv", line, repr(fields).encode(), "utf-8", fields, parse_error))
    return intake_table(records)


def reasons(frame: pd.DataFrame, rules: ValidationRules | None = None) -> list[str]:
    """The outcome of each record, in intake order."""
    result = validate_reports(frame, rules or ValidationRules(), NOW)
    assert reconcile(frame, result.valid, result.quarantined) == []
    outcome = dict.fromkeys(result.valid["intake_seq"], "valid")
    outcome.update(zip(result.quarantined["intake_seq"], result.quarantined["reason"], strict=True))
    return [outcome[seq] for seq in frame["intake_seq"]]


def test_a_good_record_is_typed_and_normalised() -> None:
    result = validate_reports(intake({**GOOD, "text": "  Cafe\u0301\x07 dizzy\r\n"}), ValidationRules(), NOW)
    row = result.valid.iloc[0]
    assert row["text"] == "Caf\u00e9 dizzy"  # NFC, control character gone, line ending and spaces trimmed
    assert row["source"] == "social_media"
    assert row["received_at"] == pd.Timestamp("2026-03-01T10:00:00Z")
    assert row["label"] == 1
    assert str(result.valid["received_at"].dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"parse_error": "row has 3 fields"}, Reason.MALFORMED_RECORD),
        ({"document_id": " "}, Reason.MISSING_FIELD),
        ({"text": None}, Reason.MISSING_FIELD),
        ({"text": " \x00\x1f "}, Reason.EMPTY_TEXT),
        ({"text": "x" * 20_001}, Reason.TEXT_TOO_LONG),
        ({"text": '=HYPERLINK("http://x","y")'}, Reason.FORMULA_TEXT),
        ({"text": "+cmd(1)"}, Reason.FORMULA_TEXT),
        ({"text": "\u200b\u200c\u200d\ufeff \u2060"}, Reason.EMPTY_TEXT),  # zero-width only
        ({"text": "\u202e\u2066\u2069\u200f"}, Reason.EMPTY_TEXT),  # bidi controls only
        ({"text": '\u200b=HYPERLINK("http://x")'}, Reason.FORMULA_TEXT),  # formula behind a zero-width space
        ({"text": "\u202e\u2066@SUM(A1)"}, Reason.FORMULA_TEXT),  # behind bidi controls
        ({"report_id": '=HYPERLINK("http://x","open")'}, Reason.FORMULA_TEXT),  # shown in queues and exports
        ({"document_id": "@SUM(1+1)"}, Reason.FORMULA_TEXT),
        ({"source": "+cmd|' /C calc'!A0"}, Reason.FORMULA_TEXT),
        ({"product": "\u200b=1+2"}, Reason.FORMULA_TEXT),
        ({"label": "yes"}, Reason.INVALID_LABEL),
        ({"label": "2"}, Reason.INVALID_LABEL),
        ({"label": "-1"}, Reason.INVALID_LABEL),
        ({"label": ""}, Reason.MISSING_LABEL),
        ({"received_at": "2026-03-01T10:00:00"}, Reason.TIMESTAMP_WITHOUT_ZONE),
        ({"received_at": "last tuesday"}, Reason.INVALID_TIMESTAMP),
        ({"received_at": "2027-01-01T00:00:00Z"}, Reason.TIMESTAMP_IN_FUTURE),
        ({"received_at": None}, Reason.MISSING_FIELD),
    ],
)
def test_each_rule_quarantines_with_its_reason(change: dict, reason: Reason) -> None:
    assert reasons(intake({**GOOD, **change})) == [reason]


def test_a_dash_is_not_a_formula_and_rules_can_relax() -> None:
    relaxed = ValidationRules(require_label=False, require_received_at=False, max_text_chars=7)
    assert reasons(intake({**GOOD, "text": "- dizzy"}), relaxed) == ["valid"]
    assert reasons(intake({**GOOD, "label": None, "received_at": None, "text": "rash"}), relaxed) == ["valid"]


def test_offsets_are_converted_to_utc() -> None:
    result = validate_reports(intake({**GOOD, "received_at": "2026-03-01T12:00:00+02:00"}), ValidationRules(), NOW)
    assert result.valid.iloc[0]["received_at"] == pd.Timestamp("2026-03-01T10:00:00Z")


def test_duplicates_and_conflicts_keep_the_first_and_record_the_rest() -> None:
    frame = intake(
        GOOD,
        {**GOOD, "text": "another text"},  # same id
        {**GOOD, "report_id": "r3"},  # same text, same label
        {**GOOD, "report_id": "r4", "text": "ambiguous", "label": "0"},
        {**GOOD, "report_id": "r5", "text": "ambiguous", "label": "1"},
    )
    assert reasons(frame) == [
        "valid",
        Reason.DUPLICATE_REPORT_ID,
        Reason.DUPLICATE_TEXT,
        Reason.CONFLICTING_LABELS,
        Reason.CONFLICTING_LABELS,
    ]
    quarantined = validate_reports(frame, ValidationRules(), NOW).quarantined
    duplicate = quarantined[quarantined["reason"] == Reason.DUPLICATE_REPORT_ID].iloc[0]
    assert duplicate["source_line"] == 3 and "in.csv:2" in duplicate["detail"]
    assert "r1" in quarantined.loc[quarantined["reason"] == Reason.DUPLICATE_TEXT, "detail"].iloc[0]


def test_quarantine_rows_keep_the_record_as_received() -> None:
    frame = intake({**GOOD, "label": "yes"})
    row = validate_reports(frame, ValidationRules(), NOW).quarantined.iloc[0]
    assert row["raw"] == frame.iloc[0]["raw"]
    assert (row["source_file"], row["source_line"]) == ("in.csv", 2)
    assert row["detail"] == "label 'yes' is not 0 or 1"


def test_reconcile_names_lost_and_double_counted_records() -> None:
    frame = intake(GOOD, {**GOOD, "report_id": "r2", "text": "other"})
    result = validate_reports(frame, ValidationRules(), NOW)
    assert reconcile(frame, result.valid.iloc[:1], result.quarantined) == [
        "2 records in, 1 valid + 0 quarantined",
        "1 records neither valid nor quarantined, e.g. intake_seq [1]",
    ]
    doubled = pd.concat([result.quarantined, result.valid.iloc[:1][["intake_seq"]]])
    assert any("both valid and quarantined" in problem for problem in reconcile(frame, result.valid, doubled))


def test_normalize_text_keeps_newlines_and_tabs() -> None:
    assert normalize_text("a\tb\r\nc\u200b") == "a\tb\nc\u200b"
