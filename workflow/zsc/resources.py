"""What a job needs: peak memory (MB), and wall time, as a scheduler limit (minutes) and as a
prediction (seconds), from the shape of its data.

workflow/rules/resources.smk turns these into Snakemake resources (`mem_mb`, `runtime`), which the
SLURM executor passes to sbatch as --mem and --time. N (points) and d (dimensions) are read from the
footer of the parquet files a job reads (no data is loaded). Before an input exists, `table_shape`
raises FileNotFoundError naming it; Snakemake takes that as "not known yet" (<TBD> in a dry run)
and asks again just before it submits the job.

Memory: every `*_mem_mb` is an upper bound of the job's peak resident memory (snakemake's benchmark
max_rss), checked against every job of a real run and against the measured peaks of
docs/measurements.md (tests/test_estimates.py): estimate >= measured and estimate <=
max(MEMORY_FACTOR x measured, measured + MEMORY_SLACK_MB). Too little memory gets a job killed, too
much only makes it wait longer in a queue. A method's own working set comes from its registry entry
(`memory=` of zsc.reducers and zsc.clusterers), the same estimate that decides whether a clusterer
starts at all.

Time: `*_runtime` are the generous limits (minutes) a scheduler gets; `*_seconds` are predictions
for this project's machine (2 cores, one job per core, as measured in docs/measurements.md), which
`python -m zsc plan` sums into CPU and GPU hours and `--compare` sets beside the measured times.
"""

from __future__ import annotations

import errno
import math
import os

MB = 2**20

# Python, numpy, scikit-learn and the job's own snakemake process, before any data (a job that only
# starts peaks at 190-260 MB here; snakemake's own process under SLURM adds about 300 MB).
BASE_MB = 1000
# torch's libraries: every embed job imports torch (raw pixels too: 820-900 MB measured).
TORCH_MB = 500
# The model's weights when their size is not known (a ViT-L/16 has 1.2 GB).
WEIGHTS_MB = 1000
# CUDA's host-side libraries and pinned batches when embedding on a GPU (the activations stay there).
CUDA_HOST_MB = 4000
# Activations of a CPU forward pass, per input value of a batch (float32): the few largest feature
# maps alive at once; a ResNet's first stage holds 5x the input, a ViT-B's attention maps 6x.
ACTIVATIONS_PER_INPUT = 30
# How far above a measured peak an estimate may be: the bound tests/test_estimates.py checks.
MEMORY_FACTOR = 3
MEMORY_SLACK_MB = 1024
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
    from .tables import VECTOR, read_metadata

    meta = read_metadata(path)  # a corrupt file: one line naming it and how to recompute it
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


def embed_mem_mb(
    n: int, dim: int, neural: bool, image_size: int = 224, batch_size: int = 64, gpu: bool = False, weights_mb: int = WEIGHTS_MB
) -> int:
    # the per-batch vectors, their concatenation and the Arrow copy written out: three float32 copies;
    # a network adds its weights and either a CPU forward pass's activations or CUDA's host side
    model = 0
    if neural:
        activations = _mb(ACTIVATIONS_PER_INPUT * 4 * batch_size * 3 * image_size**2)
        model = weights_mb + (CUDA_HOST_MB if gpu else activations)
    return BASE_MB + TORCH_MB + model + _mb(3 * 4 * n * dim)


def embed_runtime(n: int) -> int:
    return _minutes(n / IMAGES_PER_S)


def reduce_mem_mb(n: int, d: int, reducer: dict | None = None) -> int:
    # the float32 input as read (the Arrow table and its numpy copy) and the reducer's own working set
    # (its registry's `memory`); without a reducer, the largest of the registered ones at 50 dimensions
    from .reducers import REDUCERS

    if reducer is None:
        need = max(_reducer_need(entry, n, d, {**entry.defaults(), "n_components": 50}) for entry in REDUCERS)
    else:
        need = _reducer_need(REDUCERS[reducer["type"]], n, d, reducer)
    return BASE_MB + _mb(8 * n * d + need)


def _reducer_need(entry, n: int, d: int, spec: dict) -> int:
    return entry.info["memory"](n, d, {**entry.defaults(), **spec})


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


def evaluate_mem_mb(n: int, dims: list[int], silhouette_n: int | None = None) -> int:
    # every space (`dims`: the embeddings first, each reduction, the UMAP space) kept as float32,
    # the embeddings also as read (Arrow), the space being scored as float64, and the silhouettes'
    # block of pairwise distances with scikit-learn's temporaries of its size (two blocks of at most
    # CHUNK_MB). Measured at 100,000 points, exact silhouettes: 5,366 MB over 2,352 + 250 + 200 + 62
    # + 50 dimensions, 4,869 MB over 2,048 + 50 (docs/measurements.md).
    m = n if silhouette_n is None else min(n, silhouette_n)
    return BASE_MB + min(2 * CHUNK_MB, _mb(2 * 8 * m * m)) + _mb(4 * n * (sum(dims) + dims[0]) + 8 * n * max(dims))


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


# ---------------------------------------------------------------------------------------------
# Predicted seconds per job on this project's machine (2 cores, one job per core; fitted to the
# figures of docs/measurements.md, "Default run" and "Stage time and peak memory against N").

# A job that only starts: Python, the imports of its stage, reading its inputs' footers.
START_S = 1.3
# torch's import and building the model before the first batch.
EMBED_START_S = 5.0
# Floating-point operations per second of a network's forward pass: this CPU (ResNet-18 at 224 px,
# 3.6 GFLOPs an image, 16.7 images/s beside another job in the default run; 23-42 alone) and, not
# measured here (no GPU was lent), a data-centre GPU in float32/TF32.
CPU_NET_FLOPS = 6e10
GPU_NET_FLOPS = 2e13
# Decoding and resizing images: per image on the CPU (raw pixels: 4,000 Fashion-MNIST images in
# under 4 s), and images/s of one DataLoader worker feeding a GPU (an ImageNet-sized JPEG).
DECODE_S = 4e-4
DECODE_PER_WORKER = 150
# BLAS throughput of evaluate's threads on this machine's 2 cores (the silhouettes' distances and
# per-cluster sums: 880 s for 2 x 100,000^2 x 2,914 flops, the raw row at 100,000); one job's is
# zsc.clusterers.BLAS_FLOPS.
EVALUATE_FLOPS = 6.5e10


def embed_seconds(n: int, flops_per_image: float, gpu: bool = False, workers: int = 8) -> float:
    """`flops_per_image` 0 for raw pixels; on a GPU the slower of the network and decoding."""
    if gpu:
        return EMBED_START_S + n * max(flops_per_image / GPU_NET_FLOPS, 1 / (DECODE_PER_WORKER * max(1, workers)))
    return EMBED_START_S + n * (DECODE_S + flops_per_image / CPU_NET_FLOPS)


def reduce_seconds(n: int, d: int, reducer: dict) -> float:
    from .reducers import REDUCERS

    entry = REDUCERS[reducer["type"]]
    return START_S + entry.info["seconds"](n, d, {**entry.defaults(), **reducer})


def cluster_seconds(n: int, d: int, k: int, clusterer: dict) -> float:
    """The clusterer's own estimate (its registry entry's `seconds`) beyond a job's start-up."""
    from .clusterers import CLUSTERERS

    entry = CLUSTERERS[clusterer["type"]]
    return START_S + entry.info["seconds"](n, d, k, {**entry.defaults(), **clusterer})


def evaluate_seconds(n: int, dims: list[int], runs: int, silhouette_n: int | None = None) -> float:
    # one distance pass per space over the silhouettes' points; per run, scores over all n points
    m = n if silhouette_n is None else min(n, silhouette_n)
    return START_S + 2 * m * m * sum(dims) / EVALUATE_FLOPS + 2e-5 * n * runs


def labelfree_seconds(n: int, d: int, seeds: int) -> float:
    return START_S + (seeds * 1e3 * n * d + 2 * n * d * d) / FLOPS


def probes_seconds(n_train: int, n_test: int, d: int, n_cs: int) -> float:
    # measured: 18-21 s for 500 train x 4,000 queries whatever d, most of it the linear probe's fits
    return START_S + 3.0 * n_cs + (2 * n_train * n_test * d + n_cs * 300 * 20 * n_train * d) / FLOPS
