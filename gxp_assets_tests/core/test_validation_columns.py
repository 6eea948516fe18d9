"""The column-wise record checks give, row for row, what the per-record checks they replaced gave.

``_one_record`` is the former per-record implementation, kept here as the oracle: same first failure (reason and
detail) and the same cleaned fields, over every combination of the values that trip a rule.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from gxp_assets.core.contracts import REQUIRED_FIELDS, Reason
from gxp_assets.core.intake_table import IntakeRecord, intake_table
from gxp_assets.core.validation import (
    _FORMULA,
    _INVISIBLE,
    VALID_LABELS,
    ValidationRules,
    _blank,
    _record_checks,
    normalize_text,
    parse_received_at,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _one_record(row: dict, rules: ValidationRules, now: datetime) -> tuple[Reason, str] | dict:
    """The per-record checks as they were before they ran a column at a time."""
    if not _blank(row["parse_error"]):
        return Reason.MALFORMED_RECORD, str(row["parse_error"])
    if not _blank(row["encoding_error"]):
        return Reason.INVALID_ENCODING, f"{row['encoding_error']}; declare the file's encoding if it is not UTF-8"
    if not _blank(row.get("type_error")):
        return Reason.INVALID_TYPE, str(row["type_error"])
    for name in REQUIRED_FIELDS:
        if name != "text" and _blank(row.get(name)):
            return Reason.MISSING_FIELD, f"{name} is missing or empty"
    if not isinstance(row.get("text"), str):
        return Reason.MISSING_FIELD, "text is missing"
    text = normalize_text(str(row["text"]))
    visible = _INVISIBLE.sub("", text).strip()
    if not visible:
        return Reason.EMPTY_TEXT, "text is empty after normalisation (white space or invisible characters only)"
    if len(text) > rules.max_text_chars:
        return Reason.TEXT_TOO_LONG, f"text has {len(text):,} characters, the limit is {rules.max_text_chars:,}"
    if _FORMULA.match(text) or _FORMULA.match(visible):
        return Reason.FORMULA_TEXT, f"text starts like a spreadsheet formula: {visible[:40]!r}"
    label = None
    if _blank(row.get("label")):
        if rules.require_label:
            return Reason.MISSING_LABEL, "label is missing; an adjudicated corpus needs 0 or 1"
    else:
        raw_label = str(row["label"]).strip()
        if raw_label not in VALID_LABELS:
            return Reason.INVALID_LABEL, f"label {raw_label[:40]!r} is not 0 or 1"
        label = VALID_LABELS[raw_label]
    received_at = None
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


VARIANTS = {
    "report_id": ["r1", " r2 ", "", None, "  "],
    "document_id": ["d1", "", None],
    "source": ["Social_Media", " CALL_centre ", "", None],
    "text": ["felt dizzy", "  Cafe\u0301\x07 dizzy\r\n", " \x00\x1f ", "\u200b\u200c", '=HYPERLINK("x")', "+cmd(1)",
             "- a dash", '\u200b=SUM(A1)', "\u202e\u2066@SUM(A1)", "x" * 31, None, "", "ok\u00a0word"],
    "received_at": ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00", "last tuesday", "2027-01-01T00:00:00Z",
                    "2026-11-26T12:04:00+00:00", " 2026-03-01t10:00:00z ", None, ""],
    "label": ["1", "0", "1.0", "yes", "", None, " 0 "],
    "product": ["drugx", " Dr\u0075\u0308g ", "", None],
    "parse_error": [None, "row has 3 fields"],
    "encoding_error": [None, "text holds bytes 0xFF"],
    "type_error": [None, "report_id is a number"],
}  # fmt: skip


@pytest.mark.parametrize("rules", [ValidationRules(max_text_chars=30), ValidationRules(require_label=False,
                                   require_received_at=False, future_tolerance=timedelta(0))])  # fmt: skip
def test_column_checks_match_the_per_record_checks(rules: ValidationRules) -> None:
    draw = random.Random(17)  # each field its good value four times in five, else any of its variants
    picked = [[values[0] if draw.random() < 0.8 else draw.choice(values) for values in VARIANTS.values()]
              for _ in range(4000)]  # fmt: skip
    records = []
    for line, values in enumerate(picked, start=2):
        fields = dict(zip(VARIANTS, values, strict=True))
        errors = {name: fields.pop(name) for name in ("parse_error", "encoding_error", "type_error")}
        record = IntakeRecord("in.csv", line, b"raw", "utf-8", fields, errors["parse_error"], errors["type_error"])
        records.append((record, errors["encoding_error"]))
    frame = intake_table([record for record, _ in records])
    frame["encoding_error"] = pd.Series([error for _, error in records], index=frame.index, dtype=object)
    failures, clean = _record_checks(frame, rules, NOW)
    outcomes: Counter[str] = Counter()
    for row, values in enumerate(frame.to_dict("records")):
        expected = _one_record(values, rules, NOW)
        if isinstance(expected, tuple):
            assert failures[row] == expected, values
            outcomes[str(expected[0])] += 1
        else:
            assert row not in failures, values
            assert {name: clean[name][row] for name in expected} == expected, values
            outcomes["passed"] += 1
    # Every rule was exercised on both sides, so "the same failure" is not the same only because none failed.
    assert outcomes["passed"] > 500 and len(outcomes) == (13 if rules.require_label else 11), outcomes
