"""Why records were quarantined, counted, and the clear stop when none is valid.

A file read with the wrong delimiter quarantines every record; featurizing, splitting or training zero rows then
fails far away with an error that names none of this (an empty ``HashingVectorizer`` raised StopIteration). The
stop belongs where validation ends: :func:`require_valid_records` (or :meth:`QuarantineTally.require_valid` for a
streamed intake) raises :class:`NoValidRecordsError` naming every reason with its count and a first example.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd

_EXAMPLE_CHARS = 160


class NoValidRecordsError(ValueError):
    """No record of an intake passed validation: nothing can be featurized, split or trained on."""


class QuarantineTally:
    """Quarantine reasons with counts and each reason's first example (file:line and detail), chunk by chunk."""

    def __init__(self) -> None:
        self.received = 0
        self.valid = 0
        self.reasons: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.notes: list[str] = []  # what the whole intake suggests (a header that looks ';'-separated, say)

    def add(self, received: int, valid: int, quarantined: pd.DataFrame) -> None:
        self.received += received
        self.valid += valid
        reasons = quarantined["reason"].astype(str).tolist()
        self.reasons.update(reasons)
        for row, reason in enumerate(reasons):
            if reason not in self.examples:
                place = f"{quarantined['source_file'].iat[row]}:{quarantined['source_line'].iat[row]}"
                self.examples[reason] = f"{place}: {str(quarantined['detail'].iat[row])[:_EXAMPLE_CHARS]}"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def message(self) -> str:
        """'0 of 1,000 records are valid; 1,000 quarantined: malformed_record 1,000 (e.g. b.csv:2: ...)', then notes."""
        quarantined = sum(self.reasons.values())
        parts = [
            f"{reason} {count:,} (e.g. {self.examples[reason]})"
            for reason, count in sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))
        ]
        text = f"{self.valid:,} of {self.received:,} records are valid; {quarantined:,} quarantined"
        text += f": {'; '.join(parts)}" if parts else ""
        return ". ".join([text, *(note[:1].upper() + note[1:] for note in self.notes)])

    def require_valid(self) -> None:
        """Raise :class:`NoValidRecordsError` when nothing passed, with the reasons and counts."""
        if self.valid == 0:
            if self.received == 0:
                raise NoValidRecordsError("0 records were received: the intake is empty")
            raise NoValidRecordsError(self.message())


def require_valid_records(
    received: int, valid: pd.DataFrame, quarantined: pd.DataFrame, notes: Sequence[str] = ()
) -> None:
    """:class:`NoValidRecordsError` when ``valid`` is empty, naming the quarantine reasons with their counts; call it
    where validation ends, before anything featurizes the valid records."""
    tally = QuarantineTally()
    tally.add(received, len(valid), quarantined)
    for text in notes:
        tally.note(text)
    tally.require_valid()
