"""The drift reference of a model on declared records without text (a tabular use case), as plain JSON.

A model watched in production needs what it was validated on: per declared column, the training records' bins,
missing and range (``core.tabular_drift``), and, as for text, the held-out split's score distribution, REVIEW share
and subgroup mix, plus a bounded sample of the records the model was developed on for a domain classifier
(core.record_domain). That sample is drawn from every split, not the test split alone: splits keep whole groups, and
with a few dozen products the test split holds a quarter of them, so steady batches of all products were told from a
test-split sample with AUROC up to 0.69 (z 10), from a sample of every split with 0.45-0.55 (4 seeds x 5 batches).
The stored form is a plain dict with ``kind`` and ``schema`` (``REFERENCE_KIND``, ``REFERENCE_SCHEMA``), so that
scoring tells it from the text reference (``core.drift.DriftReference``, which has neither) and reads it with
``RecordReference.from_dict``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gxp_assets.core.conformal import Triage
from gxp_assets.core.domain_shift import DOMAIN_SAMPLE_ROWS
from gxp_assets.core.drift_stats import bin_counts, quantile_edges, shares
from gxp_assets.core.features import FeatureSpec
from gxp_assets.core.hashing import canonical_json, sha256_hex
from gxp_assets.core.record_contract import numeric_values
from gxp_assets.core.tabular_drift import TabularReference, build_tabular_reference

REFERENCE_KIND = "records"
REFERENCE_SCHEMA = 1
MISSING_SUBGROUP = "(missing)"  # core.drift's name for a record without a source


@dataclass(frozen=True)
class RecordSample:
    """Development records' declared feature columns, numbers parsed (None: missing), for a domain classifier."""

    columns: tuple[str, ...]
    rows: tuple[tuple[float | str | None, ...], ...]

    def frame(self) -> pd.DataFrame:
        """The sample as records (numeric columns as floats), ready for ``core.features.featurize``."""
        return pd.DataFrame(list(self.rows), columns=list(self.columns))


@dataclass(frozen=True)
class RecordReference:
    """What a batch of records is compared with; see the module docstring and ``to_dict`` for the stored shape."""

    feature_spec: FeatureSpec
    columns: TabularReference  # per declared numeric / categorical column, from the train split's records
    n_records: int  # held-out records behind the score, REVIEW and subgroup parts
    score_edges: tuple[float, ...]  # inner edges of the model's raw scores; bins (-inf, e0), ..., [e_last, inf)
    score_shares: tuple[float, ...]
    review_share: float
    source_shares: dict[str, float]  # the subgroup mix (core.drift's name, so the output measures can be shared)
    sample: RecordSample = field(default_factory=lambda: RecordSample((), ()))

    @property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(self.to_dict()))

    def to_dict(self) -> dict:
        """Plain JSON types only (tuples as the lists JSON gives back), so the stored value equals this."""
        return _plain({
            "kind": REFERENCE_KIND,
            "schema": REFERENCE_SCHEMA,
            "feature_spec": self.feature_spec.to_dict(),
            "feature_spec_sha256": self.feature_spec.sha256,
            "columns": self.columns.to_dict(),
            "n_records": self.n_records,
            "score_edges": list(self.score_edges),
            "score_shares": list(self.score_shares),
            "review_share": self.review_share,
            "source_shares": dict(self.source_shares),
            "sample": {"columns": self.sample.columns, "rows": self.sample.rows},
        })  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> RecordReference:
        if values.get("kind") != REFERENCE_KIND or values.get("schema") != REFERENCE_SCHEMA:
            raise ValueError(
                f"not a records drift reference of schema {REFERENCE_SCHEMA}: kind {values.get('kind')!r}, "
                f"schema {values.get('schema')!r}"
            )
        spec = FeatureSpec.from_dict(values["feature_spec"])
        if spec.sha256 != values["feature_spec_sha256"]:
            raise ValueError(f"feature spec hashes to {spec.sha256}, the record says {values['feature_spec_sha256']}")
        sample = values["sample"]
        return cls(
            feature_spec=spec,
            columns=TabularReference.from_dict(values["columns"]),
            n_records=int(values["n_records"]),
            score_edges=tuple(float(edge) for edge in values["score_edges"]),
            score_shares=tuple(float(share) for share in values["score_shares"]),
            review_share=float(values["review_share"]),
            source_shares={str(key): float(share) for key, share in values["source_shares"].items()},
            sample=RecordSample(tuple(sample["columns"]), tuple(tuple(row) for row in sample["rows"])),
        )


def _plain(values: dict) -> dict:
    return json.loads(json.dumps(values, allow_nan=False))


def sample_values(records: pd.DataFrame, spec: FeatureSpec, decimal: str = ".") -> list[tuple[float | str | None, ...]]:
    """Each record's declared feature values as the sample keeps them: numeric columns first, parsed (None: missing),
    then categorical ones as text (None: missing or blank)."""
    values: list[list[float | str | None]] = []
    for column in spec.numeric_columns:
        numbers = numeric_values(records[column].tolist(), decimal)
        values.append([None if np.isnan(number) else float(number) for number in numbers])
    for column in spec.categorical_columns:
        values.append([None if pd.isna(cell) or not str(cell).strip() else str(cell) for cell in records[column]])
    return [tuple(row) for row in zip(*values, strict=True)] if values else []


def _sample(records: pd.DataFrame, spec: FeatureSpec, ids: Sequence[object], decimal: str, rows: int) -> RecordSample:
    """Up to ``rows`` records, chosen by a hash of their id (never by position or score), in their order."""
    if len(ids) != len(records):
        raise ValueError(f"{len(ids)} ids for {len(records)} sample records")
    keys = np.array([sha256_hex(str(value).encode()) for value in ids])
    chosen = np.sort(np.argsort(keys, kind="stable")[:rows])
    columns = (*spec.numeric_columns, *spec.categorical_columns)
    return RecordSample(columns, tuple(sample_values(records.iloc[chosen], spec, decimal)))


def build_record_reference(
    train_records: pd.DataFrame,
    held_out_records: pd.DataFrame,
    spec: FeatureSpec,
    raw_scores: np.ndarray,
    triage: Sequence[object],
    subgroups: Sequence[object],
    *,
    sample_records: pd.DataFrame,
    sample_ids: Sequence[object],
    decimal: str = ".",
    bins: int = 10,
    sample_rows: int = DOMAIN_SAMPLE_ROWS,
) -> RecordReference:
    """Columns from the train split's records; scores, triage and subgroups from a held-out split (pass the test
    split: its scores are out of sample, as a new batch's are); the domain sample from ``sample_records`` (pass every
    split's records, with their ids: the module docstring says why)."""
    scores = np.asarray(raw_scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0 or len(scores) != len(held_out_records):
        raise ValueError(f"{len(scores)} finite scores for {len(held_out_records)} held-out records")
    outcomes = pd.Series(list(triage), dtype=object).astype(str)
    sources = [MISSING_SUBGROUP if value is None or pd.isna(value) else str(value) for value in subgroups]
    edges = quantile_edges(scores, bins)
    columns = build_tabular_reference(train_records, spec.numeric_columns, spec.categorical_columns, bins, decimal)
    return RecordReference(
        feature_spec=spec,
        columns=columns,
        n_records=len(scores),
        score_edges=edges,
        score_shares=tuple(float(count) / len(scores) for count in bin_counts(scores, edges)),
        review_share=float((outcomes == Triage.REVIEW.value).mean()),
        source_shares=shares(Counter(sources)),
        sample=_sample(sample_records, spec, sample_ids, decimal, sample_rows),
    )
