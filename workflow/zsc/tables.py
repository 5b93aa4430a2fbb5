"""Parquet files of the data contracts, written deterministically and atomically.

Every intermediate is one parquet file: plain columns (sample index, labels, ...) plus, for
embeddings and reductions, the vectors as one fixed-size-list float32 column named `embedding`.
File-level metadata (JSON under the key `zsc`) names what produced the file. No timestamps go in,
so the same inputs give the same bytes. Files are written to a temporary name and renamed, so a
killed job never leaves a half-written file where a finished one is expected.

A job whose method did not run (a clusterer over the memory limit, a reducer that cannot reduce this
data: zsc.failures) still writes its file, empty, with `status` and the reason (`skipped`) in the
metadata. A file that cannot be read is named in one line with the command that recomputes it.
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
    arrays = {name: _vector_array(values) if name == VECTOR else pa.array(values) for name, values in columns.items()}
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


# The rule that writes the files under each folder, for the message about an unreadable one.
WRITTEN_BY = {
    ("resources", "datasets"): "prepare_dataset",
    ("results", "embeddings"): "embed",
    ("results", "reduced"): "reduce",
    ("results", "clusters"): "cluster",
    ("results", "metrics"): "evaluate",
    ("results", "labelfree"): "labelfree",
    ("results", "probes"): "probes",
    ("results", "tables"): "aggregate",
}


class UnreadableTable(ValueError):
    """A parquet file that exists but cannot be read (cut short by a full disk, a copy, ...); the
    message names it and the command that recomputes it."""


def unreadable(path, error: Exception) -> UnreadableTable:
    parts = Path(path).parts
    rule = next((WRITTEN_BY[pair] for pair in zip(parts, parts[1:]) if pair in WRITTEN_BY), None)
    how = (
        f"delete it and run the same snakemake command again, which recomputes it (rule {rule}), "
        f"or recompute every {rule} job: snakemake --cores all --forcerun {rule}"
        if rule
        else "delete it and run the same snakemake command again, which recomputes it"
    )
    return UnreadableTable(f"{path} is not a readable parquet file (truncated?): {how} [{type(error).__name__}: {error}]")


@contextlib.contextmanager
def _readable(path):
    """Reading `path`: a corrupt file becomes one line naming it (UnreadableTable); a missing one
    stays a FileNotFoundError (Snakemake takes that as "not written yet")."""
    try:
        yield
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as error:
        raise unreadable(path, error) from None


def read_metadata(path: str | os.PathLike) -> pq.FileMetaData:
    """The parquet footer of `path` (rows, schema, metadata) without reading the data."""
    with _readable(path):
        return pq.read_metadata(path)


def read(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by `write`: (name -> numpy array, metadata). The vector column is 2-d."""
    with _readable(path):
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
    with _readable(path):
        raw = pq.read_schema(path).metadata or {}
    return json.loads(raw.get(META_KEY, b"{}"))


def write_not_run(path, columns: list[str], meta: dict[str, Any], status: str, reason: str) -> None:
    """The output of a job whose method did not run (status `skipped` or `failed`, zsc.failures):
    the columns, empty, and the reason in the metadata (`skipped`, read by every consumer)."""
    empty = np.zeros(0, dtype=np.int64)
    write(path, {name: empty for name in columns}, {**meta, "status": status, "skipped": reason})


def not_run(path: str | os.PathLike) -> tuple[str, str] | None:
    """(status, reason) of a file whose job's method did not run (write_not_run), None if it ran."""
    meta = read_meta(path)
    if not meta.get("skipped"):
        return None
    return meta.get("status", "skipped"), meta["skipped"]


def read_vectors(path: str | os.PathLike) -> np.ndarray:
    status = not_run(path)
    if status:
        raise ValueError(f"{path} holds no vectors: its reduction {status[0]}: {status[1]}")
    return read(path, columns=[VECTOR])[0][VECTOR]
