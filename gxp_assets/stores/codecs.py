"""Open, deterministic file formats for artifacts: Parquet for tables, ``.npz`` for arrays, JSON for records.

Equal values give equal bytes, so an artifact's SHA-256 is a stable data version. No pickle: anyone can open
these files without our code, years from now.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class UnsupportedArtifact(TypeError):
    pass


def encode(value: Any) -> tuple[bytes, str]:
    """Bytes and file suffix for a DataFrame, a text, a mapping of numpy arrays, or a JSON-compatible mapping."""
    if isinstance(value, pd.DataFrame):
        return _parquet_bytes(value), ".parquet"
    if isinstance(value, str):  # a text format of its own, such as a LightGBM model
        return value.encode(), ".txt"
    if isinstance(value, Mapping) and value and all(isinstance(item, np.ndarray) for item in value.values()):
        return _npz_bytes(value), ".npz"
    if isinstance(value, Mapping | list):
        text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
        return (text + "\n").encode(), ".json"
    raise UnsupportedArtifact(
        f"cannot store a {type(value).__name__}: return a DataFrame, a dict of numpy arrays or a JSON dict"
    )


def decode(payload: bytes, suffix: str, members: Collection[str] | None = None) -> Any:
    """The value ``encode`` gave ``payload``; of a ``.npz``, only the arrays named in ``members`` when given (a
    reader that needs a matrix's row ids then skips copying out the matrix)."""
    if suffix == ".parquet":
        return _frame(pq.read_table(pa.BufferReader(payload)))
    if suffix == ".npz":
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            missing = set(members or ()) - set(arrays.files)
            if missing:
                raise KeyError(f"the .npz holds no array {sorted(missing)}: it holds {sorted(arrays.files)}")
            return {name: arrays[name] for name in arrays.files if members is None or name in members}
    if suffix == ".json":
        return json.loads(payload)
    if suffix == ".txt":
        return payload.decode()
    raise UnsupportedArtifact(f"no decoder for {suffix!r}")


def summary(value: Any) -> dict[str, Any]:
    """A few numbers for the materialization's metadata."""
    if isinstance(value, pd.DataFrame):
        return {"rows": len(value), "columns": len(value.columns)}
    if isinstance(value, Mapping) and "shape" in value and isinstance(value["shape"], np.ndarray):
        return {"shape": "x".join(str(int(size)) for size in value["shape"])}
    return {}


def _frame(table: pa.Table) -> pd.DataFrame:
    """String columns come back as object columns holding None, as they were written.

    pandas >= 3 would make them its ``str`` dtype, whose missing value is NaN: a truthy float that code reading
    the table would take for a value.
    """
    frame = table.to_pandas()
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            frame[name] = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object, index=frame.index)
    return frame


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """numpy's own ``.npz`` layout (what ``np.savez`` writes: members stored, not deflated), with fixed zip
    timestamps (``np.savez`` stamps the current time), so equal arrays give equal bytes.

    Stored, because deflating was most of the cost of keeping ADE's feature matrix: level 1 took 1.3-1.5 s to encode
    and 0.4 s to decode for 129 MB -> 52 MB, stored 0.15 s and 0.06 s (benchmarks/data_assets.py). Artifacts written
    deflated before are read the same way: ``np.load`` reads either. Each array's bytes go straight into the archive
    (after the header ``np.save`` would write), not through a copy of their own.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if array.dtype.hasobject:
                raise UnsupportedArtifact(f"array {name!r} has dtype object, which only pickle could store")
            array = array if array.flags.c_contiguous else array.copy(order="C")
            header = _npy_header(array)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.file_size = len(header) + array.nbytes  # known up front, as writestr would set it
            with archive.open(info, "w") as member:
                member.write(header)
                member.write(array.reshape(-1).view(np.uint8))
    return buffer.getvalue()


def _npy_header(array: np.ndarray) -> bytes:
    """The ``.npy`` header ``np.save`` writes for a C-ordered ``array``: format 1.0, or 2.0 when it does not fit."""
    fields, header = np.lib.format.header_data_from_array_1_0(array), io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(header, fields)
    except ValueError:  # more than 65535 bytes of header (a structured dtype with very many fields)
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, fields)
    return header.getvalue()
