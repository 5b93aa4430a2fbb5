"""The scale routes of the clusterers (zsc.linkage; Spectral's eigensolver option) against scikit-learn."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, SpectralClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from test_methods import spec
from zsc.clusterers import CLUSTERERS, arccos_distances
from zsc.linkage import Agglomerative, memory_bytes, route


def _sklearn(X, linkage, metric, **cut):
    if metric == "arccos":
        return AgglomerativeClustering(linkage=linkage, metric="precomputed", **cut).fit_predict(arccos_distances(X))
    return AgglomerativeClustering(linkage=linkage, metric={"l1": "manhattan"}.get(metric, metric), **cut).fit_predict(X)


def _datasets():
    rng = np.random.default_rng(0)
    blobs = make_blobs(n_samples=400, centers=6, n_features=12, cluster_std=2.0, random_state=0)[0]
    duplicates = np.repeat(blobs[:150], 3, axis=0)[rng.permutation(450)]  # every point three times
    lattice = rng.integers(0, 101, size=(400, 10)).astype(float) + 1  # integer coordinates: tied distances
    return {"blobs": blobs, "duplicates": duplicates, "lattice": lattice}


DATA = _datasets()
CASES = [("ward", "euclidean")] + [
    (linkage, metric)
    for linkage in ("average", "complete", "single")
    for metric in ("euclidean", "l1", "chebyshev", "cosine", "arccos")
]


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("linkage,metric", CASES)
def test_labels_equal_scikit_learns_as_arrays(data, linkage, metric):
    X = DATA[data]
    for n_clusters in (2, 6, 25):
        ours = Agglomerative(linkage, metric, n_clusters=n_clusters).fit_predict(X)
        np.testing.assert_array_equal(ours, _sklearn(X, linkage, metric, n_clusters=n_clusters))


def test_complete_and_single_linkage_equal_scikit_learn_under_massive_ties():
    # 600 points on 64 lattice cells: most distances tie. complete and single only compare and copy
    # distances, so every route breaks ties alike (ward and average do arithmetic: docs/measurements.md).
    X = np.random.default_rng(1).integers(0, 4, size=(600, 3)).astype(float)
    for linkage in ("complete", "single"):
        for n_clusters in (2, 5, 30):
            ours = Agglomerative(linkage, "euclidean", n_clusters=n_clusters).fit_predict(X)
            np.testing.assert_array_equal(ours, _sklearn(X, linkage, "euclidean", n_clusters=n_clusters))


def test_threshold_cut_counts_heights_at_or_above_the_threshold_like_scikit_learn():
    X = DATA["blobs"]
    heights = (
        AgglomerativeClustering(linkage="complete", n_clusters=None, distance_threshold=0, compute_full_tree=True)
        .fit(X)
        .distances_
    )
    for threshold in [heights[-1], heights[-3], heights[-40], 0.5 * (heights[-5] + heights[-6]), 1e-9]:  # exact merge heights too
        ours = Agglomerative("complete", "euclidean", distance_threshold=threshold).fit_predict(X)
        np.testing.assert_array_equal(ours, _sklearn(X, "complete", "euclidean", n_clusters=None, distance_threshold=threshold))


@pytest.mark.parametrize(
    "linkage,metric,threshold", [("ward", "euclidean", 0.6), ("average", "l1", 0.3), ("average", "cosine", 0.2)]
)
def test_registry_threshold_clusterer_equals_scikit_learn_on_the_scaled_data(linkage, metric, threshold):
    X = DATA["blobs"].astype(np.float32)
    model = CLUSTERERS.build(
        spec("clusterers", "agglomerative_threshold", distance_threshold=threshold, linkage=linkage, metric=metric),
        n_clusters=0,
        n_samples=len(X),
        seed=1,
    )
    scaled = np.asarray(X, dtype=np.float64)
    scaled = (scaled - scaled.mean(axis=0)) / scaled.std(axis=0).mean()
    scaled /= {"euclidean": np.sqrt(X.shape[1]), "l1": X.shape[1]}.get(metric, 1.0)
    expected = _sklearn(scaled, linkage, metric, n_clusters=None, distance_threshold=threshold)
    assert len(np.unique(expected)) > 1
    np.testing.assert_array_equal(model.fit_predict(X), expected)


_PEAK_SCRIPT = """
import json, sys
import numpy as np, fastcluster, scipy.spatial.distance, scipy.cluster.hierarchy, sklearn.cluster
sys.path.insert(0, sys.argv[1])
from zsc.linkage import Agglomerative
n, d, linkage, metric = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
X = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
Agglomerative(linkage, metric, n_clusters=3).fit_predict(X[:50])  # load the code paths first
np.ones((512, 512)) @ np.ones((512, 512))  # and BLAS's thread buffers
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # Linux: the peak (VmHWM) restarts from the current resident size
before = status("VmRSS:") - X.nbytes  # the estimate counts the input vectors
Agglomerative(linkage, metric, n_clusters=10).fit_predict(X)
print(json.dumps({"peak": status("VmHWM:") - before}))
"""


@pytest.mark.parametrize(
    "linkage,metric,n,d", [("ward", "euclidean", 4000, 300), ("average", "cosine", 5000, 50), ("single", "l1", 5000, 200)]
)
def test_memory_estimate_bounds_the_measured_peak(repo, linkage, metric, n, d):
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(repo / "workflow"), str(n), str(d), linkage, metric],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak = json.loads(out.stdout)["peak"]
    estimate = memory_bytes(n, d, linkage, metric)
    assert peak <= estimate, f"{linkage}/{metric}: peak {peak / 2**20:.0f} MiB over the estimate {estimate / 2**20:.0f} MiB"
    if route(linkage, metric) == "condensed":  # the matrix dominates: the estimate is not loose either
        assert estimate < 2 * peak


def test_estimates_let_ward_and_condensed_linkage_reach_the_study_sizes():
    assert memory_bytes(100_000, 50, "ward", "euclidean") < 2 * 2**30  # O(N d): no matrix
    condensed = memory_bytes(70_000, 200, "average", "cosine")
    assert 18 * 2**30 < condensed < 20 * 2**30  # one 18.3 GiB condensed matrix, not scikit-learn's 36.5 GiB


def test_spectral_default_is_scikit_learns_route_and_lobpcg_an_approximation():
    X, y = make_blobs(n_samples=2500, centers=5, n_features=30, cluster_std=3.0, random_state=2)
    default = CLUSTERERS.build(spec("clusterers", "spectral"), n_clusters=5, n_samples=len(X), seed=4).fit_predict(X)
    reference = SpectralClustering(
        n_clusters=5, affinity="nearest_neighbors", n_neighbors=10, assign_labels="cluster_qr", random_state=4
    ).fit_predict(X)
    np.testing.assert_array_equal(default, reference)
    lobpcg = CLUSTERERS.build(spec("clusterers", "spectral", eigen_solver="lobpcg"), n_clusters=5, n_samples=len(X), seed=4)
    assert adjusted_rand_score(reference, lobpcg.fit_predict(X)) > 0.9


def test_spectral_at_10000_points_on_several_threads_gives_a_one_thread_jobs_labels_and_lanczos_the_same():
    """The cluster rule gives Spectral jobs several threads (its k-NN search): labels stay a one-thread job's.
    Lanczos (no LU) gives the same labels on this connected graph."""
    from threadpoolctl import threadpool_limits

    X = make_blobs(n_samples=10_000, centers=10, n_features=64, cluster_std=8.0, random_state=3)[0].astype(np.float32)
    with threadpool_limits(limits=1):  # a one-thread job, as before: OpenMP and BLAS on one thread
        reference = SpectralClustering(
            n_clusters=10, affinity="nearest_neighbors", n_neighbors=20, assign_labels="cluster_qr", random_state=1
        ).fit_predict(X)
    for solver in ("arpack", "lanczos"):
        with threadpool_limits(limits=2):  # a two-thread job: OMP_NUM_THREADS=2, OPENBLAS_NUM_THREADS=2
            model = CLUSTERERS.build(
                spec("clusterers", "spectral", n_neighbors=20, eigen_solver=solver), n_clusters=10, n_samples=len(X), seed=1
            )
            np.testing.assert_array_equal(model.fit_predict(X), reference, err_msg=solver)
    assert len(np.unique(reference)) == 10


@pytest.mark.parametrize("n_blobs", [4, 8, 12])
def test_lanczos_on_a_graph_of_several_components_finds_each_one(n_blobs):
    """Far-apart blobs: one graph component each, so the Laplacian's 0 is repeated; Lanczos from one start
    vector alone would find one of its vectors, so zsc.spectral solves component by component. Fewer
    components than clusters: ARPACK's labels exactly; as many: the components, as ARPACK finds them (its
    basis of the repeated eigenvalue's vectors is another, so the cluster numbers may differ); more: any
    n_clusters of them are as right, so only the number of clusters is compared."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph

    X, truth = make_blobs(n_samples=1500 + 100 * n_blobs, centers=n_blobs, n_features=32, cluster_std=1.0, random_state=5)
    assert connected_components(kneighbors_graph(X, 10, include_self=True), directed=False)[0] == n_blobs
    reference = SpectralClustering(
        n_clusters=8, affinity="nearest_neighbors", n_neighbors=10, assign_labels="cluster_qr", random_state=2
    ).fit_predict(X)
    lanczos = CLUSTERERS.build(
        spec("clusterers", "spectral", eigen_solver="lanczos"), n_clusters=8, n_samples=len(X), seed=2
    ).fit_predict(X)
    if n_blobs < 8:
        np.testing.assert_array_equal(lanczos, reference)
    elif n_blobs == 8:
        assert adjusted_rand_score(truth, reference) == adjusted_rand_score(truth, lanczos) == 1.0
    else:
        assert len(np.unique(lanczos)) == len(np.unique(reference)) == 8


def test_hdbscan_takes_scikit_learns_own_route_up_to_64_dimensions_and_float64_brute_force_above():
    from sklearn.cluster import HDBSCAN

    for d, n in ((50, 3000), (200, 1500)):
        X = make_blobs(n_samples=n, centers=8, n_features=d, cluster_std=3.0, random_state=d)[0].astype(np.float32)
        ours = CLUSTERERS.build(spec("clusterers", "hdbscan"), n_clusters=0, n_samples=n, seed=1).fit_predict(X)
        assert len(np.unique(ours)) > 2
        settings = {"min_cluster_size": 5, "max_cluster_size": round(0.2 * n)}  # the study's, the entry's defaults
        if d <= 64:  # scikit-learn's default route (a KD-tree) on the float32 input, label for label
            reference = HDBSCAN(copy=True, **settings).fit_predict(X)
        else:  # brute force, distances in float64
            reference = HDBSCAN(algorithm="brute", copy=True, **settings).fit_predict(X.astype(np.float64))
        np.testing.assert_array_equal(ours, reference)
