"""Files of a declared record contract: read with the declared format, validated, reconciled, in one call.

Reading is the report loaders' machinery (core.loaders: streamed blocks, the decoding rules, bad bytes kept as
surrogate escapes and quarantined as ``invalid_encoding``, a malformed row quarantined, never dropped) with the
declared delimiter and encoding; every cell stays the string it was, and only validation types it, with the
declared decimal mark. :func:`validated_records` is what a Dagster asset calls: intake, valid records and
quarantine rows of a file or folder, the reconciliation checked, and a clear :class:`NoValidRecordsError` (naming
the quarantine reasons with their counts) when nothing is valid, before anything featurizes zero rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from gxp_assets.core.loaders import contract_files, iter_intake_chunks
from gxp_assets.core.record_contract import FileFormat, RecordContract
from gxp_assets.core.record_validation import RecordValidator, Stage
from gxp_assets.core.validation import reconcile

CHUNK_RECORDS = 50_000


def read_record_chunks(
    path: Path, file_format: FileFormat, chunk_records: int = CHUNK_RECORDS
) -> Iterator[pd.DataFrame]:
    """The intake of one file or a folder's files (in name order), ``chunk_records`` at a time, every cell a string
    (or None where a malformed row gave none); ``intake_seq`` runs on across files."""
    offset = 0  # records of the files before
    for file in contract_files(Path(path)):
        count = 0
        for chunk in iter_intake_chunks(file, file_format.encoding, chunk_records, delimiter=file_format.delimiter,
                                        fields=()):  # fmt: skip
            if offset:
                chunk["intake_seq"] += offset
                chunk.index = chunk.index + offset
            count += len(chunk)
            yield chunk
        offset += count


def read_records(path: Path, file_format: FileFormat) -> pd.DataFrame:
    """The whole intake of a file or folder in one table."""
    return pd.concat(list(read_record_chunks(path, file_format)), ignore_index=True)


@dataclass(frozen=True)
class ValidatedRecords:
    intake: pd.DataFrame
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # what the intake as a whole suggests (a wrong delimiter, say)


def validated_records(
    path: Path, contract: RecordContract, stage: Stage, now: datetime, chunk_records: int = CHUNK_RECORDS
) -> ValidatedRecords:
    """Read, validate and reconcile; raise :class:`NoValidRecordsError` when no record is valid, and RuntimeError
    when a record is lost or counted twice (which would be a bug, never a data problem)."""
    validator = RecordValidator(contract, stage, now)
    intakes, valid, quarantined = [], [], []
    for chunk in read_record_chunks(path, contract.file_format, chunk_records):
        result = validator.validate(chunk)
        intakes.append(chunk)
        valid.append(result.valid)
        quarantined.append(result.quarantined)
    records = ValidatedRecords(
        pd.concat(intakes, ignore_index=True),
        pd.concat(valid, ignore_index=True),
        pd.concat(quarantined, ignore_index=True),
        list(validator.tally.notes),
    )
    if problems := reconcile(records.intake, records.valid, records.quarantined):
        raise RuntimeError(f"{path}: records in != valid + quarantined: {'; '.join(problems)}")
    validator.require_valid()
    return records
