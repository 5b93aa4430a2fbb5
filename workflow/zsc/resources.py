"""What a job asks a cluster scheduler for: memory (MB) and wall time (minutes), from its data.

workflow/rules/resources.smk turns these into Snakemake resources (`mem_mb`, `runtime`), which the
SLURM executor passes to sbatch as --mem and --time. N (points) and d (dimensions) are read from the
footer of the parquet files a job reads (no data is loaded). Before an input exists, `table_shape`
raises FileNotFoundError naming it; Snakemake takes that as "not known yet" (<TBD> in a dry run)
and asks again just before it submits the job.

The figures are generous upper bounds, not measurements: too little memory or time gets a job
killed, too much only makes it wait longer in the queue. A clusterer's own memory need comes from
its registry entry (zsc.clusterers), the same estimate that decides whether it starts at all.
"""

from __future__ import annotations

import errno
import math
import os

MB = 2**20

# Python, numpy, scikit-learn and the job's own snakemake process, before any data.
BASE_MB = 1000
# torch, the model and its DataLoader workers; on a GPU node also CUDA's host-side libraries.
TORCH_MB = 6000
# sklearn's pairwise_distances_chunked works in blocks of its working_memory (1 GiB by default).
CHUNK_MB = 1024
# The dimension assumed for a neural encoder that does not state its own (the study's are 768 and 2048).
UNKNOWN_DIM = 4096
# Slowest throughputs planned for: images embedded per second (a GPU job starved by image decoding,
# or a CPU fallback) and floating-point operations per second of one core.
IMAGES_PER_S = 20
FLOPS = 2e10
MIN_RUNTIME = 10


def table_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(rows, vector dimension) of a parquet file of the data contracts (dimension 0 if it has no
    vectors), from its footer alone."""
    if not os.path.exists(path):
        # Snakemake recognises a FileNotFoundError about one of the job's inputs (by its filename).
        raise FileNotFoundError(errno.ENOENT, "not written yet", str(path))
    import pyarrow.parquet as pq

    from .tables import VECTOR

    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    dim = schema.field(VECTOR).type.list_size if VECTOR in schema.names else 0
    return meta.num_rows, dim


def _mb(n_bytes: float) -> int:
    return math.ceil(n_bytes / MB)


def _minutes(seconds: float) -> int:
    return MIN_RUNTIME + math.ceil(seconds / 60)


def embedding_dim(encoder: dict, info: dict) -> int:
    """An upper bound of the encoder's output dimension: raw pixels are at most 3 x image_size^2
    (never upsampled); a study encoder states its own; any other model gets UNKNOWN_DIM."""
    if not info["neural"]:
        return 3 * encoder["image_size"] ** 2
    return (info.get("study") or {}).get("dim", UNKNOWN_DIM)


def embed_mem_mb(n: int, dim: int, neural: bool) -> int:
    # the per-batch vectors, their concatenation and the Arrow copy written out: three float32 copies
    return BASE_MB + TORCH_MB * neural + _mb(3 * 4 * n * dim)


def embed_runtime(n: int) -> int:
    return _minutes(n / IMAGES_PER_S)


def reduce_mem_mb(n: int, d: int) -> int:
    # the float32 input, its float64 copy, the centred/scaled copy and the reducer's own working
    # copy, plus a k-nearest-neighbour graph for UMAP-like methods (a few hundred bytes per point)
    return BASE_MB + _mb(n * (28 * d + 1000))


def reduce_runtime(n: int, d: int) -> int:
    # UMAP, the slowest reducer: 38 s for 5,000 x 2,352 on one core here (docs/measurements.md), a
    # third of it numba compiling; planned: a minute of start-up and 1e5 flops per input value
    return _minutes(60 + 1e5 * n * d / FLOPS)


def cluster_need(memory, n: int, d: int, clusterer: dict, limit_bytes: int | None) -> int:
    """Bytes the clusterer plans to use on n x d (its registry's `memory` estimate). Over the
    config's limits.memory_gb the job does not start the clusterer (it records the run as skipped),
    so it never needs more than the limit."""
    need = memory(n, d, clusterer)
    return need if limit_bytes is None else min(need, limit_bytes)


def cluster_mem_mb(need: int, n: int, d: int) -> int:
    # the float32 reduction read in and one float64 copy of it, beside the method's own need
    return BASE_MB + _mb(12 * n * d + need)


def cluster_runtime(need: int, n: int) -> int:
    # time grows with what the method touches: a minute per GiB of its working set (Affinity
    # Propagation iterates over its N x N matrices), and a minute per thousand points
    return MIN_RUNTIME + math.ceil(need / 2**30) + math.ceil(n / 1000)


def evaluate_mem_mb(n: int, dims: list[int]) -> int:
    # every space (embeddings, reduction, UMAP space) as float32 and, while scored, as float64,
    # plus the blocks of pairwise distances
    return BASE_MB + CHUNK_MB + _mb(12 * n * sum(dims))


def evaluate_runtime(n: int, dims: list[int]) -> int:
    # silhouettes need all pairwise distances in every space: 2 n^2 d flops each (3 for the sums)
    return _minutes(3 * n * n * sum(dims) / FLOPS)


def labelfree_mem_mb(n: int, d: int) -> int:
    # the float32 embeddings, two float64 copies (standardised, K-Means) and the d x d correlation
    return BASE_MB + _mb(n * 20 * d + 16 * d * d)


def labelfree_runtime(n: int, d: int, seeds: int) -> int:
    # K-Means per seed (iterations over n d k values) and the correlation product (n d^2)
    return _minutes(seeds * 1e3 * n * d / FLOPS + 2 * n * d * d / FLOPS)


def probes_mem_mb(n_train: int, n_test: int, d: int, batch: int = 1024) -> int:
    # float64 copies of both sets (normalised, standardised) and a batch of similarities
    return BASE_MB + _mb(16 * (n_train + n_test) * d + 8 * batch * n_train)


def probes_runtime(n_train: int, n_test: int, d: int, n_cs: int) -> int:
    # the kNN similarities (2 n_train n_test d) and, per C, a few hundred lbfgs passes over train
    return _minutes((2 * n_train * n_test * d + n_cs * 300 * 20 * n_train * d) / FLOPS)
