"""The array-at-a-time checks across records give what judging one record at a time, in intake order, gives.

The oracle below is the rule written plainly (dicts, one record per step); random batches with few distinct ids
and texts, missing labels and two files make every case common: ids repeated within and across chunks, texts kept,
duplicated, and conflicting in the same chunk or against an earlier one.
"""

from __future__ import annotations

import random

import pytest

from gxp_assets.core.across_records import AcrossRecords
from gxp_assets.core.contracts import Reason
from gxp_assets.core.seen_records import Candidates, digest

Outcome = dict[int, tuple[Reason, str]]


def one_at_a_time(chunks: list[Candidates]) -> list[Outcome]:
    first_seen: dict[str, str] = {}
    texts: dict[bytes, list] = {}  # label bits, kept (report id, place) or None
    outcomes = []
    for found in chunks:
        failures: Outcome = {}
        fresh = []
        for row, report_id in enumerate(found.report_ids):
            place = f"{found.files[row]}:{found.lines[row]}"
            if report_id in first_seen:
                detail = f"report_id {report_id!r} was already received at {first_seen[report_id]}"
                failures[found.seqs[row]] = (Reason.DUPLICATE_REPORT_ID, detail)
            else:
                first_seen[report_id] = place
                fresh.append(row)
        chunk_bits: dict[bytes, int] = {}
        for row in fresh:
            if found.labels[row] is not None:
                key = found.text_keys[row]
                chunk_bits[key] = chunk_bits.get(key, 0) | 1 << found.labels[row]
        for row in fresh:
            seen = texts.setdefault(found.text_keys[row], [0, None])
            seen[0] |= chunk_bits.get(found.text_keys[row], 0)
            if seen[0] == 0b11:
                detail = "the same text was received with labels 0 and 1"
                if seen[1] is not None:
                    detail += f"; report {seen[1][0]!r} ({seen[1][1]}) with it was passed as valid in an earlier chunk"
                failures[found.seqs[row]] = (Reason.CONFLICTING_LABELS, detail)
            elif seen[1] is None:
                seen[1] = (found.report_ids[row], f"{found.files[row]}:{found.lines[row]}")
            else:
                detail = f"same text as report {seen[1][0]!r} ({seen[1][1]}), which is kept"
                failures[found.seqs[row]] = (Reason.DUPLICATE_TEXT, detail)
        outcomes.append(failures)
    return outcomes


def random_batch(rng: random.Random) -> list[Candidates]:
    chunks, seq = [], 0
    for _ in range(rng.randint(1, 5)):
        size = rng.randint(0, 30)
        ids = [f"r{rng.randint(0, 25)}" for _ in range(size)]
        texts = [f"t{rng.randint(0, 8)}" for _ in range(size)]
        labels = [rng.choice([0, 1, None, 0, 1]) for _ in range(size)]
        files = [rng.choice(["a.csv", "b.csv"]) for _ in range(size)]
        lines = [rng.randint(2, 99) for _ in range(size)]
        chunks.append(Candidates(list(range(seq, seq + size)), ids, [digest(i) for i in ids],
                                 [digest(t) for t in texts], labels, files, lines))  # fmt: skip
        seq += size
    return chunks


@pytest.mark.parametrize("seed", range(40))
def test_checks_across_records_match_the_one_at_a_time_rule(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(10):
        chunks = random_batch(rng)
        across = AcrossRecords()
        assert [across.check(found) for found in chunks] == one_at_a_time(chunks)
