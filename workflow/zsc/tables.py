"""Parquet files of the data contracts, written deterministically and atomically.

Every intermediate is one parquet file: plain columns (sample index, labels, ...) plus, for
embeddings and reductions, the vectors as one fixed-size-list float32 column named `embedding`.
File-level metadata (JSON under the key `zsc`) names what produced the file. No timestamps go in,
so the same inputs give the same bytes. Files are written to a temporary name and renamed, so a
killed job never leaves a half-written file where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__

VECTOR = "embedding"
META_KEY = b"zsc"


def _vector_array(matrix: np.ndarray) -> pa.FixedSizeListArray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n, dim = matrix.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dim)


def write(path: str | os.PathLike, columns: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """Write `columns` (name -> 1-d array, or a 2-d float matrix for `embedding`) to `path`."""
    arrays = {
        name: _vector_array(values) if name == VECTOR else pa.array(values)
        for name, values in columns.items()
    }
    _write_table(path, pa.table(arrays), meta)


def write_frame(path: str | os.PathLike, frame, meta: dict[str, Any] | None = None) -> None:
    """Write a pandas DataFrame (pyarrow's conversion copes with missing values in any column)."""
    _write_table(path, pa.Table.from_pandas(frame, preserve_index=False), meta)


def _write_table(path, table: pa.Table, meta: dict[str, Any] | None) -> None:
    meta = {"zsc_version": __version__, **(meta or {})}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True, default=_json_default)})
    with atomic(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


@contextlib.contextmanager
def atomic(path: str | os.PathLike):
    """A temporary name beside `path` to write to; renamed to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in file metadata")


def read(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by `write`: (name -> numpy array, metadata). The vector column is 2-d."""
    table = pq.read_table(path, columns=columns)
    out = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name == VECTOR:
            dim = col.type.list_size
            out[name] = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out, read_meta(path)


def read_meta(path: str | os.PathLike) -> dict:
    raw = pq.read_schema(path).metadata or {}
    return json.loads(raw.get(META_KEY, b"{}"))


def read_vectors(path: str | os.PathLike) -> np.ndarray:
    return read(path, columns=[VECTOR])[0][VECTOR]
