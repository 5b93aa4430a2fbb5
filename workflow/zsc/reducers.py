"""Reducer registry: each factory returns a scikit-learn-shaped object with `fit_transform(X)`.

A reduction is computed once per (embeddings, reducer, seed) by the reduce rule and shared by every
clusterer and by the silhouette-in-reduced-space metric.
"""

from __future__ import annotations

import logging

import numpy as np

from .registry import Registry

log = logging.getLogger(__name__)

# Every entry declares whether it is the identity (no file: clusterers read the embeddings) and its
# memory(n, d, spec) and seconds(n, d, spec) estimates (see below).
REDUCERS = Registry("reducers", required=("identity", "memory", "seconds"))
# umap-learn's named distances (umap.distances.named_distances; a test keeps them in step), listed here
# so that a misspelt metric stops at parse time without importing umap (seconds, numba).
UMAP_METRICS = tuple(
    "braycurtis canberra categorical chebyshev correlation cosine count dice euclidean hamming haversine hellinger "
    "hierarchical_categorical jaccard kulsinski l1 l2 linf linfinity linfty ll_dirichlet mahalanobis manhattan "
    "matching minkowski myers ordinal poincare rogerstanimoto russellrao seuclidean softmax_hellinger sokalmichener "
    "sokalsneath standardised_euclidean string symmetric_kl taxicab weighted_minkowski wminkowski yule".split()
)


class Identity:
    def fit_transform(self, X):
        return X


class ZScore:
    """Per-dimension standardisation; zero-variance dimensions become 0 (as in the study).

    Mean and std are taken in float64; the result keeps a float32 input's precision, as the study's
    in-place z-score of its float32 embeddings did (so a PCA after it runs in float32 too)."""

    def fit_transform(self, X):
        X = np.asarray(X)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        X = X.astype(np.float64)
        std = X.std(axis=0)
        return ((X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(dtype, copy=False)


class ZScoredPCA:
    def __init__(self, n_components, zscore: bool, seed: int):
        from sklearn.decomposition import PCA

        self.zscore = zscore
        self.pca = PCA(n_components=n_components, random_state=seed)

    def fit_transform(self, X):
        # float32, the embeddings' and the study's precision: the full SVD a variance fraction needs
        # takes 2-5x less time than in float64, and K-Means and Ward labels were the same on both
        # (docs/measurements.md, "PCA in float32"); the result is stored as float32 anyway.
        X = np.asarray(X, dtype=np.float32)
        X = ZScore().fit_transform(X) if self.zscore else X
        return self.pca.fit_transform(X)


# Each entry's `memory(n, d, spec)` is the bytes its method holds beyond the float32 input as read (an
# upper bound; zsc.resources adds the job's base), `seconds(n, d, spec)` its predicted time beyond a
# job's start-up on one core here; both are checked against measured jobs (tests/test_estimates.py).
@REDUCERS.add(
    "none",
    "The embeddings as they are (no file is written; clusterers read the embeddings)",
    identity=True,
    memory=lambda n, d, spec: 0,
    seconds=lambda n, d, spec: 0.0,
)
def none(seed: int):
    return Identity()


@REDUCERS.add(
    "zscore",
    "Per-dimension z-score only (the study's 'none(z)')",
    identity=False,
    memory=lambda n, d, spec: 24 * n * d,  # the float64 copy, centred, then scaled
    seconds=lambda n, d, spec: 2e-8 * n * d,
)
def zscore(seed: int):
    return ZScore()


@REDUCERS.add(
    "pca",
    "PCA by number of components or fraction of variance kept, z-scored first by default",
    options={
        "n_components": {
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}],
            "description": "Components to keep: an integer count, or a fraction in (0, 1) of the variance to keep.",
        },
        "zscore": {"type": "boolean", "default": True, "description": "Z-score each dimension before PCA (the study: yes)."},
    },
    identity=False,
    # the z-scored float64 copies, PCA's centred copy, a min(n, d)^2 covariance and its eigenvectors
    memory=lambda n, d, spec: 40 * n * d + 24 * min(n, d) ** 2,
    seconds=lambda n, d, spec: 2 * n * d * min(n, d) / 4e10 + 3e-8 * n * d,
)
def pca(n_components, zscore: bool, seed: int):
    return ZScoredPCA(n_components, zscore, seed)


@REDUCERS.add(
    "umap",
    "UMAP (seeded, so single-threaded and reproducible); the study's U50 is the default",
    options={
        "n_components": {"type": "integer", "minimum": 1, "default": 50, "description": "Output dimensions."},
        "n_neighbors": {"type": "integer", "minimum": 2, "default": 30, "description": "Size of the neighbourhood graph."},
        "min_dist": {"type": "number", "minimum": 0, "default": 0.0, "description": "Minimum distance between embedded points."},
        "metric": {
            "enum": list(UMAP_METRICS),
            "default": "euclidean",
            "description": "Distance in the input space (a umap-learn metric).",
        },
    },
    identity=False,
    # measured: 26 bytes per input value beyond the job's base (4.7 GB at 70,000 x 2,352), plus the
    # k-NN graph and its fuzzy union per point
    memory=lambda n, d, spec: 32 * n * d + 200 * n * spec["n_neighbors"] + 8 * n * spec["n_components"],
    # measured: 173 s at 70,000 x 2,352, 23 s at 10,000 (nearest-neighbour descent grows with n d),
    # 3 s of it loading numba's cached code
    seconds=lambda n, d, spec: 3.0 + n * (2e-4 + 1e-6 * d),
)
def umap(n_components: int, n_neighbors: int, min_dist: float, metric: str, seed: int):
    return SeededUMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric, random_state=seed)


class SeededUMAP:
    """umap-learn's UMAP, also for tiny datasets: with fewer points than n_components + 2 its spectral
    initialisation cannot run, so those few get a random (seeded) one and at most N - 1 neighbours."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def fit_transform(self, X):
        from .numba_cache import import_umap  # numba, only when a UMAP runs: this module is read at parse time

        UMAP = import_umap()
        kwargs = dict(self.kwargs)
        if len(X) < kwargs["n_components"] + 2:
            log.warning("UMAP of only %d points into %d dimensions: random initialisation", len(X), kwargs["n_components"])
            kwargs.update(init="random", n_neighbors=min(kwargs["n_neighbors"], len(X) - 1))
        return UMAP(**kwargs).fit_transform(X)


@REDUCERS.add(
    "pacmap",
    "PaCMAP (seeded); the study implemented it as an alternative to UMAP",
    options={
        "n_components": {"type": "integer", "minimum": 1, "default": 50, "description": "Output dimensions."},
        "n_neighbors": {"type": "integer", "minimum": 2, "default": 10, "description": "Near pairs per point."},
        "mn_ratio": {"type": "number", "exclusiveMinimum": 0, "default": 0.5, "description": "Mid-near pairs per near pair."},
        "fp_ratio": {"type": "number", "exclusiveMinimum": 0, "default": 2.0, "description": "Further pairs per near pair."},
    },
    identity=False,
    memory=lambda n, d, spec: 32 * n * d + 400 * n * spec["n_neighbors"] + 8 * n * spec["n_components"],  # not measured: as UMAP
    seconds=lambda n, d, spec: 3.0 + 1.5 * n * (2e-4 + 1e-6 * d),
)
def pacmap(n_components: int, n_neighbors: int, mn_ratio: float, fp_ratio: float, seed: int):
    return SeededPaCMAP(
        n_components=n_components, n_neighbors=n_neighbors, MN_ratio=mn_ratio, FP_ratio=fp_ratio, random_state=seed
    )


class SeededPaCMAP:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def fit_transform(self, X):
        import pacmap

        X = np.asarray(X, dtype=np.float32)
        # PaCMAP samples its neighbour pairs from the N - 1 others
        kwargs = {**self.kwargs, "n_neighbors": min(self.kwargs["n_neighbors"], len(X) - 2)}
        return pacmap.PaCMAP(**kwargs).fit_transform(X, init="pca")


class L2Normalise:
    def fit_transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.finfo(float).tiny)


@REDUCERS.add(
    "l2norm",
    "Each embedding scaled to unit L2 norm (euclidean distances then order as cosine ones)",
    identity=False,
    memory=lambda n, d, spec: 16 * n * d,  # a float64 copy and the scaled result
    seconds=lambda n, d, spec: 2e-8 * n * d,
)
def l2norm(seed: int):
    return L2Normalise()


@REDUCERS.add(
    "tsne",
    "t-SNE (scikit-learn, seeded; Barnes-Hut below 4 dimensions, else exact)",
    options={
        "n_components": {"type": "integer", "minimum": 1, "default": 2, "description": "Output dimensions."},
        "perplexity": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 30.0,
            "description": "Effective number of neighbours.",
        },
    },
    identity=False,
    # Barnes-Hut keeps 3 x perplexity neighbours a point; the exact method (4+ dimensions) N x N matrices
    memory=lambda n, d, spec: 32 * n * d + (72 * n * spec["perplexity"] if spec["n_components"] < 4 else 24 * n * n),
    seconds=lambda n, d, spec: 5e-3 * n + 1e-8 * n * d if spec["n_components"] < 4 else 1e-6 * n * n,
)
def tsne(n_components: int, perplexity: float, seed: int):
    from sklearn.manifold import TSNE

    method = "barnes_hut" if n_components < 4 else "exact"
    return TSNE(n_components=n_components, perplexity=perplexity, init="pca", method=method, random_state=seed)


def reducer_problem(name: str, reducer: dict, n_samples: int | None, dim: int | None) -> str | None:
    """Why reducer `name` (its config entry) cannot reduce n_samples x dim embeddings (None: it can;
    either size may be None, unknown). For the reduce job: a cell failure, recorded with this reason;
    the config and the plan ask it too, with the sizes they know before any job."""
    n_components = reducer.get("n_components")
    if reducer["type"] != "pca" or not isinstance(n_components, int):  # a fraction of the variance always fits
        return None
    limits = [(size, what) for size, what in ((dim, "dimensions"), (n_samples, "samples")) if size is not None]
    for size, what in limits:
        if n_components > size:
            return f"reducers.{name}.n_components: {n_components} components exceed the {size} {what}"
    return None


def reduce(embeddings_path, out_path, reducer: dict, seed: int, embeddings: str = "the embeddings") -> None:
    """Reduce one embeddings file (`embeddings` names it in messages: dataset, split, encoder). A
    reducer that cannot reduce this data (zsc.failures) writes the file without vectors, its
    status and reason in the metadata: its clusterers record the reason instead of running."""
    from . import failures, tables

    X = tables.read_vectors(embeddings_path)
    index = tables.read(embeddings_path, columns=["index"])[0]["index"]
    meta = {"reducer": reducer, "seed": seed}
    name = reducer.get("name", reducer["type"])
    reason = reducer_problem(name, reducer, *X.shape)  # before any work, naming the config key
    if reason:
        reason += f" of {embeddings}"
    else:
        try:
            Z = REDUCERS.build(reducer, seed=seed).fit_transform(X)
        except Exception as error:
            why = failures.cell_failure(error)
            if why is None:
                raise
            reason = f"reducers.{name} ({reducer['type']}) on {embeddings}, {X.shape[0]} x {X.shape[1]}: {why}"
    if reason:
        log.warning("failed: %s", reason)
        tables.write_not_run(out_path, ["index"], meta, failures.FAILED, reason)
        return
    tables.write(out_path, {"index": index, tables.VECTOR: Z}, meta)
