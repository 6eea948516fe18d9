"""Human-readable copies of the audit trail for inspectors (21 CFR Part 11 §11.10(b) and (e)): CSV and HTML."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from gxp_assets.core.hashing import canonical_json
from gxp_assets.governance.audit import AuditEntry, utc_timestamp

CSV_COLUMNS = ("seq", "recorded_at", "actor", "printed_name", "action", "subject", "details", "details_readable",
               "prev_hash", "entry_hash")  # fmt: skip

# A spreadsheet runs a cell that starts with one of these as a formula; a free-text subject must not do that.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(text: str) -> str:
    """The text, with a leading apostrophe when a spreadsheet would otherwise evaluate it (CSV injection)."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _details_text(entry: AuditEntry) -> str:
    return canonical_json(entry.details).decode()


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested details as ``key.sub: value`` pairs, lists joined, for people who do not read JSON."""
    if isinstance(value, dict):
        pairs = []
        for key in value:
            pairs += _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(value, list) and all(not isinstance(item, dict | list) for item in value):
        return [(prefix, ", ".join(str(item) for item in value) or "none")]
    if isinstance(value, list):
        pairs = []
        for index, item in enumerate(value, start=1):
            pairs += _flatten(item, f"{prefix}[{index}]")
        return pairs
    return [(prefix, "none" if value is None else str(value))]


def readable_details(entry: AuditEntry) -> str:
    """The entry's details as one ``key: value`` line each (the exact JSON stays in the CSV and the trail)."""
    return "\n".join(f"{key}: {value}" for key, value in _flatten(entry.details)) or "none"


def printed_name(actor: str, names: Mapping[str, str]) -> str:
    """The printed name of a person in the roles file; system actors (sensors, schedules) say what they are."""
    if actor in names:
        return names[actor]
    return "(system)" if actor == "system" or ":" in actor else "(not in the roles file)"


def entries_for_version(entries: Iterable[AuditEntry], version: str) -> list[AuditEntry]:
    """Entries about one model version: its own (subject) and those whose details name it (scoring, alarms, ...)."""
    return [
        entry
        for entry in entries
        if entry.subject == version or any(value == version for _, value in _flatten(entry.details))
    ]


def export_csv(entries: Iterable[AuditEntry], names: Mapping[str, str] | None = None) -> str:
    """All fields of every entry, one row each, with the actor's printed name and the details both readable and as
    canonical JSON.

    Text cells a spreadsheet would evaluate as formulas get a leading apostrophe; the SQLite trail and the HTML copy
    keep the exact text.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                entry.seq,
                entry.recorded_at,
                _csv_cell(entry.actor),
                _csv_cell(printed_name(entry.actor, names or {})),
                _csv_cell(entry.action),
                _csv_cell(entry.subject),
                _csv_cell(_details_text(entry)),
                _csv_cell(readable_details(entry)),
                entry.prev_hash,
                entry.entry_hash,
            ]
        )
    return buffer.getvalue()


def _hash_cell(digest: str) -> str:
    return f'<td class="hash"><abbr title="{escape(digest, quote=True)}">{escape(digest[:12])}…</abbr></td>'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; }
.banner { padding: 0.8em 1em; border-radius: 4px; font-weight: 600; margin-bottom: 1em; }
.ok { background: #e6f4ea; border: 1px solid #1e7e34; }
.failed { background: #fdecea; border: 1px solid #b00020; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.details { white-space: pre-wrap; word-break: break-word; font-size: 0.95em; }
td.hash { font-family: monospace; }
"""


def export_html(
    entries: Iterable[AuditEntry],
    problems: list[str],
    generated_at: datetime | None = None,
    names: Mapping[str, str] | None = None,
    scope: str = "every entry",
) -> str:
    """A self-contained page (no scripts, no external resources): a verification banner, then the trail as a table.

    ``problems`` is what verification found (empty means the chain verified); every stored text is escaped.
    """
    rows = list(entries)
    stamp = utc_timestamp(generated_at if generated_at is not None else datetime.now(UTC))
    if problems:
        items = "".join(f"<li>{escape(problem)}</li>" for problem in problems)
        banner = (
            f'<div class="banner failed">Chain verification FAILED: {len(problems)} problem(s) found.'
            f"<ul>{items}</ul></div>"
        )
    else:
        banner = f'<div class="banner ok">Chain verified: {len(rows)} entries, intact.</div>'
    body = "".join(
        "<tr>"
        f"<td>{entry.seq}</td>"
        f"<td>{escape(entry.recorded_at)}</td>"
        f"<td>{escape(entry.actor)}</td>"
        f"<td>{escape(printed_name(entry.actor, names or {}))}</td>"
        f"<td>{escape(entry.action)}</td>"
        f"<td>{escape(entry.subject)}</td>"
        f'<td class="details">{escape(readable_details(entry))}</td>'
        f"{_hash_cell(entry.prev_hash)}{_hash_cell(entry.entry_hash)}"
        "</tr>\n"
        for entry in rows
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<title>Audit trail</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        "<h1>Audit trail</h1>\n"
        f"<p>Generated {escape(stamp)} (UTC); {escape(scope)}. Times are UTC; hover a hash for its full value. "
        "The exact details of each entry are in the CSV export and the trail.</p>\n"
        f"{banner}\n"
        "<table><thead><tr><th>Seq</th><th>Recorded at (UTC)</th><th>Actor</th><th>Printed name</th><th>Action</th>"
        "<th>Subject</th>"
        "<th>Details</th><th>Previous hash</th><th>Entry hash</th></tr></thead>\n"
        f"<tbody>\n{body}</tbody></table>\n"
        "</body></html>\n"
    )
