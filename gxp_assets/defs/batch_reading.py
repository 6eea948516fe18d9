"""How a use case's batch files are read and scored, chosen from its declaration: a use case that declares a text
feature reads reports (core.validation's report contract); any other reads its declared records
(core.record_scoring). Nothing here names a use case."""

from __future__ import annotations

from datetime import datetime, timedelta

from gxp_assets.core.batch_scoring import BatchReader, ReportReader
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.record_scoring import RecordReader
from gxp_assets.core.validation import ValidationRules
from gxp_assets.governance.use_case import UseCase


def batch_reader(
    declaration: UseCase, spec: FeatureSpec, rules: ValidationRules, encoding: str | None, scored_at: datetime
) -> BatchReader:
    """The reader of one batch (it keeps the batch's cross-chunk validation state). ``spec`` is the scoring model's
    own; ``rules`` and ``encoding`` apply to reports (records take the declared file format)."""
    if declaration.features.text:
        return ReportReader(spec, rules, scored_at, encoding)
    return RecordReader(declaration.record_contract(), spec, scored_at)


def regulatory_clock(declaration: UseCase, days: int | None = None) -> timedelta | None:
    """``days`` when given (run config), else the declared regulatory clock; None when neither: due_at stays empty."""
    if days is None and declaration.regulatory_clock is not None:
        days = declaration.regulatory_clock.days
    return timedelta(days=days) if days is not None else None
