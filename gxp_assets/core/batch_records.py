"""Synthetic tablet batch records: the demo data of the tabular ``dissolution_risk`` use case.

Everything here is made up. One row is one manufactured batch of an immediate-release film-coated tablet: its
product code (the group: batches of one product share formulation and API source, so they stay on one side of a
split), site and compression line, the time manufacture ended (UTC), process parameters and raw-material attributes
in the units a batch record states them, and the laboratory result ``dissolution_pct``: % of label claim dissolved
at 30 min. The specification is at least 80 %; a batch below it is a failure (the positive class).

The mechanism that makes a failure (documented here so that a model, and a reviewer of its explanations, can be
checked against it), in % dissolved:

    dissolution = product level                       per product ~ N(86, 1.5): formulation and API source
                  - 12.0 * (mgst_pct - 0.75) * (lubricant_blend_time_min / 4)
                                                     over-lubrication: magnesium stearate coats the granules with a
                                                     hydrophobic film that grows with its level and blending time
                  - 0.08 * (tablet_hardness_n - 110)   harder tablets disintegrate more slowly
                  - 0.12 * (api_d50_um - 40)          coarse API: less surface area (Noyes-Whitney)
                  - 2.5  if excipient_supplier is SUP-C   a filler grade that swells less
                  + noise ~ N(0, 2.0)                 analytical and unexplained batch variation

Hardness itself follows compression force (+6 N per kN above the product's target) and granulation moisture
(+10 N per % above 2.5 %). API assay, coating time, line and site play no part: a model should learn to ignore them.
About 10 % of batches fail on average over seeds; the product levels and targets are drawn too, so one seed
gives 5 to 15 % (``FAILURE_BAND``) in 97 of the first 100 seeds at 1,000 batches and 93 of 100 at 300.

Randomness comes only from the raw 64-bit stream of NumPy's PCG64 bit generator, which NumPy keeps stable across
releases (the distributions of ``numpy.random.Generator`` may change between versions); normals come from it by
Box-Muller and every value is rounded to the decimals it is written with, so one seed gives the same bytes anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

SPECIFICATION_MIN_PCT = 80.0  # % dissolved at 30 min; below it the batch fails
FAILURE_BAND = (0.05, 0.15)  # the share of failing batches of most seeds (module docstring)


@dataclass(frozen=True)
class NumericColumn:
    """A measured value as the batch record states it: unit, the valid range a record must lie in, decimals."""

    name: str
    unit: str
    valid_min: float
    valid_max: float
    decimals: int


NUMERIC_COLUMNS: tuple[NumericColumn, ...] = (
    NumericColumn("api_d50_um", "µm", 1.0, 250.0, 1),  # API particle size, median of the volume distribution
    NumericColumn("api_assay_pct", "% w/w", 95.0, 105.0, 1),  # API content of the raw material
    NumericColumn("granulation_moisture_pct", "% LOD", 0.0, 10.0, 2),  # loss on drying after granulation
    NumericColumn("mgst_pct", "% w/w", 0.1, 3.0, 2),  # magnesium stearate (lubricant) in the final blend
    NumericColumn("lubricant_blend_time_min", "min", 0.5, 30.0, 1),
    NumericColumn("compression_force_kn", "kN", 2.0, 50.0, 1),  # main compression force
    NumericColumn("tablet_hardness_n", "N", 20.0, 300.0, 1),  # breaking force, mean of 10 tablets
    NumericColumn("coating_time_min", "min", 10.0, 300.0, 1),  # film-coating spray time
)
CATEGORICAL_LEVELS: dict[str, tuple[str, ...]] = {
    "excipient_supplier": ("SUP-A", "SUP-B", "SUP-C"),  # microcrystalline cellulose supplier
    "line": ("L1", "L2", "L3"),
}
SITES: tuple[str, ...] = ("DE-MUC", "IE-COR", "IT-MIL")
COLUMNS: tuple[str, ...] = (
    "batch_id",
    "product_code",
    "site",
    "line",
    "manufactured_at",
    *(column.name for column in NUMERIC_COLUMNS),
    "excipient_supplier",
    "dissolution_pct",
)
BAD_KINDS: tuple[str, ...] = ("missing", "out_of_range", "wrong_decimal")

_MIN_BATCHES_PER_PRODUCT = 3
_LAST_END = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # the newest batch's end, unless moved (never in the future)
_DECIMALS = {column.name: column.decimals for column in NUMERIC_COLUMNS} | {"dissolution_pct": 1}


class _Stream:
    """Uniforms and normals from PCG64's raw 64-bit output, the one NumPy stream guaranteed across releases."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.PCG64(seed)

    def uniform(self, n: int) -> np.ndarray:
        """n values in [0, 1) with 53 random bits each."""
        return (self._bits.random_raw(n) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def normal(self, n: int, mean: float | np.ndarray = 0.0, sd: float = 1.0) -> np.ndarray:
        radius = np.sqrt(-2.0 * np.log1p(-self.uniform(n)))  # log1p(-u): u may be 0, 1 - u never is
        return mean + sd * radius * np.cos(2.0 * math.pi * self.uniform(n))

    def choice(self, n: int, levels: tuple[str, ...], weights: tuple[float, ...]) -> np.ndarray:
        edges = np.cumsum(weights) / sum(weights)
        picks = np.minimum(np.searchsorted(edges, self.uniform(n), side="right"), len(levels) - 1)
        return np.asarray(levels, dtype=object)[picks]


def _rounded(values: np.ndarray, low: float, high: float, decimals: int) -> np.ndarray:
    """Clipped to [low, high] and rounded to the decimals written, as the float that the written text parses to."""
    return np.array([float(f"{value:.{decimals}f}") for value in np.clip(values, low, high)], dtype=np.float64)


def _products(stream: _Stream, n_batches: int, n_products: int) -> np.ndarray:
    """Product index per batch: every product at least three times, the rest drawn, then all shuffled."""
    if n_products < 1 or n_batches < _MIN_BATCHES_PER_PRODUCT * n_products:
        raise ValueError(
            f"{n_batches} batches cannot give each of {n_products} products {_MIN_BATCHES_PER_PRODUCT} batches"
        )
    fixed = np.repeat(np.arange(n_products), _MIN_BATCHES_PER_PRODUCT)
    drawn = np.minimum((stream.uniform(n_batches - len(fixed)) * n_products).astype(np.int64), n_products - 1)
    products = np.concatenate([fixed, drawn])
    return products[np.argsort(stream.uniform(n_batches), kind="stable")]


def generate_batch_records(
    n_batches: int = 1000, seed: int = 0, n_products: int = 40, manufactured_until: datetime | None = None
) -> pd.DataFrame:
    """``n_batches`` batch records in manufacturing order (columns ``COLUMNS``), from the mechanism above.

    The newest batch ends on a fixed date in the past, however many there are; with ``manufactured_until`` every
    time moves by whole days so that the newest ends in the day before it (validation quarantines a time in the
    future, and a demo run on any day wants recent batches). Nothing else depends on the times."""
    stream = _Stream(seed)
    product = _products(stream, n_batches, n_products)
    # Per product: formulation targets and its dissolution level.
    level = stream.normal(n_products, 86.0, 1.5)
    d50_target = 25.0 + 35.0 * stream.uniform(n_products)
    mgst_target = 0.6 + 0.3 * stream.uniform(n_products)
    force_target = 10.0 + 10.0 * stream.uniform(n_products)
    hardness_target = 90.0 + 40.0 * stream.uniform(n_products)
    # Per batch: raw materials and process, each clipped to what a running process gives (inside the valid range).
    d50 = _rounded(stream.normal(n_batches, d50_target[product], 8.0), 8.0, 150.0, 1)
    assay = _rounded(stream.normal(n_batches, 100.0, 0.6), 98.0, 102.0, 1)
    moisture = _rounded(stream.normal(n_batches, 2.5, 0.5), 0.8, 5.0, 2)
    mgst = _rounded(stream.normal(n_batches, mgst_target[product], 0.15), 0.25, 2.0, 2)
    blend = _rounded(stream.normal(n_batches, 4.0, 1.2), 1.0, 12.0, 1)
    force = _rounded(stream.normal(n_batches, force_target[product], 2.5), 5.0, 35.0, 1)
    hardness_raw = hardness_target[product] + 6.0 * (force - force_target[product]) + 10.0 * (moisture - 2.5)
    hardness = _rounded(stream.normal(n_batches, hardness_raw, 8.0), 40.0, 250.0, 1)
    coating = _rounded(stream.normal(n_batches, 90.0, 12.0), 45.0, 180.0, 1)
    supplier = stream.choice(n_batches, CATEGORICAL_LEVELS["excipient_supplier"], (0.45, 0.35, 0.20))
    line = stream.choice(n_batches, CATEGORICAL_LEVELS["line"], (0.4, 0.35, 0.25))
    site = stream.choice(n_batches, SITES, (0.5, 0.3, 0.2))
    dissolution = (
        level[product]
        - 12.0 * (mgst - 0.75) * (blend / 4.0)
        - 0.08 * (hardness - 110.0)
        - 0.12 * (d50 - 40.0)
        - 2.5 * (supplier == "SUP-C")
        + stream.normal(n_batches, 0.0, 2.0)
    )
    minutes = np.cumsum(np.floor(stream.uniform(n_batches) * 10 * 60) + 2 * 60)  # 2 to 12 h between batch ends
    ended = pd.to_datetime(_LAST_END) - pd.to_timedelta(minutes[-1] - minutes, unit="min")
    if manufactured_until is not None:
        ended += timedelta(days=math.floor((manufactured_until - timedelta(days=1) - _LAST_END) / timedelta(days=1)))
    return pd.DataFrame(
        {
            "batch_id": [f"B26-{index + 1:05d}" for index in range(n_batches)],
            "product_code": [f"P-{101 + index}" for index in product],
            "site": site,
            "line": line,
            "manufactured_at": ended,
            "api_d50_um": d50,
            "api_assay_pct": assay,
            "granulation_moisture_pct": moisture,
            "mgst_pct": mgst,
            "lubricant_blend_time_min": blend,
            "compression_force_kn": force,
            "tablet_hardness_n": hardness,
            "coating_time_min": coating,
            "excipient_supplier": supplier,
            "dissolution_pct": _rounded(dissolution, 0.0, 105.0, 1),
        },
        columns=list(COLUMNS),
    )


def is_failure(dissolution_pct: pd.Series | np.ndarray) -> np.ndarray:
    """Below the specification: the positive class of the use case."""
    return np.asarray(dissolution_pct, dtype=np.float64) < SPECIFICATION_MIN_PCT


@dataclass(frozen=True)
class BadCell:
    """A cell spoilt on purpose in a written file, so that quarantine can be tested against a known answer."""

    row: int  # 0-based data row of the file (line row + 2)
    batch_id: str
    column: str
    kind: str  # one of BAD_KINDS
    cell: str  # the text written


def _spoil(kind: str, spec: NumericColumn, value: float) -> str:
    if kind == "missing":
        return ""
    if kind == "out_of_range":
        return _decimal_comma(spec.valid_max * 2 + 1, spec.decimals)
    return f"{value:.{spec.decimals}f}"  # a decimal point in a decimal-comma file


def _decimal_comma(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def format_batch_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a European batch-record export holds: decimal commas, UTC times with a Z. A frame
    without ``dissolution_pct`` (a batch whose laboratory result is not there yet) is written without it."""
    text = frame.astype(object).copy()
    for name, decimals in _DECIMALS.items():
        if name in frame:
            text[name] = [_decimal_comma(value, decimals) for value in frame[name]]
    text["manufactured_at"] = frame["manufactured_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def write_batch_records(path: Path, frame: pd.DataFrame, bad_rows: int = 0, seed: int = 0) -> list[BadCell]:
    """Write ``frame`` semicolon-separated with decimal commas (UTF-8, LF); spoil ``bad_rows`` rows, one numeric
    cell each, cycling through ``BAD_KINDS``; return the spoilt cells. Same inputs, same bytes."""
    if not 0 <= bad_rows <= len(frame):
        raise ValueError(f"bad_rows must be between 0 and the {len(frame)} rows, got {bad_rows}")
    text = format_batch_records(frame)
    stream = _Stream(seed + 1_000_003)  # another stream than the records' own for the same seed
    rows = np.sort(np.argsort(stream.uniform(len(frame)), kind="stable")[:bad_rows])
    columns = (stream.uniform(bad_rows) * len(NUMERIC_COLUMNS)).astype(np.int64)
    spoilt = []
    for number, (row, column) in enumerate(zip(rows.tolist(), columns.tolist(), strict=True)):
        spec, kind = NUMERIC_COLUMNS[column], BAD_KINDS[number % len(BAD_KINDS)]
        cell = _spoil(kind, spec, float(frame[spec.name].iat[row]))
        text.loc[text.index[row], spec.name] = cell
        spoilt.append(BadCell(row, str(frame["batch_id"].iat[row]), spec.name, kind, cell))
    path.write_bytes(text.to_csv(sep=";", index=False, lineterminator="\n").encode("utf-8"))
    return spoilt
