"""HTML building blocks of the validation report: tolerant value formatting, tables, and a tiny Markdown renderer.

Kept apart from the report's sections so each file stays about one thing; no scripts, every text escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

NA = "n/a"


# Tolerant access: a record from an older or damaged store must still print, showing what is missing. -------------


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """Escaped text of any stored value; None is "n/a", booleans read as words."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value))


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value)
    return f"{100 * value:.1f} %"


def _utc(value: Any) -> str:
    """An ISO 8601 time as "YYYY-MM-DD HH:MM:SS UTC"; a time without a zone is shown as given and flagged."""
    if not isinstance(value, str):
        return _text(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"{escape(value)} (not an ISO 8601 time)"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"{escape(value)} (no time zone recorded)"
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _verdict(passed: Any) -> str:
    """PASS only for an explicit True: an unknown verdict fails closed."""
    return '<span class="pass">PASS</span>' if passed is True else '<span class="fail">FAIL</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], empty: str = NA, numeric: Iterable[int] = ()) -> str:
    """A table of already-escaped cells (``numeric`` columns right-aligned); ``empty`` when there are no rows."""
    right = set(numeric)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{cell}</td>' if i in right else f"<td>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>\n"
        for row in rows
    )
    if not body:
        return f"<p>{escape(empty)}</p>\n"
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    return f"<table><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n"


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of label and already-escaped value."""
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{value}</td></tr>\n" for label, value in pairs)
    return f'<table class="facts"><tbody>\n{rows}</tbody></table>\n'


def _section(anchor: str, title: str, body: str, first: bool = False) -> str:
    klass = "major first" if first else "major"
    return f'<section class="{klass}" id="{anchor}">\n<h2>{escape(title)}</h2>\n{body}</section>\n'


# A tiny Markdown renderer for the model card: headings, paragraphs, "- " lists, pipe tables, `code`. --------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*[-*]\s+(.*)$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _inline(text: str) -> str:
    """Escape first, then turn backtick spans into <code>: the content of a span is escaped like any other text."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _table_cells(line: str) -> list[str]:
    stripped = line.strip()
    stripped = stripped[1:] if stripped.startswith("|") else stripped
    stripped = stripped[:-1] if stripped.endswith("|") else stripped
    return [cell.strip() for cell in stripped.split("|")]


def _markdown_table(lines: list[str]) -> str:
    if len(lines) >= 2 and _TABLE_RULE.match(lines[1]):
        header, body = _table_cells(lines[0]), lines[2:]
    else:
        header, body = [], lines
    head = "<thead><tr>" + "".join(f"<th>{_inline(cell)}</th>" for cell in header) + "</tr></thead>" if header else ""
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in _table_cells(line)) + "</tr>\n" for line in body
    )
    return f"<table>{head}\n<tbody>\n{rows}</tbody></table>\n"


def render_markdown(text: str, heading_offset: int = 0) -> str:
    """Simple Markdown as escaped HTML; ``heading_offset`` demotes headings so a card's "#" nests under a section."""
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>\n")
            paragraph.clear()
        if items:
            out.append("<ul>\n" + "".join(f"<li>{_inline(item)}</li>\n" for item in items) + "</ul>\n")
            items.clear()
        if table:
            out.append(_markdown_table(table))
            table.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            flush()
        elif heading := _HEADING.match(line):
            flush()
            level = min(6, len(heading.group(1)) + heading_offset)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>\n")
        elif line.lstrip().startswith("|"):
            if not table:
                flush()
            table.append(line)
        elif item := _LIST_ITEM.match(line):
            if not items:
                flush()
            items.append(item.group(1))
        elif items and raw[:1].isspace():
            items[-1] += " " + line.strip()  # a wrapped list item
        else:
            if not paragraph:
                flush()
            paragraph.append(line.strip())
    flush()
    return "".join(out)
