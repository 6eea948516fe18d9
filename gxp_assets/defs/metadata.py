"""Small renderers for asset metadata, so that counts read the same everywhere in the UI."""

from __future__ import annotations

import base64
from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from gxp_assets.core.splits import SPLITS, SplitPlan
from gxp_assets.governance.use_case_schema import ClassNames


def count_table(values: pd.Series, name: str) -> MetadataValue:
    """A Markdown table of counts per value, largest first."""
    counts = values.fillna("(none)").astype(str).value_counts()
    rows = "\n".join(f"| {key} | {count:,} |" for key, count in counts.items())
    return MetadataValue.md(f"| {name} | records |\n|---|---|\n{rows}" if rows else f"no {name}")


def label_balance(labels: pd.Series, classes: ClassNames) -> MetadataValue:
    """Records per class, named as the use case declares its classes, and the positive share."""
    known = labels.dropna()
    positives = int((known == 1).sum())
    return MetadataValue.json(
        {
            f"{classes.positive} (1)": positives,
            f"{classes.negative} (0)": int((known == 0).sum()),
            "unlabelled": int(labels.isna().sum()),
            "positive share": round(positives / len(known), 4) if len(known) else None,
        }
    )


def embedded_png(name: str, png: bytes) -> MetadataValue:
    """A plot shown in the UI's metadata (Show Markdown), the PNG inlined as a data URI."""
    return MetadataValue.md(f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})")


#: Digits a person reads in the UI; the stored record (the asset's artifact) keeps every value exact.
DISPLAY_DIGITS = 4


def rounded(value: float | None, digits: int = DISPLAY_DIGITS) -> float | None:
    """A metric as people read it in the UI (0.9814, not 0.9814166208353836); None stays None."""
    return None if value is None or value != value else round(float(value), digits)


def _cell(value: object) -> str | int | float | bool | None:
    if isinstance(value, str):
        return str(value)  # a StrEnum (a registry state) as its plain text
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return rounded(value)
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    return str(value)


def records_table(rows: list[dict], columns: list[str] | None = None) -> MetadataValue:
    """Rows of dicts as Dagster table metadata (sortable in the UI), floats rounded for people."""
    names = columns or (list(rows[0]) if rows else [])
    kinds = {bool: "bool", int: "int", float: "float"}

    def kind(name: str) -> str:
        seen = {type(_cell(row.get(name))) for row in rows} - {type(None)}
        return kinds.get(seen.pop(), "string") if len(seen) == 1 else "string"

    schema = TableSchema(columns=[TableColumn(name, kind(name)) for name in names])
    return MetadataValue.table(
        records=[TableRecord({name: _cell(row.get(name)) for name in names}) for row in rows], schema=schema
    )


def split_table(splits: pd.DataFrame) -> MetadataValue:
    """Records, groups (documents, products: the grouping key) and positives per part of a split table (core.splits'
    columns), as the UI shows it."""
    rows = []
    for name in SPLITS:
        part = splits[splits["split"] == name]
        positives = int((part["label"] == 1).sum())
        share = positives / len(part) if len(part) else 0.0
        rows.append(f"| {name} | {len(part):,} | {part['document_id'].nunique():,} | {positives:,} | {share:.3f} |")
    header = "| split | records | groups | positives | positive share |\n|---|---|---|---|---|\n"
    return MetadataValue.md(header + "\n".join(rows))


def split_metadata(splits: pd.DataFrame, plan: SplitPlan) -> dict[str, Any]:
    """The metadata of a ``dataset_splits`` materialization: the seed and shares it was drawn with, and per part."""
    return {
        "seed": plan.seed,
        "proportions": MetadataValue.json({"train": plan.train, "calibration": plan.calibration, "test": plan.test}),
        "splits": split_table(splits),
        **{f"{name}_records": int((splits["split"] == name).sum()) for name in SPLITS},
    }
