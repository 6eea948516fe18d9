"""Adjudicated labels for scored reports: people's verdicts, checked before they judge the model.

An adjudication file is in the report contract's formats (CSV / JSON Lines / Parquet) with the columns
``report_id``, ``label`` (1 = AE, 0 = not), ``adjudicated_at`` (ISO 8601 with a zone) and ``adjudicator``.
A row that fails a check is quarantined with a reason, like a report: nothing is dropped silently. A later
adjudication of the same report supersedes an earlier one; both are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pandas as pd

from gxp_assets.core.contracts import INTAKE_COLUMNS, Reason
from gxp_assets.core.validation import VALID_LABELS, parse_received_at

ADJUDICATION_COLUMNS: tuple[str, ...] = ("report_id", "label", "adjudicated_at", "adjudicator", "source_file")
FUTURE_TOLERANCE = timedelta(minutes=5)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _check(row: dict, now: datetime) -> tuple[Reason, str] | dict:
    if _text(row.get("parse_error")):
        return Reason.MALFORMED_RECORD, str(row["parse_error"])
    if _text(row.get("encoding_error")):
        return Reason.INVALID_ENCODING, str(row["encoding_error"])
    if _text(row.get("type_error")):
        return Reason.INVALID_TYPE, str(row["type_error"])
    for name in ("report_id", "adjudicator", "adjudicated_at"):
        if not _text(row.get(name)):
            return Reason.MISSING_FIELD, f"{name} is missing or empty"
    label = _text(row.get("label"))
    if not label:
        return Reason.MISSING_LABEL, "label is missing; an adjudication is 0 or 1"
    if label not in VALID_LABELS:
        return Reason.INVALID_LABEL, f"label {label[:40]!r} is not 0 or 1"
    stamp = parse_received_at(_text(row["adjudicated_at"]))
    if isinstance(stamp, Reason):
        return stamp, f"adjudicated_at {_text(row['adjudicated_at'])[:40]!r} is not ISO 8601 with a time zone"
    if stamp > now + FUTURE_TOLERANCE:
        return Reason.TIMESTAMP_IN_FUTURE, f"adjudicated_at {stamp.isoformat()} is after now ({now.isoformat()})"
    return {
        "report_id": _text(row["report_id"]),
        "label": VALID_LABELS[label],
        "adjudicated_at": stamp,
        "adjudicator": _text(row["adjudicator"]),
        "source_file": row["source_file"],
        "intake_seq": row["intake_seq"],
    }


def validate_adjudications(
    intake: pd.DataFrame | None, scored: Callable[[Sequence[str]], set[str]], now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accepted adjudications (ADJUDICATION_COLUMNS) and quarantine rows (the intake row + reason + detail).

    ``scored`` answers which of the given report ids the use case the labels arrived in has scored: a verdict on a
    report it never scored (unknown, or another use case's) is held back.
    """
    empty_valid = pd.DataFrame({name: pd.Series([], dtype=object) for name in ADJUDICATION_COLUMNS})
    if intake is None or intake.empty:
        columns = [*INTAKE_COLUMNS, "reason", "detail"]
        return empty_valid, pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    failures: dict[int, tuple[Reason, str]] = {}
    accepted: list[dict] = []
    for seq, row in enumerate(intake.to_dict("records")):
        outcome = _check(row, now)
        if isinstance(outcome, tuple):
            failures[seq] = outcome
        else:
            accepted.append(outcome | {"position": seq})
    known = scored(sorted({row["report_id"] for row in accepted})) if accepted else set()
    for row in accepted:
        if row["report_id"] not in known:
            failures[row["position"]] = (
                Reason.UNKNOWN_REPORT, f"report {row['report_id']!r} was never scored in this use case"
            )  # fmt: skip
    valid = pd.DataFrame([row for row in accepted if row["position"] not in failures], columns=[*ADJUDICATION_COLUMNS])
    valid["label"] = valid["label"].astype("int64")
    valid["adjudicated_at"] = pd.to_datetime(valid["adjudicated_at"], utc=True).astype("datetime64[us, UTC]")
    positions = sorted(failures)
    quarantined = intake.iloc[positions].copy().reset_index(drop=True)
    quarantined["reason"] = pd.Series([str(failures[p][0]) for p in positions], dtype=object)
    quarantined["detail"] = pd.Series([failures[p][1] for p in positions], dtype=object)
    return valid, quarantined
