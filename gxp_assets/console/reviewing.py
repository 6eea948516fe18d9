"""The reviewer's day: the work queue (PRIORITY and REVIEW across batches), a report with why it was triaged so, and
adjudication through the same checks and store the landing-zone path uses (core.adjudications + the results store).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

import pandas as pd

from gxp_assets.core.adjudications import validate_adjudications
from gxp_assets.governance.service import Governance
from gxp_assets.stores.results_frames import row_use_case
from gxp_assets.stores.results_protocol import QueueFilter, ResultsStore

QUEUE_LEVELS = ("PRIORITY", "REVIEW")
#: Where a console adjudication says it came from (the landing path names its file here).
CONSOLE_SOURCE = "review-console"


#: Reports per queue page.
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueChoice:
    """What the queue page was asked for, as typed in its form: filters and the page (1-based)."""

    source: str = ""
    batch: str = ""
    due_before: str = ""  # YYYY-MM-DD (UTC), inclusive
    page: int = 1
    use_case: str = ""  # one use case's reports; empty: every use case's

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> QueueChoice:
        """The form's fields; a malformed page number or date is refused (ValueError), not guessed."""
        due = params.get("due_before", "").strip()
        if due:
            date.fromisoformat(due)
        page = params.get("page", "1").strip() or "1"
        if not page.isdigit() or int(page) < 1:
            raise ValueError(f"page must be a number from 1, not {page!r}")
        return cls(params.get("source", "").strip(), params.get("batch", "").strip(), due, int(page),
                   params.get("use_case", "").strip())  # fmt: skip

    def store_filter(self) -> QueueFilter:
        due = datetime.combine(date.fromisoformat(self.due_before) + timedelta(days=1), time(), UTC) \
            if self.due_before else None  # fmt: skip
        return QueueFilter(self.source or None, self.batch or None, due, self.use_case or None)

    def link(self, page: int) -> str:
        """The URL of another page with the same filters."""
        return "/queue?" + urlencode({"source": self.source, "batch": self.batch, "due_before": self.due_before,
                                      "use_case": self.use_case, "page": page})  # fmt: skip


#: Matching reports are counted up to this many ("more than 1000"): counting further would read the whole queue.
COUNT_AT_MOST = 1000


@dataclass(frozen=True)
class QueuePage:
    rows: pd.DataFrame
    matching: int  # counted up to COUNT_AT_MOST
    more: bool  # more than ``matching`` match

    @property
    def pages(self) -> int:
        return max(1, -(-self.matching // PAGE_SIZE))


def queue_page(results: ResultsStore, choice: QueueChoice, now: datetime) -> QueuePage:
    """One page of PRIORITY and REVIEW reports nobody has adjudicated, earliest due first, filtered in the store."""
    where = choice.store_filter()
    offset = (choice.page - 1) * PAGE_SIZE
    counted = results.queue_size(QUEUE_LEVELS, where, at_most=max(COUNT_AT_MOST, offset + PAGE_SIZE) + 1)
    rows = results.priority_queue(now, QUEUE_LEVELS, where, limit=PAGE_SIZE, offset=offset)
    shown = max(COUNT_AT_MOST, offset + PAGE_SIZE)
    return QueuePage(rows, min(counted, shown), counted > shown)


def latest_scoring(results: ResultsStore, report_id: str, use_case: str | None = None) -> dict | None:
    """The report's latest scoring (in ``use_case`` when given), with its use case (``case``) read as the store does
    for rows stored before the column."""
    scorings = results.find_report(report_id, use_case=use_case)
    if scorings.empty:
        return None
    latest = scorings.iloc[-1].to_dict()
    return latest | {"case": row_use_case(latest.get("use_case"), latest.get("model_version"))}


def explanation(scoring: dict) -> list[dict]:
    raw = scoring.get("explanation")
    return json.loads(raw) if isinstance(raw, str) and raw else []


def highlighted(text: str, words: list[dict]) -> list[tuple[str, float | None]]:
    """The text cut into pieces, each with the contribution of the explanation term it shows (None: plain text).
    The template escapes every piece, so a hostile text stays text."""
    weights = {str(w["feature"]).lower(): float(w["contribution"]) for w in words if str(w.get("feature", "")).strip()}
    if not weights:
        return [(text, None)]
    terms = sorted(weights, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(term).replace(r"\ ", r"\s+") for term in terms) + r")(?!\w)",
                         re.IGNORECASE)  # fmt: skip
    pieces: list[tuple[str, float | None]] = []
    last = 0
    for match in pattern.finditer(text):
        if match.start() > last:
            pieces.append((text[last:match.start()], None))
        pieces.append((match.group(0), weights.get(" ".join(match.group(0).lower().split()))))
        last = match.end()
    if last < len(text):
        pieces.append((text[last:], None))
    return pieces


def adjudicate(
    results: ResultsStore, governance: Governance, report_id: str, label: int, reason: str, user_id: str,
    now: datetime, use_case: str | None = None,
) -> str | None:  # fmt: skip
    """Record one person's verdict through the landing path's checks, in ``use_case`` (default: the use case of the
    report's latest scoring); the reason and verdict go to the audit trail. Returns why it was not accepted, or
    None."""
    if label not in (0, 1):
        return "the verdict is AE (1) or not AE (0)"
    if not reason.strip():
        return "an adjudication needs a reason"
    latest = latest_scoring(results, report_id, use_case)
    use_case = use_case or (latest or {}).get("case")
    if latest is not None and use_case is None:
        return f"report {report_id} was scored by {latest['model_version']}, which names no use case to judge it in"
    intake = pd.DataFrame([{"intake_seq": 0, "source_file": CONSOLE_SOURCE, "source_line": 1, "raw": b"",
                            "encoding": "utf-8", "parse_error": None, "encoding_error": None, "type_error": None,
                            "report_id": report_id, "label": str(label), "adjudicator": user_id,
                            "adjudicated_at": now.isoformat(timespec="microseconds")}])  # fmt: skip
    valid, quarantined = validate_adjudications(  # a report this use case never scored is refused
        intake, lambda ids: set(results.predictions(report_ids=ids, use_case=use_case)["report_id"]), now
    )
    if len(quarantined):
        why = f"{quarantined['reason'].iloc[0]}: {quarantined['detail'].iloc[0]}"
        governance.audit.append(user_id, "refusal", report_id, {"code": "adjudication_refused", "message": why})
        return why
    assert use_case is not None  # a report some use case scored (else quarantined above)
    results.record_adjudications(valid, use_case)
    governance.audit.append(user_id, "adjudication", report_id, {"use_case": use_case,
        "label": label, "verdict": "AE" if label else "not AE", "reason": reason.strip(),
        "adjudicated_at": now.isoformat(timespec="microseconds"), "source_file": CONSOLE_SOURCE,
        "printed_name": governance.roles.user(user_id).printed_name if governance.roles.user(user_id) else user_id,
    })  # fmt: skip
    return None
