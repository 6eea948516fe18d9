"""Declared records (a use case without text) as core.batch_scoring scores them: :class:`RecordReader`.

A record maps onto the results contract (core.contracts.SCORED_COLUMNS) from its declaration: ``report_id`` is the
id column, ``document_id`` the group column, ``source`` the subgroup column (empty when none is declared),
``received_at`` the time column (empty when none), ``due_at`` ``received_at`` plus the declared regulatory clock
(empty when the declaration has none: ``ScoringStamp.regulatory_clock`` is then None), ``product`` empty (the
record contract names no product; a product code is the group), ``input_sha256`` the hash of the raw line.

``text`` holds a canonical rendering of the record's declared features, ``column=value unit; ...`` in declaration
order, numbers as validation parsed them (so a decimal-comma file and a decimal-point file of one record give one
text), a missing value as ``(missing)``. Not empty, because the results store keeps no other copy of what was
scored, and the review console and the positive-outcome list show ``text`` to the person who decides; the raw line
itself stays provable by ``input_sha256``. It is never a model input.

Quarantine rows take the same mapping (the cells as received): ``report_id`` the id cell, ``document_id`` the group
cell, ``source`` the subgroup cell, ``received_at`` the time cell, ``label`` the label cell; the other cells stay
with the row (the results store folds them into its ``extra`` column) and ``raw`` keeps the line's bytes.

A categorical level the declaration does not list is kept at scoring (core.record_validation names it in
``unknown_levels``): the record is scored, then routed to REVIEW with a reason naming column and level, whatever the
model said, because the model never saw that level and neither the guarantee nor a positive outcome speaks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gxp_assets.core.batch_scoring import SCORE_BLOCK_ROWS, ScoringStamp, scored_frame
from gxp_assets.core.conformal import Triage
from gxp_assets.core.contracts import REPORT_FIELDS
from gxp_assets.core.features import FeatureSpec, featurize
from gxp_assets.core.record_contract import RecordContract
from gxp_assets.core.record_drift import RecordDriftAccumulator
from gxp_assets.core.record_files import read_record_chunks
from gxp_assets.core.record_reference import RecordReference
from gxp_assets.core.record_validation import UNKNOWN_LEVELS_COLUMN, RecordValidator
from gxp_assets.core.scoring import TriageModel
from gxp_assets.core.validation import ValidationResult

MISSING = "(missing)"
UNKNOWN_LEVEL_REASON = "unknown level"


def rendered_records(valid: pd.DataFrame, contract: RecordContract) -> list[str]:
    """Each record's declared features as ``column=value unit; ...`` (the module docstring says why)."""
    parts: list[list[str]] = [[] for _ in range(len(valid))]
    for column in contract.numeric:
        for row, value in enumerate(valid[column.name].to_numpy(dtype=np.float64)):
            shown = MISSING if np.isnan(value) else f"{np.format_float_positional(value, trim='-')} {column.unit}"
            parts[row].append(f"{column.name}={shown}")
    for category in contract.categorical:
        for row, cell in enumerate(valid[category.name].tolist()):
            parts[row].append(f"{category.name}={MISSING if cell is None or pd.isna(cell) else cell}")
    return ["; ".join(row) for row in parts]


def contract_quarantine(quarantined: pd.DataFrame, contract: RecordContract) -> pd.DataFrame:
    """Quarantine rows of declared records under the report contract's field names (the module docstring)."""
    parts = {"report_id": contract.id_column, "document_id": contract.group_column,
             "source": contract.subgroup_column, "received_at": contract.time_column,
             "label": contract.label_column}  # fmt: skip
    frame = quarantined.rename(columns={column: field for field, column in parts.items() if column})
    for field in REPORT_FIELDS:
        if field not in frame.columns:
            frame[field] = None
    return frame


def route_unknown_levels(predictions: pd.DataFrame, unknown: pd.Series) -> pd.DataFrame:
    """Records holding an undeclared level go to REVIEW, the reason naming each ``column=level``."""
    held = unknown.notna().to_numpy()
    if not held.any():
        return predictions
    out = predictions.copy()
    was = out.loc[held, "triage"].tolist()
    reasons = out.loc[held, "triage_reason"].tolist()
    out.loc[held, "triage"] = Triage.REVIEW.value
    out.loc[held, "triage_reason"] = [
        f"{UNKNOWN_LEVEL_REASON} {levels} (not declared; the model never saw it): REVIEW, not {old} (conformal: "
        f"{reason})"
        for levels, old, reason in zip(unknown[held].tolist(), was, reasons, strict=True)
    ]
    return out


@dataclass
class RecordReader:
    """Files of a declared record contract, validated at the scoring stage, featurized with the declared spec."""

    contract: RecordContract
    spec: FeatureSpec
    scored_at: datetime
    block_rows: int = SCORE_BLOCK_ROWS

    def __post_init__(self) -> None:
        self._validator = RecordValidator(self.contract, "scoring", self.scored_at)

    def chunks(self, path: Path, chunk_records: int) -> Iterator[pd.DataFrame]:
        return read_record_chunks(path, self.contract.file_format, chunk_records)

    def validate(self, intake: pd.DataFrame) -> ValidationResult:
        result = self._validator.validate(intake)
        return ValidationResult(result.valid, contract_quarantine(result.quarantined, self.contract))

    def score_block(
        self, valid: pd.DataFrame, origin: pd.DataFrame, model: TriageModel, stamp: ScoringStamp, explain_top_k: int
    ) -> tuple[pd.DataFrame, sp.csr_matrix]:
        contract, n = self.contract, len(valid)
        features = featurize(valid, self.spec)  # validation typed the numbers, so no decimal mark is needed here
        empty = pd.Series([None] * n, dtype=object)
        subgroups = valid[contract.subgroup_column] if contract.subgroup_column else empty
        scored = model.score(features, subgroups.to_numpy(dtype=object), explain_top_k=explain_top_k)
        received = valid[contract.time_column] if contract.time_column else pd.Series([pd.NaT] * n)
        predictions = scored_frame(stamp, scored, origin, valid["intake_seq"], {
            "report_id": valid[contract.id_column], "document_id": valid[contract.group_column], "source": subgroups,
            "text": pd.Series(rendered_records(valid, contract), dtype=object), "product": empty,
            "received_at": received,
        })  # fmt: skip
        return route_unknown_levels(predictions, valid[UNKNOWN_LEVELS_COLUMN]), features

    def drift(self, reference: RecordReference) -> RecordDriftAccumulator:
        return RecordDriftAccumulator(reference)
