"""The numeric and categorical blocks of a feature matrix (core.features), the same in training and scoring.

A numeric column is one feature column of floats: numbers given as numbers are taken as they are, text is read by
core.record_contract.parse_number with the declared decimal mark (the reading validation checked), and a missing or
unreadable cell stays NaN, which LightGBM treats as missing (never as zero). Categorical columns share one block of
hashed ``column=value`` indicators, so a level never seen in training lands in a bucket the model has no use for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from gxp_assets.core.record_contract import numeric_values

if TYPE_CHECKING:
    from gxp_assets.core.features import FeatureSpec


def tabular_parts(batch: pd.DataFrame, spec: FeatureSpec, decimal: str = ".") -> list[sp.csr_matrix]:
    """The numeric columns (one each) and the hashed categorical block of ``batch``'s rows."""
    parts: list[sp.csr_matrix] = []
    for name in spec.numeric_columns:
        column = batch[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:  # text as written: the one reading validation uses, so "0,75" is 0.75 where "," is the mark
            values = np.asarray(numeric_values(column.tolist(), decimal), dtype=np.float64)
        # NaN stays explicit so that the model sees "missing", not zero.
        parts.append(sp.csr_matrix(values.reshape(-1, 1).astype(spec.dtype)))
    if spec.categorical_columns and len(batch):  # (sklearn's hasher raises StopIteration on no rows)
        tokens = [
            [f"{name}={value}" for name, value in zip(spec.categorical_columns, row, strict=True) if not pd.isna(value)]
            for row in batch[list(spec.categorical_columns)].astype(object).itertuples(index=False)
        ]
        hasher = FeatureHasher(n_features=spec.categorical_buckets, input_type="string", alternate_sign=False)
        parts.append(hasher.transform(tokens).tocsr().astype(spec.dtype))
    elif spec.categorical_columns:
        parts.append(sp.csr_matrix((0, spec.categorical_buckets), dtype=spec.dtype))
    return parts
