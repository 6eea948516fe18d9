"""The checks across records of one batch: duplicate report ids, conflicting labels, duplicate texts.

One chunk at a time, in intake order, against every earlier chunk. Each check is a few array operations over the
chunk's digests (no Python step per record), so the one place that must see the whole batch (the Spark driver, or
the in-process loop) stays a small part of the work; a Python step is taken only per failure, to word its detail.
"""

from __future__ import annotations

import numpy as np

from gxp_assets.core.contracts import Reason
from gxp_assets.core.seen_records import DIGEST, Candidates, DigestTable, Places, Strings

_BOTH_LABELS = 0b11  # label bits of a text: bit 0 for label 0, bit 1 for label 1

Failures = dict[int, tuple[Reason, str]]


class AcrossRecords:
    """What a batch has received so far, and the checks of the next chunk against it.

    Per distinct report id, where it was first received; per distinct text, its label bits and the record kept
    (-1: none, as when its labels conflict), keyed by 16-byte digests (core.seen_records).
    """

    def __init__(self) -> None:
        self._places = Places()
        self._ids = DigestTable(["place"])
        self._texts = DigestTable(["labels", "kept_place", "kept_id"])
        self._kept_ids = Strings()

    def check(self, found: Candidates) -> Failures:
        """Failures by intake_seq: duplicate ids first, then conflicting labels and duplicate texts among the
        records with a new id, each judged as a one-record-at-a-time pass in intake order would judge it."""
        places = np.asarray(self._places.places(found.files, found.lines), dtype=np.int64)
        failures: Failures = {}
        fresh = self._check_ids(found, places, failures)
        self._check_texts(found, places, fresh, failures)
        return failures

    def check_ids(self, found: Candidates, name: str, reason: Reason) -> Failures:
        """The duplicate-id check alone, for a declared record contract: an id already received in the batch (or
        earlier in the chunk) fails with ``reason``, its detail naming the id column ``name`` and the first place."""
        places = np.asarray(self._places.places(found.files, found.lines), dtype=np.int64)
        failures: Failures = {}
        self._check_ids(found, places, failures, name, reason)
        return failures

    def _check_ids(
        self,
        found: Candidates,
        places: np.ndarray,
        failures: Failures,
        name: str = "report_id",
        reason: Reason = Reason.DUPLICATE_REPORT_ID,
    ) -> np.ndarray:
        """Rows whose report id is new to the batch; the others fail, naming where the id was first received."""
        keys = np.array(found.id_keys, dtype=DIGEST)
        earlier = self._ids.slots(keys)
        _, first_index, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first_row = first_index[inverse.reshape(-1)]
        repeated = (earlier >= 0) | (first_row != np.arange(len(keys)))
        first_places = self._ids.columns["place"]
        for row in np.flatnonzero(repeated).tolist():
            first = int(first_places[earlier[row]]) if earlier[row] >= 0 else int(places[first_row[row]])
            failures[found.seqs[row]] = (
                reason,
                f"{name} {found.report_ids[row]!r} was already received at {self._places.text(first)}",
            )
        fresh = np.flatnonzero(~repeated)
        self._ids.add_rows(keys[fresh], places[fresh, None])
        return fresh

    def _check_texts(self, found: Candidates, places: np.ndarray, rows: np.ndarray, failures: Failures) -> None:
        """Among ``rows``: a text seen with both labels (in this chunk or before) conflicts in every record; else its
        first record in the batch is kept and later ones are duplicates of it."""
        keys = np.array(found.text_keys, dtype=DIGEST)[rows]
        labels = np.array([-1 if label is None else label for label in found.labels], dtype=np.int64)[rows]
        texts, first_index, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        bits = np.zeros(len(texts), dtype=np.int64)
        np.bitwise_or.at(bits, inverse, np.where(labels >= 0, np.left_shift(1, np.maximum(labels, 0)), 0))
        slots = self._texts.slots(texts)
        known = slots >= 0
        columns = self._texts.columns
        bits |= np.where(known, _at(columns["labels"], slots), 0)
        earlier_place = np.where(known, _at(columns["kept_place"], slots), -1)
        earlier_id = np.where(known, _at(columns["kept_id"], slots), -1)
        conflict = bits == _BOTH_LABELS
        keep = ~conflict & (earlier_place < 0)  # texts whose first record here is kept
        kept_place, kept_id = earlier_place.copy(), earlier_id.copy()
        kept_first = np.sort(first_index[keep])  # in intake order, so kept ids are numbered as received
        kept_place[keep] = places[rows[first_index[keep]]]
        numbers = self._kept_ids.extend([found.report_ids[row] for row in rows[kept_first].tolist()])
        kept_id[inverse[kept_first]] = numbers
        not_kept = ~keep[inverse] | (first_index[inverse] != np.arange(len(rows)))
        for position in np.flatnonzero(not_kept).tolist():
            text = inverse[position]
            if conflict[text]:
                failure = (Reason.CONFLICTING_LABELS, self._conflict_detail(earlier_place[text], earlier_id[text]))
            else:
                kept = f"{self._kept_ids.get(int(kept_id[text]))!r} ({self._places.text(int(kept_place[text]))})"
                failure = (Reason.DUPLICATE_TEXT, f"same text as report {kept}, which is kept")
            failures[found.seqs[rows[position]]] = failure
        columns["labels"][slots[known]] = bits[known]
        columns["kept_place"][slots[known]] = kept_place[known]
        columns["kept_id"][slots[known]] = kept_id[known]
        self._texts.add_rows(texts[~known], np.column_stack([bits, kept_place, kept_id])[~known])

    def _conflict_detail(self, kept_place: int, kept_id: int) -> str:
        detail = "the same text was received with labels 0 and 1"
        if kept_place < 0:
            return detail
        # Only a text without conflicting labels up to an earlier chunk has a record kept.
        kept = f"report {self._kept_ids.get(int(kept_id))!r} ({self._places.text(int(kept_place))})"
        return f"{detail}; {kept} with it was passed as valid in an earlier chunk"


def _at(column: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """``column[slot]`` where a slot is found, anything elsewhere (masked by the caller)."""
    return column[np.maximum(slots, 0)] if len(column) else np.zeros(len(slots), dtype=np.int64)
