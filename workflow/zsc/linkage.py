"""Agglomerative clustering with scikit-learn's labels in the least memory an exact method needs.

scikit-learn's AgglomerativeClustering (no connectivity) builds scipy's linkage tree and cuts it with
its own numbering. scipy's route holds the condensed distances twice (pdist's output and the linkage's
working copy, 8 N^2 bytes) and, for ward, computes them at all. Here:

- ward: fastcluster's `linkage_vector` works on the vectors (memory O(N d): a float64 copy of X, the
  cluster sizes and a nearest-neighbour list; no distance matrix at all);
- single with euclidean, l1 or chebyshev: scikit-learn's own minimum spanning tree on the vectors,
  which is already O(N d), so it is scikit-learn itself;
- average, complete, and single with cosine or arccos: one condensed float64 matrix (N (N - 1) / 2 x
  8 bytes = 4 N (N - 1)) from scipy's pdist (the values scikit-learn gives scipy), linked in place by
  fastcluster's C routine (its Python wrapper would copy it; single linkage by scipy's own MST, which does not copy either).

The tree is cut as scikit-learn cuts it (`sklearn_cut`, a copy of its `_hc_cut`: the same heap over node
ids, so the same label numbers), at n_clusters or at `distance_threshold` (n_clusters = the number of
merge heights >= the threshold, plus one, as in scikit-learn). The trees are the same merges as scipy's
(the same algorithms: NN-chain for average/complete; for ward fastcluster's vector algorithm merges the
same pairs, heights within ~1e-12 relative of scipy's, see docs/measurements.md); ties are discussed
in the tests and the docs.
"""

from __future__ import annotations

from heapq import heappush, heappushpop

import numpy as np

from .metric_names import SCIPY_METRIC, sklearn_metric

VECTOR_SINGLE_METRICS = {"euclidean", "l1", "chebyshev"}  # scikit-learn's MST on the vectors covers these


def route(linkage: str, metric: str) -> str:
    """Which exact method builds the tree: 'vector' (ward), 'sklearn_mst' (single on vectors) or 'condensed'."""
    if linkage == "ward":
        return "vector"
    if linkage == "single" and metric in VECTOR_SINGLE_METRICS:
        return "sklearn_mst"
    return "condensed"


def memory_bytes(n: int, d: int, linkage: str, metric: str) -> int:
    """Peak memory of `Agglomerative.fit_predict` on n float32 points of d dimensions (an upper bound).

    The inputs: the float32 vectors as read (4 n d) and up to four float64 arrays of them alive at once
    while the study's AC w/o C scaling and fastcluster's own copy run (32 n d); O(n) bookkeeping (the
    tree, sizes, neighbour lists: 256 n). The condensed route adds its one matrix, 4 n (n - 1)."""
    inputs = 36 * n * d + 256 * n
    if route(linkage, metric) == "condensed":
        return inputs + 4 * n * (n - 1)
    return inputs


def condensed_distances(X: np.ndarray, metric: str, block_rows: int = 2048) -> np.ndarray:
    """The condensed float64 distance matrix (scipy's pdist layout). arccos is filled in row blocks
    from the unit vectors, so no N x N matrix is ever held."""
    from scipy.spatial.distance import pdist

    X = np.asarray(X, dtype=np.float64)
    if metric != "arccos":
        return pdist(X, SCIPY_METRIC[metric])
    n = len(X)
    unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.finfo(float).tiny)
    out = np.empty(n * (n - 1) // 2)
    for start in range(0, n - 1, block_rows):
        stop = min(start + block_rows, n - 1)
        cosines = unit[start:stop] @ unit.T  # rows start..stop-1 against everything
        for i in range(start, stop):
            first = i * n - i * (i + 1) // 2  # where row i's entries (i, i+1..n-1) begin in pdist's layout
            out[first : first + n - 1 - i] = np.arccos(np.clip(cosines[i - start, i + 1 :], -1.0, 1.0))
    return out


def tree(X: np.ndarray, linkage: str, metric: str) -> np.ndarray:
    """scipy's linkage matrix (children, height, size per merge) of X."""
    import fastcluster

    X = np.asarray(X, dtype=np.float64)
    kind = route(linkage, metric)
    if kind == "vector":
        return fastcluster.linkage_vector(X, method="ward")
    if kind == "sklearn_mst":
        raise ValueError("single linkage on vectors is scikit-learn's own route: use Agglomerative")
    distances = condensed_distances(X, metric)
    if linkage == "single":
        from scipy.cluster.hierarchy import linkage as scipy_linkage

        return scipy_linkage(distances, method="single")  # what scikit-learn calls, MST in place
    # fastcluster.linkage copies its input even with preserve_input=False (its first line is
    # numpy.array(X)); its C routine, called directly, links the one matrix in place.
    Z = np.empty((len(X) - 1, 4))
    fastcluster.linkage_wrap(len(X), distances, Z, fastcluster.mthidx[linkage])
    return Z


def n_clusters_at(heights: np.ndarray, distance_threshold: float) -> int:
    """Clusters left when the tree is cut at a threshold, as scikit-learn counts them."""
    return int(np.count_nonzero(heights >= distance_threshold)) + 1


def sklearn_cut(children: np.ndarray, n_clusters: int, n_leaves: int) -> np.ndarray:
    """scikit-learn's `_hc_cut`: undo the last n_clusters - 1 merges, keeping the candidate nodes in a
    heap of negated ids; label i goes to the leaves under the heap's i-th entry."""
    if n_clusters > n_leaves:
        raise ValueError(f"Cannot extract more clusters than samples: {n_clusters} clusters for {n_leaves} points")
    children = np.asarray(children, dtype=np.intp)
    nodes = [-(int(max(children[-1])) + 1)]
    for _ in range(n_clusters - 1):
        these_children = children[-nodes[0] - n_leaves]
        heappush(nodes, -int(these_children[0]))
        heappushpop(nodes, -int(these_children[1]))
    owner = np.full(2 * n_leaves - 1, -1, dtype=np.intp)
    for label, node in enumerate(nodes):
        owner[-node] = label
    for node in range(2 * n_leaves - 2, n_leaves - 1, -1):  # parents before children: ids grow upwards
        if owner[node] >= 0:
            owner[children[node - n_leaves]] = owner[node]
    return owner[:n_leaves]


class Agglomerative:
    """fit_predict with AgglomerativeClustering's labels: n_clusters given, or a distance_threshold."""

    def __init__(self, linkage: str, metric: str, n_clusters: int | None = None, distance_threshold: float | None = None):
        if (n_clusters is None) == (distance_threshold is None):
            raise ValueError("give exactly one of n_clusters and distance_threshold")
        self.linkage, self.metric = linkage, metric
        self.n_clusters, self.distance_threshold = n_clusters, distance_threshold

    def fit_predict(self, X) -> np.ndarray:
        if route(self.linkage, self.metric) == "sklearn_mst":
            from sklearn.cluster import AgglomerativeClustering

            model = AgglomerativeClustering(
                n_clusters=self.n_clusters,
                distance_threshold=self.distance_threshold,
                linkage="single",
                metric=sklearn_metric(self.metric),
            )
            return model.fit_predict(X)
        n = len(X)
        if self.n_clusters is not None and self.n_clusters > n:
            raise ValueError(f"Cannot extract more clusters than samples: {self.n_clusters} clusters for {n} points")
        Z = tree(X, self.linkage, self.metric)
        n_clusters = self.n_clusters if self.n_clusters is not None else n_clusters_at(Z[:, 2], self.distance_threshold)
        return sklearn_cut(Z[:, :2], n_clusters, n)
