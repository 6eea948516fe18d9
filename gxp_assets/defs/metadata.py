"""Small renderers for asset metadata, so that counts read the same everywhere in the UI."""

from __future__ import annotations

import base64

import pandas as pd
from dagster import MetadataValue


def count_table(values: pd.Series, name: str) -> MetadataValue:
    """A Markdown table of counts per value, largest first."""
    counts = values.fillna("(none)").astype(str).value_counts()
    rows = "\n".join(f"| {key} | {count:,} |" for key, count in counts.items())
    return MetadataValue.md(f"| {name} | records |\n|---|---|\n{rows}" if rows else f"no {name}")


def label_balance(labels: pd.Series) -> MetadataValue:
    known = labels.dropna()
    positives = int((known == 1).sum())
    return MetadataValue.json(
        {
            "AE (1)": positives,
            "no AE (0)": int((known == 0).sum()),
            "unlabelled": int(labels.isna().sum()),
            "AE share": round(positives / len(known), 4) if len(known) else None,
        }
    )


def embedded_png(name: str, png: bytes) -> MetadataValue:
    """A plot shown in the UI's metadata (Show Markdown), the PNG inlined as a data URI."""
    return MetadataValue.md(f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})")
