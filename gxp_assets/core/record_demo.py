"""Demo data of a use case declared by records: the generators a declaration may name in ``demo.generator``.

A generator writes two files in the use case's declared file format: labelled records to train on, and a newer
batch to score whose laboratory result (the label) is not there yet. Both are synthetic and deterministic for a
seed, apart from one thing: the records' times are moved by whole days so that the newest batch ends in the day before
``now`` (validation quarantines a time in the future), which is what a demo run on any day needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gxp_assets.core.batch_records import generate_batch_records, write_batch_records

#: A scored batch of the demo holds one record with a level the declaration does not list (scored, sent to REVIEW).
NEW_SUPPLIER = "SUP-N"
BATCH_SPOILT = 3  # cells spoilt in the scored batch, one of each kind (quarantined with their reasons)
TRAINING_SPOILT = 6


@dataclass(frozen=True)
class DemoRecords:
    training: Path
    batch: Path
    training_records: int
    batch_records: int


def tablet_batch_records(folder: Path, records: int, batch_records: int, seed: int, now: datetime) -> DemoRecords:
    """core.batch_records: the first ``records`` batches labelled (a few cells spoilt), the next ``batch_records``
    without their dissolution result, one of them from a new excipient supplier."""
    frame = generate_batch_records(records + batch_records, seed, manufactured_until=now)
    training, batch = folder / "training-batch-records.csv", folder / "batch-records-to-score.csv"
    write_batch_records(training, frame.iloc[:records], bad_rows=TRAINING_SPOILT, seed=seed)
    incoming = frame.iloc[records:].drop(columns=["dissolution_pct"])
    incoming.loc[incoming.index[0], "excipient_supplier"] = NEW_SUPPLIER
    write_batch_records(batch, incoming, bad_rows=BATCH_SPOILT, seed=seed + 1)
    return DemoRecords(training, batch, records, batch_records)


DemoGenerator = Callable[[Path, int, int, int, datetime], DemoRecords]
#: The generators a use-case declaration may name (``demo.generator``).
DEMO_GENERATORS: dict[str, DemoGenerator] = {"batch_records": tablet_batch_records}


def write_demo_records(
    generator: str, folder: Path, records: int, batch_records: int, seed: int, now: datetime
) -> DemoRecords:
    """The named generator's two files in ``folder`` (created)."""
    if generator not in DEMO_GENERATORS:
        raise ValueError(f"no demo generator {generator!r} (registered: {', '.join(sorted(DEMO_GENERATORS))})")
    folder.mkdir(parents=True, exist_ok=True)
    return DEMO_GENERATORS[generator](folder, records, batch_records, seed, now)
