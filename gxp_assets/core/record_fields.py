"""Fields of typed records (JSON Lines objects, Parquet rows) as the intake table keeps them.

The intake table holds text, as a CSV would. A typed record can say more than that, and two things it says are
kept rather than smoothed over: a contract field that must be a string holding something else (an object, a list,
a number, a boolean) is described in ``type_error`` instead of being passed on as its JSON text, and a name given
twice in one record (JSON keys, Parquet columns, also when they differ only in case or outer spaces) is a
malformed record instead of the last value silently winning.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from gxp_assets.core.contracts import STRING_FIELDS

_PREVIEW_CHARS = 40


class RepeatedKeyError(ValueError):
    """A JSON object that gives one key more than once."""


def field_name(name: object) -> str:
    """A column or key as the contract spells it: outer spaces trimmed, lower case."""
    return str(name).strip().lower()


def as_text(value: Any) -> str | None:
    """JSON and Parquet values as the strings a CSV would have held; validation types them."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.dumps(value, default=str, sort_keys=True)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bytes | bytearray):
        return "a binary value"
    return f"a {type(value).__name__}"


def type_problem(fields: dict[str, Any]) -> str | None:
    """The first contract field that must be a string (``STRING_FIELDS``) and holds another type, described."""
    for name in STRING_FIELDS:
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            preview = repr(bytes(value)) if isinstance(value, bytes | bytearray) else as_text(value) or ""
            shown = preview if len(preview) <= _PREVIEW_CHARS else preview[:_PREVIEW_CHARS] + "..."
            return f"{name} is {_kind(value)} ({shown}), not a string"
    return None


def repeated_names(names: Iterable[object]) -> list[str]:
    """Names that occur more than once once spelled as the contract does, each described with its spellings."""
    spellings: dict[str, list[str]] = {}
    for name in names:
        spellings.setdefault(field_name(name), []).append(str(name))
    return [
        f"{name!r} ({len(seen)} times{', as ' + ', '.join(map(repr, seen)) if len(set(seen)) > 1 else ''})"
        for name, seen in spellings.items()
        if len(seen) > 1
    ]


def unique_pairs(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: an object (at any depth) that repeats a key is refused."""
    if len(pairs) != len({key for key, _ in pairs}):
        counts = Counter(key for key, _ in pairs)
        raise RepeatedKeyError(", ".join(repr(key) for key, count in counts.items() if count > 1))
    return dict(pairs)
