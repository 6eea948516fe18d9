"""What several commands print the same way: a model's approvals, the PRIORITY queue, a report's scorings.

One function per view, so that `gxp registry show`, `gxp trace`, `gxp queue` and `gxp demo` agree line for line.
"""

from __future__ import annotations

import json

import pandas as pd

from gxp_assets.cli.common import number, showing, table, utc_time
from gxp_assets.governance.service import Governance
from gxp_assets.governance.signatures import Signature
from gxp_assets.stores.results_frames import row_use_case
from gxp_assets.stores.results_protocol import resubmission_note


def approval_rows(governance: Governance, version: str) -> list[tuple[str, str, str, str, str]]:
    """Each signature on a version: printed name, user id, time recorded by the system, meaning, reason."""
    times = {str(e.details.get("signature_id")): e.recorded_at for e in governance.audit.entries()
             if e.action == "signature" and e.subject == version}  # fmt: skip
    rows = []
    for stored in governance.registry.signatures(version):
        signature = Signature.from_dict(stored)
        when = times.get(signature.signature_id) or signature.signed_at
        rows.append((signature.printed_name, signature.user_id, utc_time(when), signature.meaning.value,
                     signature.reason))  # fmt: skip
    return rows


def print_approvals(governance: Governance, version: str, indent: str = "  ") -> None:
    rows = approval_rows(governance, version)
    if not rows:
        print(f"{indent}no signatures")
        return
    lines = table(["signed by", "user id", "time (recorded by the system)", "meaning", "reason"], rows)
    print("\n".join(indent + line for line in lines.splitlines()))


def _left(hours: float) -> tuple[str, str]:
    """Status and time to the due date, in days and hours: ('OVERDUE', '314 d 12 h') or ('due', '5 h')."""
    if hours != hours:  # NaN: no receipt time
        return "no clock", "-"
    whole = abs(round(hours))
    span = f"{whole // 24} d {whole % 24} h" if whole >= 24 else f"{whole} h"
    return ("OVERDUE", f"{span} ago") if hours < 0 else ("due", f"in {span}")


def print_queue(queue: pd.DataFrame, limit: int | None) -> None:
    """The PRIORITY queue as a table, earliest due first, with the truncation said out loud."""
    if queue.empty:
        print("the PRIORITY queue is empty")
        return
    overdue = int((queue["hours_left"] < 0).sum())
    print(f"{len(queue):,} PRIORITY report(s) awaiting adjudication, earliest due first"
          f"{f' ({overdue:,} OVERDUE)' if overdue else ''}:")  # fmt: skip
    shown = queue if limit is None else queue.head(limit)
    rows = []
    for row in shown.itertuples():
        status, left = _left(row.hours_left)
        text = " ".join(str(row.text).split())
        rows.append((status, utc_time(row.due_at), left, number(row.p_ae), row.report_id, row.source,
                     (text[:60] + "…" if len(text) > 60 else text) + resubmission_note(row.resubmitted)))  # fmt: skip
    print(table(["status", "due (UTC)", "when", "p(AE)", "report", "source", "text"], rows, right=[3]))
    print(showing(len(shown), len(queue)))


def print_scorings(scorings: pd.DataFrame, governance: Governance) -> None:
    """Each time a report was scored: batch, model and plan, triage and why, the words that moved its score, and
    the approvals under which that model was in force."""
    for row in scorings.itertuples():
        print(f"{row.report_id}: scored in batch {row.batch}{resubmission_note(row.resubmitted)}")
        print(f"  model {row.model_version}, plan {row.plan_version}, run {row.run_id[:8]}, at "
              f"{utc_time(row.scored_at)}; input SHA-256 {row.input_sha256[:12]} "
              f"({row.source_file}:{row.source_line}); use case "
              f"{row_use_case(row.use_case, row.model_version) or '-'}")  # fmt: skip
        print(f"  triage {row.triage}, prediction set {row.prediction_set}, p(AE) {number(row.p_ae)}")
        reason = row.triage_reason if isinstance(row.triage_reason, str) and row.triage_reason else None
        print(f"  why: {reason or 'no reason was recorded with this scoring'}")
        words = json.loads(row.explanation) if isinstance(row.explanation, str) and row.explanation else []
        if words:
            print("  explanation (words that moved the score): " + ", ".join(
                f"{entry['feature']} ({entry['contribution']:+.3f})" for entry in words))  # fmt: skip
        else:
            print("  explanation: none recorded (no word of the report moved the score)")
        model = governance.registry.get(row.model_version)
        if model is not None:
            plan = model.record.get("plan", {})
            print(f"  plan in force: {plan.get('plan_id')} {plan.get('version')} (SHA-256 "
                  f"{str(plan.get('sha256'))[:12]})")  # fmt: skip
            if "guarantee" in model.record:
                print(f"  guarantee: {model.record['guarantee']['statement']}")
            print(f"  approvals of model {row.model_version} ({model.state}):")
            print_approvals(governance, row.model_version, indent="    ")
