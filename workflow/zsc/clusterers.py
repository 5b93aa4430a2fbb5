"""Clusterer registry with the study's fixed settings (docs/study.md#32-clusterers-and-their-fixed-settings) as defaults.

A factory takes its options plus `n_clusters` (the number of classes present in the clustered
split, given to the methods that need it), `n_samples` and `seed`, and returns an object with
`fit_predict(X)`. HDBSCAN noise comes back as -1.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from .metric_names import METRICS, sklearn_metric
from .registry import Registry

log = logging.getLogger(__name__)

# Every entry declares: whether it is given the number of clusters; its memory(n, d, spec), the bytes
# its method holds on n points of d dimensions beyond the float32 input (an upper bound: the memory
# guard and zsc.resources use it); seconds(n, d, k, spec), its predicted time beyond a job's
# start-up on one core of this project's machine (k: clusters asked for; `python -m zsc plan` sums
# them); and label, its display name in tables and figures (the study's, e.g. "AC w/ C"), shown for
# a config entry named after the type or after `study_name`, the name the study's params files give it.
CLUSTERERS = Registry("clusterers", required=("uses_n_clusters", "memory", "seconds", "label"))

_METRIC = {
    "type": "string",
    "enum": list(METRICS),
    "default": "euclidean",
    "description": "Distance between points; arccos is the angle between them in radians (a true metric, unlike cosine).",
}


def arccos_distances(X) -> np.ndarray:
    """Pairwise angles (radians) between the rows of X; a zero row is at pi/2 from everything."""
    X = np.asarray(X, dtype=np.float64)
    unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.finfo(float).tiny)
    distances = np.arccos(np.clip(unit @ unit.T, -1.0, 1.0))
    np.fill_diagonal(distances, 0.0)
    return distances


class _Arccos:
    """Gives a model configured with metric='precomputed' the arccos distance matrix of X."""

    def __init__(self, model):
        self.model = model

    def fit_predict(self, X):
        return self.model.fit_predict(arccos_distances(X))


def _arccos_aware(model, metric: str):
    return _Arccos(model) if metric == "arccos" else model


def _matrix_bytes(n: int, spec: dict) -> int:
    """The N x N float64 distance matrix an arccos metric adds (plus its float64 Gram matrix)."""
    return 16 * n * n if spec.get("metric") == "arccos" else 0


# BLAS throughput of one job (distance products, eigen-solvers) on this project's machine, for the
# seconds estimates. Measured (Fashion-MNIST, UMAP-50 unless said): K-Means 0.3 s at 10k; ward 3.3 s
# at 10k; Affinity Propagation 20.6 s at 10k; HDBSCAN brute force 5.0 s at 10k, KD-tree 125 s at 70k;
# Spectral on 10,000 x 2,352 raw pixels 11.9 s. Spectral on the random ResNet-50's 2,048-d embedding:
# the exact k-NN graph 10.7 / 96.7 / 1,077 CPU s at 10k / 30k / 100k (2 n^2 d flops), ARPACK's
# shift-invert 3.6 / 71.8 / 1,381 s (its LU: N^2.5), Lanczos 0.2 / 1.3 / 5.2 s (docs/measurements.md).
BLAS_FLOPS = 4e10


def _per_10k_points(n, d, k, spec) -> float:
    """A method without measurements: a second per 10,000 points."""
    return 1e-4 * n


_LINKAGE = {
    "type": "string",
    "enum": ["ward", "complete", "average", "single"],
    "default": "ward",
    "description": "Linkage criterion (ward needs the euclidean metric).",
}
_WARD_NEEDS_EUCLIDEAN = {
    "if": {"properties": {"linkage": {"const": "ward"}}},
    "then": {"properties": {"metric": {"const": "euclidean", "description": "linkage 'ward' needs metric 'euclidean'"}}},
}


@CLUSTERERS.add(
    "kmeans",
    "K-Means (k-means++), given the true number of clusters",
    options={
        "n_init": {"type": "integer", "minimum": 1, "default": 1, "description": "Restarts (the study: 1)."},
        "max_iter": {"type": "integer", "minimum": 1, "default": 1000, "description": "Iterations per restart."},
    },
    uses_n_clusters=True,
    memory=lambda n, d, spec: 16 * n * d,  # a float64 copy of the data and its distances to the centres
    seconds=lambda n, d, k, spec: 2 * n * d * k * 100 / BLAS_FLOPS,
    label="K-Means",
)
def kmeans(n_init: int, max_iter: int, n_clusters: int, n_samples: int, seed: int):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, init="k-means++", n_init=n_init, max_iter=max_iter, random_state=seed)


def _agglomerative_memory(n: int, d: int, spec: dict) -> int:
    """The exact route's peak (zsc.linkage.memory_bytes): O(N d) for ward and vector single linkage,
    plus one condensed float64 matrix, 4 N (N - 1) bytes, for the others."""
    from .linkage import memory_bytes

    return memory_bytes(n, d, spec["linkage"], spec["metric"])


def _agglomerative_seconds(n, d, k, spec) -> float:
    return 3e-8 * n * n + (0 if spec.get("linkage") == "ward" else n * n * d / BLAS_FLOPS)


@CLUSTERERS.add(
    "agglomerative",
    "Agglomerative clustering given the true number of clusters (the study's AC w/ C); scikit-learn's labels "
    "without its N x N copies: ward on the vectors (fastcluster, memory O(N d)), single linkage with euclidean, "
    "l1 or chebyshev by scikit-learn's own spanning tree (O(N d)), the others on one condensed float64 distance "
    "matrix (4 N (N - 1) bytes, e.g. 9.3 GiB at 50,000 points)",
    options={
        "linkage": _LINKAGE,
        "metric": _METRIC,
    },
    uses_n_clusters=True,
    memory=_agglomerative_memory,
    seconds=_agglomerative_seconds,
    label="AC w/ C",
    study_name="ac_with_c",
    schema=_WARD_NEEDS_EUCLIDEAN,
)
def agglomerative(linkage: str, metric: str, n_clusters: int, n_samples: int, seed: int):
    from .linkage import Agglomerative

    return Agglomerative(linkage, metric, n_clusters=n_clusters)


class _AverageZScored:
    """AC w/o C's input as in the study: subtract the mean, divide by the *mean* per-dimension std,
    then (dimension correction) divide by sqrt(d) for L2 or d for L1, so one threshold suits any d."""

    def __init__(self, model, metric: str, average_zscore: bool, dimension_correction: bool):
        self.model, self.metric = model, metric
        self.average_zscore, self.dimension_correction = average_zscore, dimension_correction

    def fit_predict(self, X):
        X = np.asarray(X, dtype=np.float64)
        if self.average_zscore:
            X = (X - X.mean(axis=0)) / max(float(X.std(axis=0).mean()), np.finfo(float).tiny)
        if self.dimension_correction:
            X = X / {"euclidean": np.sqrt(X.shape[1]), "l1": X.shape[1]}.get(self.metric, 1.0)
        return self.model.fit_predict(X)


@CLUSTERERS.add(
    "agglomerative_threshold",
    "Agglomerative clustering cut at a distance threshold (the study's AC w/o C): finds n_clusters; the same "
    "trees and memory as agglomerative, cut where scikit-learn cuts (merge heights >= the threshold are undone)",
    options={
        "distance_threshold": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Merge distance at which the tree is cut (the study tuned it per encoder: 0.2 to 10).",
        },
        "linkage": _LINKAGE,
        "metric": _METRIC,
        "average_zscore": {
            "type": "boolean",
            "default": True,
            "description": "Centre, then divide by the mean per-dimension std first (the study's azscore2).",
        },
        "dimension_correction": {
            "type": "boolean",
            "default": True,
            "description": "Then divide by sqrt(d) (euclidean) or d (l1), as the study does.",
        },
    },
    uses_n_clusters=False,
    memory=_agglomerative_memory,
    seconds=_agglomerative_seconds,
    label="AC w/o C",
    study_name="ac_without_c",
    schema=_WARD_NEEDS_EUCLIDEAN,
)
def agglomerative_threshold(
    distance_threshold, linkage, metric, average_zscore, dimension_correction, n_clusters, n_samples, seed
):
    from .linkage import Agglomerative

    model = Agglomerative(linkage, metric, distance_threshold=distance_threshold)
    return _AverageZScored(model, metric, average_zscore, dimension_correction)


# Spectral's memory: a sparse k-NN graph, not N x N, and with ARPACK the fill of its sparse LU, which
# grows about as N^2 on these graphs: measured 1.2-1.4 bytes per pair of points at 10,000-30,000 and
# 0.9 at 100,000 (docs/measurements.md, "Spectral clustering: where the time goes").
ARPACK_LU_BYTES_PER_PAIR = 1.5


@CLUSTERERS.add(
    "spectral",
    "Spectral clustering on a nearest-neighbour graph, cluster_qr labels, given the true number of clusters "
    "(scikit-learn's: an exact k-NN graph by blocked BLAS, then its eigensolver; docs/measurements.md says where the time goes)",
    options={
        "n_neighbors": {
            "type": "integer",
            "minimum": 2,
            "default": 10,
            "description": "Neighbours of the affinity graph (the study: 10 to 50).",
        },
        "eigen_solver": {
            "type": "string",
            "enum": ["arpack", "lanczos", "lobpcg"],
            "default": "arpack",
            "description": "Eigensolver of the graph Laplacian: arpack (scikit-learn's default, shift-invert with a sparse LU, "
            "whose fill bounds time and memory at 100,000 points), lanczos (ARPACK without the LU: the same labels where the "
            "graph is connected, minutes faster at scale; zsc/spectral.py) or lobpcg (no factorisation; different "
            "eigenvectors, so labels agree only approximately). docs/measurements.md compares them.",
        },
    },
    uses_n_clusters=True,
    memory=lambda n, d, spec: n * (48 * spec["n_neighbors"] + 8 * d)
    + (int(ARPACK_LU_BYTES_PER_PAIR * n * n) if spec["eigen_solver"] == "arpack" else 0),
    seconds=lambda n, d, k, spec: 2 * n * n * d / BLAS_FLOPS
    + 1e-4 * n
    + (4.4e-10 * n**2.5 if spec["eigen_solver"] == "arpack" else 0),
    label="Spectral",
    threads=4,  # the k-NN search, most of the time at 100,000 points, runs on the job's threads
)
def spectral(n_neighbors, eigen_solver, n_clusters, n_samples, seed):
    from sklearn.cluster import SpectralClustering

    from .spectral import SpectralLanczos

    if eigen_solver == "lanczos":
        return _OneBlasThread(SpectralLanczos(n_clusters, n_neighbors, seed))
    return _OneBlasThread(
        SpectralClustering(
            n_clusters=n_clusters,
            affinity="nearest_neighbors",
            n_neighbors=n_neighbors,
            assign_labels="cluster_qr",
            eigen_solver=None if eigen_solver == "arpack" else eigen_solver,  # None is scikit-learn's arpack route
            random_state=seed,
        )
    )


class _OneBlasThread:
    """Runs a model with BLAS on one thread and OpenMP on the job's threads (OMP_NUM_THREADS).

    scikit-learn's exact k-NN search (ArgKmin) splits the query rows over OpenMP threads, each with a
    one-thread BLAS product per block of rows: the same neighbours on any thread count. The eigensolver
    and cluster_qr after it use BLAS, whose threaded reductions sum in another order; on one thread
    they give the labels of a one-thread job whatever threads the job has."""

    def __init__(self, model):
        self.model = model

    def fit_predict(self, X):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self.model.fit_predict(X)


@CLUSTERERS.add(
    "affinity_propagation",
    "Affinity Propagation (negative squared euclidean affinity, median preference): finds n_clusters",
    options={
        "damping": {
            "type": "number",
            "minimum": 0.5,
            "exclusiveMaximum": 1,
            "default": 0.9,
            "description": "Damping (the study tuned it per encoder: 0.6 to 0.95).",
        },
        "convergence_iter": {
            "type": "integer",
            "minimum": 1,
            "default": 15,
            "description": "Stable iterations to stop (the study: 15).",
        },
        "max_iter": {"type": "integer", "minimum": 1, "default": 1000, "description": "Iteration limit (the study: 1000)."},
    },
    uses_n_clusters=False,
    memory=lambda n, d, spec: 24
    * n
    * n,  # similarity, availability, responsibility: N x N float64 each (zsc.affinity_propagation)
    seconds=lambda n, d, k, spec: 2e-7 * n * n,
    label="Affinity Prop.",
)
def affinity_propagation(damping, convergence_iter, max_iter, n_clusters, n_samples, seed):
    from .affinity_propagation import AffinityPropagation  # scikit-learn's labels, bit for bit, in less time and memory

    return AffinityPropagation(damping=damping, convergence_iter=convergence_iter, max_iter=max_iter, random_state=seed)


@CLUSTERERS.add(
    "optics",
    "OPTICS (label -1 is noise): finds n_clusters",
    options={
        "min_samples": {"type": "integer", "minimum": 2, "default": 5, "description": "Neighbours of a core point."},
        "metric": _METRIC,
        "cluster_method": {
            "type": "string",
            "enum": ["xi", "dbscan"],
            "default": "xi",
            "description": "How clusters are extracted.",
        },
        "xi": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.05,
            "description": "Steepness for the xi method.",
        },
    },
    uses_n_clusters=False,
    memory=lambda n, d, spec: 32 * n * d + _matrix_bytes(n, spec),  # neighbour searches, no N x N matrix but arccos's
    seconds=lambda n, d, k, spec: 2e-3 * n,
    label="OPTICS",
)
def optics(min_samples, metric, cluster_method, xi, n_clusters, n_samples, seed):
    from sklearn.cluster import OPTICS

    model = OPTICS(min_samples=min_samples, metric=sklearn_metric(metric), cluster_method=cluster_method, xi=xi)
    return _arccos_aware(model, metric)


def _louvain(graph, resolution: float, seed: int) -> np.ndarray:
    import networkx as nx

    communities = nx.community.louvain_communities(nx.from_scipy_sparse_array(graph), resolution=resolution, seed=seed)
    labels = np.empty(graph.shape[0], dtype=np.int64)
    for label, members in enumerate(sorted(communities, key=min)):
        labels[list(members)] = label
    return labels


def _leiden(graph, resolution: float, seed: int) -> np.ndarray:
    import igraph
    import leidenalg

    rows, cols = graph.nonzero()
    upper = rows < cols  # the graph is symmetric: each undirected edge once
    network = igraph.Graph(n=graph.shape[0], edges=list(zip(rows[upper].tolist(), cols[upper].tolist())))
    partition = leidenalg.find_partition(
        network, leidenalg.RBConfigurationVertexPartition, resolution_parameter=resolution, seed=seed
    )
    return np.asarray(partition.membership, dtype=np.int64)


class _Communities:
    """Communities of a symmetric k-nearest-neighbour graph (sparse: O(N k), not the N x N affinity of
    the study's code). Angles order neighbours as cosine distances do, so arccos uses cosine here."""

    def __init__(self, find, n_neighbors, metric, resolution, seed):
        self.find, self.n_neighbors, self.resolution, self.seed = find, n_neighbors, resolution, seed
        self.metric = sklearn_metric("cosine" if metric == "arccos" else metric)

    def fit_predict(self, X):
        from sklearn.neighbors import kneighbors_graph

        graph = kneighbors_graph(X, n_neighbors=min(self.n_neighbors, len(X) - 1), metric=self.metric, mode="connectivity")
        return self.find(graph.maximum(graph.T), self.resolution, self.seed)


_COMMUNITY_OPTIONS = {
    "n_neighbors": {"type": "integer", "minimum": 2, "default": 15, "description": "Neighbours per point in the graph."},
    "metric": _METRIC,
    "resolution": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 1.0,
        "description": "Higher gives more, smaller communities (the study: 1 to 3).",
    },
}


@CLUSTERERS.add(
    "louvain",
    "Louvain community detection (networkx) on a k-nearest-neighbour graph: finds n_clusters",
    options=_COMMUNITY_OPTIONS,
    uses_n_clusters=False,
    memory=lambda n, d, spec: n * (200 * spec["n_neighbors"] + 8 * d),  # networkx holds the k-NN graph as Python objects
    seconds=_per_10k_points,
    label="Louvain",
)
def louvain(n_neighbors, metric, resolution, n_clusters, n_samples, seed):
    return _Communities(_louvain, n_neighbors, metric, resolution, seed)


@CLUSTERERS.add(
    "leiden",
    "Leiden community detection (leidenalg, modularity with a resolution) on a k-nearest-neighbour graph: finds n_clusters",
    options=_COMMUNITY_OPTIONS,
    uses_n_clusters=False,
    memory=lambda n, d, spec: n * (64 * spec["n_neighbors"] + 8 * d),  # igraph's compact edge list
    seconds=_per_10k_points,
    label="Leiden",
)
def leiden(n_neighbors, metric, resolution, n_clusters, n_samples, seed):
    return _Communities(_leiden, n_neighbors, metric, resolution, seed)


class _HDBSCAN:
    """sklearn's HDBSCAN, choosing the exact neighbour search that is fast for the dimension."""

    # sklearn's "auto" picks a KD-tree whatever the dimension; far above the study's 50 dimensions
    # the tree degenerates (83 s vs 1.5 s brute force for 5k x 2352 here). Both are exact, but their
    # spanning trees break the ties of mutual-reachability distances differently (same clusters,
    # other label numbers; rarely a point moves: docs/measurements.md), so scikit-learn's own route
    # is kept up to 64 dimensions (UMAP-50 included) and brute force, holding N x N float64
    # distances, is only chosen above that while they stay small.
    TREE_MAX_DIM = 64
    BRUTE_MAX_N = 20_000  # 16 N^2 bytes: 6.4 GB

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    @classmethod
    def search(cls, algorithm: str, n: int, d: int) -> str:
        if algorithm == "auto" and d > cls.TREE_MAX_DIM and n <= cls.BRUTE_MAX_N:
            return "brute"
        return algorithm

    def fit_predict(self, X):
        from sklearn.cluster import HDBSCAN

        kwargs = dict(self.kwargs)
        algorithm = self.search(kwargs.pop("algorithm"), *X.shape)
        if kwargs["metric"] == "precomputed":  # arccos
            return HDBSCAN(copy=True, **kwargs).fit_predict(arccos_distances(X))
        if algorithm == "brute":  # distances in float64 as the trees compute them (and faster than float32 here)
            X = np.asarray(X, dtype=np.float64)
        return HDBSCAN(algorithm=algorithm, copy=True, **kwargs).fit_predict(X)


@CLUSTERERS.add(
    "hdbscan",
    "HDBSCAN (label -1 is noise); the number of clusters is found, not given",
    options={
        "min_cluster_size": {
            "type": "integer",
            "minimum": 2,
            "default": 5,
            "description": "Smallest cluster (the study: 5; 2 for CelebA, UTKFace, BIOSCAN-1M).",
        },
        "min_samples": {
            "type": ["integer", "null"],
            "minimum": 1,
            "default": None,
            "description": "Core-distance neighbours; null means min_cluster_size (the study).",
        },
        "max_cluster_size_fraction": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.2,
            "description": "Largest cluster as a fraction of N (the study: 0.2).",
        },
        "metric": _METRIC,
        "cluster_selection_method": {
            "type": "string",
            "enum": ["eom", "leaf"],
            "default": "eom",
            "description": "How flat clusters are selected from the tree (the study: eom).",
        },
        "algorithm": {
            "type": "string",
            "enum": ["auto", "brute", "kd_tree", "ball_tree"],
            "default": "auto",
            "description": "Neighbour search; auto = scikit-learn's KD-tree up to 64 dimensions and above 20,000 points, else "
            "brute force on float64 distances (the tree is slow in high dimensions). The two routes give the same clusters "
            "except where mutual-reachability distances tie: their spanning trees break ties differently (docs/measurements.md).",
        },
    },
    uses_n_clusters=False,
    memory=lambda n, d, spec: (
        16 * n * n if spec["metric"] == "arccos" or _HDBSCAN.search(spec["algorithm"], n, d) == "brute" else 32 * n * d
    ),
    seconds=lambda n, d, k, spec: (
        5e-8 * n * n + n * n * d / BLAS_FLOPS
        if spec.get("metric") == "arccos" or _HDBSCAN.search(spec.get("algorithm", "auto"), n, d) == "brute"
        else 1.1e-4 * n * math.log2(max(n, 2)) * max(1.0, d / 50)
    ),
    label="HDBSCAN",
)
def hdbscan(
    min_cluster_size,
    min_samples,
    max_cluster_size_fraction,
    metric,
    cluster_selection_method,
    algorithm,
    n_clusters,
    n_samples,
    seed,
):
    metric = sklearn_metric(metric)
    return _HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        max_cluster_size=max(min_cluster_size, round(max_cluster_size_fraction * n_samples)),
        metric=metric,
        cluster_selection_method=cluster_selection_method,
        algorithm=algorithm,
    )


def n_clusters_asked(labels: np.ndarray, n_clusters: int | None, where: str) -> int:
    """The number of clusters asked of a method given one (K-Means, ...): the dataset's `n_clusters`,
    else the number of classes present in `labels`, as in the study (noise, -1, is no class). Every
    stage that asks for clusters counts them here (cluster, labelfree, search) and so does the plan.
    ValueError naming `where` when there is no class to count."""
    if n_clusters is not None:
        return int(n_clusters)
    present = len(np.unique(labels[labels >= 0]))
    if present == 0:
        raise ValueError(f"{where}: no labels to count clusters from; set the dataset's n_clusters")
    return present


def n_clusters_problem(dataset: str, n_clusters: int, n_samples: int) -> str | None:
    """Why `n_clusters` clusters cannot be asked of dataset's `n_samples` samples (None: they can).
    For the cluster job, once the samples are known (an image folder's, a split's size)."""
    if n_clusters > n_samples:
        return f"datasets.{dataset}.n_clusters: {n_clusters} clusters of only {n_samples} samples"
    return None


def memory_limit(limit_gb: float | None) -> int:
    """The memory a clusterer may plan to use, in bytes: the configured limit, else 90% of this
    machine's physical memory."""
    if limit_gb is not None:
        return int(limit_gb * 2**30)
    return int(0.9 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def too_big(clusterer: dict, n: int, d: int, limit: int) -> str | None:
    """Why a clusterer should not start on n points of d dimensions (None if it fits)."""
    need = CLUSTERERS[clusterer["type"]].info["memory"](n, d, clusterer)
    if need <= limit:
        return None
    return (
        f"{clusterer['name']} ({clusterer['type']}) on N={n} needs about {need / 2**30:.1f} GiB, over the limit of "
        f"{limit / 2**30:.1f} GiB (limits.memory_gb): subsample with the dataset's max_samples or use "
        f"another reducer or clusterer"
    )


def cluster(
    reduced_path,
    embeddings_path,
    out_path,
    clusterer: dict,
    seed: int,
    n_clusters: int | None = None,
    memory_gb=None,
    dataset=None,
) -> None:
    """Cluster one reduction; `n_clusters` (the config's datasets.<dataset>.n_clusters) defaults to
    the number of classes present (the study). The output is written whatever happens to the
    method (zsc.failures): a clusterer whose memory estimate is over the limit does not start
    (status skipped); one whose reduction failed, that is asked for more clusters than there are
    samples, or that raises a known data-dependent error records status failed and the reason."""
    from . import failures, tables

    meta = {"clusterer": clusterer, "seed": seed}
    columns, _ = tables.read(embeddings_path, columns=["index", "label"])

    def not_run(status, reason):
        log.warning("%s: %s", status, reason)
        tables.write_not_run(out_path, ["index", "label_pred"], meta, status, reason)

    reduction = tables.not_run(reduced_path)
    if reduction:
        return not_run(failures.FAILED, failures.reduction_not_run(*reduction))
    X = tables.read_vectors(reduced_path)
    reason = too_big(clusterer, X.shape[0], X.shape[1], memory_limit(memory_gb))
    if reason:
        return not_run(failures.SKIPPED, reason)
    if CLUSTERERS[clusterer["type"]].info["uses_n_clusters"]:
        given = n_clusters is not None
        n_clusters = n_clusters_asked(columns["label"], n_clusters, f"{embeddings_path}: {clusterer['name']}")
        if given and (reason := n_clusters_problem(dataset or "<dataset>", n_clusters, len(X))):
            return not_run(failures.FAILED, f"{reason}, so {clusterer['name']} ({clusterer['type']}) cannot run")
    model = CLUSTERERS.build(clusterer, n_clusters=n_clusters, n_samples=len(X), seed=seed)
    try:
        labels = np.asarray(model.fit_predict(X), dtype=np.int64)
    except Exception as error:
        why = failures.cell_failure(error)
        if why is None:
            raise
        return not_run(
            failures.FAILED, f"clusterers.{clusterer['name']} ({clusterer['type']}) on N={len(X)}, d={X.shape[1]}: {why}"
        )
    tables.write(out_path, {"index": columns["index"], "label_pred": labels}, meta)
