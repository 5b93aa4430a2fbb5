"""Reducers, clusterers, metrics and the parquet contract against their reference behaviour."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_mutual_info_score, silhouette_score

from zsc import config as cfg
from zsc import metrics, tables
from zsc.clusterers import CLUSTERERS
from zsc.reducers import REDUCERS


def spec(kind, type_, **options):
    """A resolved config entry, defaults filled in by the real config code."""
    base = {"datasets": {"digits": {}}, "encoders": {"raw": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    base[kind] = {"x": {"type": type_, **options}}
    return cfg.load(base).entry(kind, "x")


@pytest.fixture(scope="module")
def blobs():
    # Six blobs of 50: each under the 20% HDBSCAN max cluster size of the study (a larger one is noise).
    X, y = make_blobs(n_samples=300, centers=6, n_features=40, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


def test_zscore_sets_constant_dimensions_to_zero():
    X = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    Z = REDUCERS.build(spec("reducers", "zscore"), seed=1).fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, 0], [-1.224744871, 0, 1.224744871], atol=1e-8)
    np.testing.assert_array_equal(Z[:, 1], 0)


def test_pca_by_components_and_by_variance(blobs):
    X, _ = blobs
    assert REDUCERS.build(spec("reducers", "pca", n_components=5), seed=1).fit_transform(X).shape == (300, 5)
    by_variance = REDUCERS.build(spec("reducers", "pca", n_components=0.9), seed=1)
    Z = by_variance.fit_transform(X)
    ratios = by_variance.pca.explained_variance_ratio_
    assert ratios.sum() >= 0.9 and ratios[:-1].sum() < 0.9 and Z.shape[1] == len(ratios)


def test_l2norm_and_tsne(blobs):
    from sklearn.manifold import TSNE

    X, _ = blobs
    Z = REDUCERS.build(spec("reducers", "l2norm"), seed=1).fit_transform(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0)
    ours = REDUCERS.build(spec("reducers", "tsne"), seed=3).fit_transform(X)
    np.testing.assert_array_equal(ours, TSNE(2, perplexity=30.0, init="pca", random_state=3).fit_transform(X))


def test_umap_is_seeded(blobs):
    X, _ = blobs
    reducer = spec("reducers", "umap", n_components=3, n_neighbors=10)
    a = REDUCERS.build(reducer, seed=1).fit_transform(X)
    b = REDUCERS.build(reducer, seed=1).fit_transform(X)
    assert a.shape == (300, 3)
    np.testing.assert_array_equal(a, b)


def test_pacmap_is_seeded_and_separates_blobs(blobs):
    X, y = blobs
    reducer = spec("reducers", "pacmap", n_components=4)
    a = REDUCERS.build(reducer, seed=2).fit_transform(X)
    np.testing.assert_array_equal(a, REDUCERS.build(reducer, seed=2).fit_transform(X))
    assert a.shape == (300, 4) and silhouette_score(a, y) > 0.5


def test_umap_code_is_compiled_once_into_the_numba_cache(tmp_path, repo):
    import subprocess
    import sys

    script = "from zsc.numba_cache import import_umap; import_umap()"
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(repo / "workflow"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    cached = {p.name for p in tmp_path.rglob("*.nbi")}
    assert any("umap" in str(p) for p in tmp_path.iterdir()) and any("pynndescent" in str(p) for p in tmp_path.iterdir())
    assert len(cached) > 20  # index files of compiled functions, found again by the next process


def test_nn_descent_is_loaded_from_the_cache_and_finds_the_same_neighbours(tmp_path, repo):
    """UMAP's k-NN graph from 4,096 points on: pynndescent's nn_descent, which numba could not cache (see
    zsc.numba_cache), compiled by the first process and loaded by the next, with plain pynndescent's result."""
    import subprocess
    import sys

    graph = (
        "import sys, numpy as np; from pynndescent import NNDescent; "
        "X = np.random.default_rng(0).normal(size=(600, 8)).astype('float32'); "
        "np.save(sys.argv[1], NNDescent(X, n_neighbors=10, random_state=0, n_jobs=1, compressed=False).neighbor_graph[0])"
    )
    env = {"PYTHONPATH": str(repo / "workflow"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "NUMBA_DEBUG_CACHE": "1"}
    ours = "from zsc.numba_cache import import_umap; import_umap(); "
    logs = {}
    for name, setup, cache in [("first", ours, "ours"), ("second", ours, "ours"), ("plain", "", "plain")]:
        done = subprocess.run(
            [sys.executable, "-W", "always", "-c", setup + graph, str(tmp_path / f"{name}.npy")],
            env={**env, "NUMBA_CACHE_DIR": str(tmp_path / cache)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        logs[name] = [line for line in done.stdout.splitlines() if "pynndescent_.nn_descent" in line]
    assert any(line.startswith("[cache] data saved") for line in logs["first"]), logs["first"]
    assert not any("saved" in line for line in logs["second"]), logs["second"]  # found, not compiled again
    assert any(line.startswith("[cache] data loaded") and "nn_descent-" in line for line in logs["second"])
    for name in ("first", "second"):
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), np.load(tmp_path / "plain.npy"))


def test_umaps_small_data_distances_are_scikit_learns_bit_for_bit():
    """Below 4,096 points umap-learn's all-pairs distances come from compiled code instead of one Python
    call per pair: the same float32 matrix, on widths that leave every remainder of the vector loop."""
    from sklearn.metrics import pairwise_distances

    from zsc.numba_cache import import_umap, small_data_distances

    import_umap()
    import umap.umap_
    from umap.distances import cosine, euclidean

    assert umap.umap_.pairwise_distances is small_data_distances
    rng = np.random.default_rng(0)
    for d in (1, 3, 13, 64, 192, 517, 2352):
        X = (rng.normal(size=(150, d)) * rng.uniform(0.1, 100, size=d)).astype(np.float32)
        X[7] = X[3]  # a duplicate: a zero off the diagonal
        for metric in (euclidean, cosine):
            ours = small_data_distances(X, metric=metric)
            assert ours.dtype == np.float32
            np.testing.assert_array_equal(ours, pairwise_distances(X, metric=metric), err_msg=f"d={d} {metric.__name__}")
    # anything else is scikit-learn's own call
    X64 = rng.normal(size=(20, 4))
    np.testing.assert_array_equal(small_data_distances(X64, metric=euclidean), pairwise_distances(X64, metric=euclidean))
    np.testing.assert_array_equal(
        small_data_distances(X, X[:5], metric=euclidean), pairwise_distances(X, X[:5], metric=euclidean)
    )
    with pytest.raises(ValueError, match="NaN"):
        small_data_distances(np.full((3, 2), np.nan, dtype=np.float32), metric=euclidean)


def test_arccos_distances_are_angles():
    from zsc.clusterers import arccos_distances

    X = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]])
    D = arccos_distances(X)
    np.testing.assert_allclose(D[0], [0, np.pi / 2, np.pi, np.pi / 4], atol=1e-7)
    np.testing.assert_allclose(D, D.T)


def test_arccos_agglomerative_equals_sklearn_on_the_precomputed_angles(blobs):
    from sklearn.cluster import AgglomerativeClustering

    from zsc.clusterers import arccos_distances

    X, _ = blobs
    ours = CLUSTERERS.build(
        spec("clusterers", "agglomerative", linkage="complete", metric="arccos"), n_clusters=6, n_samples=300, seed=1
    )
    ref = AgglomerativeClustering(6, metric="precomputed", linkage="complete").fit_predict(arccos_distances(X))
    np.testing.assert_array_equal(ours.fit_predict(X), ref)


def test_leiden_finds_planted_communities_and_is_seeded(blobs):
    X, y = blobs
    model = spec("clusterers", "leiden", n_neighbors=10, resolution=1.0)
    a = CLUSTERERS.build(model, n_clusters=6, n_samples=300, seed=5).fit_predict(X)
    np.testing.assert_array_equal(a, CLUSTERERS.build(model, n_clusters=6, n_samples=300, seed=5).fit_predict(X))
    assert adjusted_mutual_info_score(y, a) > 0.95
    more = CLUSTERERS.build(spec("clusterers", "leiden", n_neighbors=10, resolution=5.0), n_clusters=6, n_samples=300, seed=5)
    assert len(np.unique(more.fit_predict(X))) > 6  # a higher resolution splits communities


@pytest.mark.parametrize(
    "name, options",
    [
        ("kmeans", {}),
        ("agglomerative", {}),
        ("agglomerative", {"linkage": "average", "metric": "chebyshev"}),
        ("agglomerative_threshold", {"distance_threshold": 2.0}),
        ("agglomerative_threshold", {"distance_threshold": 0.5, "linkage": "average", "metric": "l1"}),
        ("spectral", {"n_neighbors": 10}),
        ("affinity_propagation", {}),
        ("hdbscan", {}),
        ("optics", {"min_samples": 10}),
        ("louvain", {"n_neighbors": 10}),
        ("leiden", {"n_neighbors": 10}),
        ("agglomerative", {"linkage": "average", "metric": "arccos"}),
        ("hdbscan", {"metric": "arccos"}),
    ],
)
def test_clusterers_recover_separated_blobs(blobs, name, options):
    X, y = blobs
    labels = CLUSTERERS.build(spec("clusterers", name, **options), n_clusters=6, n_samples=len(X), seed=1).fit_predict(X)
    assert adjusted_mutual_info_score(y, labels) > 0.95


def test_threshold_agglomerative_follows_the_study_scaling(blobs):
    from sklearn.cluster import AgglomerativeClustering

    X, _ = blobs
    d = X.shape[1]
    scaled = (X - X.mean(axis=0)) / X.std(axis=0).mean() / np.sqrt(d)  # azscore2, then the L2 dimension correction
    reference = AgglomerativeClustering(n_clusters=None, distance_threshold=1.0, linkage="ward").fit_predict(scaled)
    ours = CLUSTERERS.build(
        spec("clusterers", "agglomerative_threshold", distance_threshold=1.0), n_clusters=0, n_samples=300, seed=1
    )
    np.testing.assert_array_equal(ours.fit_predict(X), reference)


def test_spectral_and_affinity_propagation_match_sklearn(blobs):
    from sklearn.cluster import AffinityPropagation, SpectralClustering

    X, _ = blobs
    ours = CLUSTERERS.build(spec("clusterers", "spectral", n_neighbors=20), n_clusters=6, n_samples=300, seed=4).fit_predict(X)
    ref = SpectralClustering(
        6, affinity="nearest_neighbors", n_neighbors=20, assign_labels="cluster_qr", random_state=4
    ).fit_predict(X)
    np.testing.assert_array_equal(ours, ref)
    ours = CLUSTERERS.build(
        spec("clusterers", "affinity_propagation", damping=0.75), n_clusters=6, n_samples=300, seed=4
    ).fit_predict(X)
    ref = AffinityPropagation(damping=0.75, convergence_iter=15, max_iter=1000, random_state=4).fit_predict(X)
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize(
    "n, dtype, options",
    [
        (300, np.float64, {"damping": 0.5}),
        (300, np.float32, {"damping": 0.9}),
        (1100, np.float64, {"damping": 0.8}),  # over 512 rows: the seeded noise is drawn in row chunks
        (300, np.float64, {"damping": 0.95, "max_iter": 20}),  # stops unconverged
        (300, np.float64, {"damping": 0.7, "duplicates": True}),  # tied similarities: argmax takes the first
        (40, np.float64, {"damping": 0.7, "identical": True}),  # all equal: scikit-learn's degenerate answer
    ],
)
def test_affinity_propagation_gives_sklearns_labels_bit_for_bit(n, dtype, options):
    import warnings

    from sklearn.cluster import AffinityPropagation

    from zsc.affinity_propagation import affinity_propagation

    options = {"convergence_iter": 15, "max_iter": 1000, **options}
    duplicates, identical = options.pop("duplicates", False), options.pop("identical", False)
    X = make_blobs(n, n_features=5, centers=8, random_state=n)[0].astype(dtype)
    if duplicates:
        X[1::2] = X[::2][: len(X[1::2])]
    if identical:
        X[:] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unconverged and degenerate runs warn in scikit-learn
        reference = AffinityPropagation(**options, random_state=7).fit_predict(X)
        ours = affinity_propagation(X, **options, random_state=7)
    np.testing.assert_array_equal(ours, reference)
    assert len(np.unique(reference)) > 1 or identical or options["max_iter"] == 20


def test_affinity_propagations_column_sums_are_numpys_for_any_split_of_the_columns():
    """scikit-learn's sum over rows of max(R, 0) with the diagonal itself, bit for bit, whatever the
    number of column ranges (threads) and wherever the diagonal falls among the rows read four at a time."""
    from zsc.affinity_propagation import _column_sums

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 8, 9, 301):
        R = rng.standard_normal((n, n)) * 10.0 ** rng.integers(-3, 4, size=(n, n))
        expected = np.maximum(R, 0)
        expected.flat[:: n + 1] = np.diag(R)
        for parts in (1, 2, 3, 4, 7):
            np.testing.assert_array_equal(_column_sums(R, parts), np.sum(expected, axis=0))


def test_kmeans_matches_sklearn_reference(blobs):
    from sklearn.cluster import KMeans

    X, _ = blobs
    ours = CLUSTERERS.build(spec("clusterers", "kmeans"), n_clusters=6, n_samples=len(X), seed=3).fit_predict(X)
    ref = KMeans(6, init="k-means++", n_init=1, max_iter=1000, random_state=3).fit_predict(X)
    np.testing.assert_array_equal(ours, ref)


def test_hdbscan_brute_force_equals_tree_search():
    X, _ = make_blobs(n_samples=400, centers=5, n_features=48, cluster_std=2.0, random_state=1)
    # 48 dimensions: "auto" takes brute force; a KD-tree must find the same clustering.
    auto = CLUSTERERS.build(spec("clusterers", "hdbscan"), n_clusters=5, n_samples=400, seed=1).fit_predict(X)
    tree = CLUSTERERS.build(spec("clusterers", "hdbscan", algorithm="kd_tree"), n_clusters=5, n_samples=400, seed=1).fit_predict(
        X
    )
    np.testing.assert_array_equal(auto, tree)


def test_hdbscan_max_cluster_size_is_a_fraction_of_n():
    model = CLUSTERERS.build(spec("clusterers", "hdbscan", max_cluster_size_fraction=0.1), n_clusters=2, n_samples=1000, seed=1)
    assert model.kwargs["max_cluster_size"] == 100


def test_ami_keeps_noise_as_one_label():
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    y_pred = np.array([5, 5, -1, 7, 7, 7, -1, -1])
    X = np.arange(16, dtype=float).reshape(8, 2)
    scores = metrics.score(y_true, y_pred, {"og": X, "reduced": X}, None, 1)
    assert scores["AMI"] == pytest.approx(adjusted_mutual_info_score(y_true, y_pred))
    clustered = y_pred != -1
    assert scores["AMI_clus"] == pytest.approx(adjusted_mutual_info_score(y_true[clustered], y_pred[clustered]))
    assert scores["n_clusters_pred"] == 2  # noise is not a cluster
    assert scores["n_clusters_true"] == 3
    assert scores["ratio_clustered"] == pytest.approx(5 / 8)
    for name in ("ARI", "FMS", "homogeneity", "completeness", "calinski_harabasz", "davies_bouldin", "silhouette_og_true"):
        assert np.isfinite(scores[name])


def test_unlabelled_data_gets_label_free_metrics_only():
    X = np.random.default_rng(0).standard_normal((20, 3))
    scores = metrics.score(np.full(20, -1), np.repeat([0, 1], 10), {"og": X, "reduced": X}, None, 1)
    assert np.isnan(scores["AMI"]) and np.isnan(scores["silhouette_og_true"]) and np.isfinite(scores["silhouette_og"])


def test_silhouettes_equal_sklearn_exact_subsampled_and_undefined(blobs):
    X, y = blobs
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(300) < 0.1, -1, y)  # HDBSCAN-like noise as one more label
    singleton = y.copy()
    singleton[0] = 99  # a cluster of one point scores 0 for that point, as in sklearn
    ours = metrics.silhouettes(X, {"y": y, "noisy": noisy, "singleton": singleton}, None, 1)
    for name, labels in (("y", y), ("noisy", noisy), ("singleton", singleton)):
        assert ours[name] == pytest.approx(silhouette_score(X, labels), abs=1e-6)  # sklearn sums float32 here, we float64
    sub = metrics.silhouettes(X, {"y": y}, 100, 1)["y"]
    assert sub == metrics.silhouettes(X, {"y": y}, 100, 1)["y"] != ours["y"]
    assert abs(sub - ours["y"]) < 0.05
    undefined = metrics.silhouettes(X, {"one": np.zeros(300, dtype=int), "all": np.arange(300)}, None, 1)
    assert np.isnan(undefined["one"]) and np.isnan(undefined["all"])


def test_silhouettes_do_not_depend_on_the_blas_thread_count():
    """The evaluate rule asks for several threads: the same config must still give the same table."""
    from threadpoolctl import threadpool_limits

    X, y = make_blobs(2000, n_features=64, centers=7, random_state=3)
    labels = {"y": y, "shifted": np.roll(y, 17)}
    with threadpool_limits(1, user_api="blas"):
        one = metrics.silhouettes(X, labels, None, 1)
    with threadpool_limits(2, user_api="blas"):
        two = metrics.silhouettes(X, labels, None, 1)
    assert one == two


def test_tables_roundtrip_is_deterministic_and_atomic(tmp_path):
    rng = np.random.default_rng(0)
    columns = {"index": np.arange(5), "label": np.array([0, 1, 0, 1, 2]), tables.VECTOR: rng.standard_normal((5, 3))}
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    tables.write(a, columns, {"encoder": "raw"})
    tables.write(b, columns, {"encoder": "raw"})
    assert a.read_bytes() == b.read_bytes()
    data, meta = tables.read(a)
    assert data[tables.VECTOR].dtype == np.float32 and data[tables.VECTOR].shape == (5, 3)
    np.testing.assert_array_equal(data["label"], columns["label"])
    assert meta["encoder"] == "raw" and "zsc_version" in meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]  # no temporary left


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(Exception):
        tables.write(tmp_path / "x.parquet", {"index": np.arange(3), "label": np.arange(4)})
    assert list(tmp_path.iterdir()) == []


def test_memory_guard_names_method_n_estimate_and_options():
    from zsc.clusterers import too_big

    ap = spec("clusterers", "affinity_propagation")
    reason = too_big({**ap, "name": "ap"}, 50_000, 50, limit=8 * 2**30)
    assert reason == (
        "ap (affinity_propagation) on N=50000 needs about 55.9 GiB, over the limit of 8.0 GiB (limits.memory_gb): "
        "subsample with the dataset's max_samples or use another reducer or clusterer"
    )
    assert too_big({**ap, "name": "ap"}, 5_000, 50, limit=8 * 2**30) is None
    # Spectral: ARPACK's sparse LU grows as N^2 (9 GB measured at 100,000); Lanczos holds the sparse graph only
    assert too_big({**spec("clusterers", "spectral"), "name": "s"}, 100_000, 50, limit=8 * 2**30).startswith(
        "s (spectral) on N=100000 needs about 14.1 GiB"
    )
    assert too_big({**spec("clusterers", "spectral", eigen_solver="lanczos"), "name": "s"}, 100_000, 50, limit=8 * 2**30) is None
    brute = {**spec("clusterers", "hdbscan", algorithm="brute"), "name": "h"}
    assert too_big(brute, 50_000, 50, limit=8 * 2**30).startswith("h (hdbscan) on N=50000 needs about 37.3 GiB")
    auto = {**spec("clusterers", "hdbscan"), "name": "h"}  # brute force only while N x N stays small, else trees
    assert too_big(auto, 50_000, 2048, limit=8 * 2**30) is None


def test_skipped_cell_is_recorded_with_its_reason(tmp_path, blobs):
    from zsc.clusterers import cluster

    X, y = blobs
    emb = tmp_path / "emb.parquet"
    tables.write(emb, {"index": np.arange(len(y)), "label": y, tables.VECTOR: X})
    out, row_path = tmp_path / "c.parquet", tmp_path / "row.parquet"
    cluster(emb, emb, out, {**spec("clusterers", "affinity_propagation"), "name": "ap"}, seed=1, memory_gb=1e-4)
    run = {"run": {"dataset": "d", "clusterer": "ap", "seed": 1}, "reduced": emb, "clusters": out}
    metrics.evaluate(emb, [run], row_path, {"silhouette_max_samples": None})
    row, _ = tables.read(row_path)
    assert row["skipped"][0].startswith("ap (affinity_propagation) on N=300 needs about 0.0 GiB, over the limit of 0.0 GiB")
    assert "AMI" not in row


def test_one_evaluation_of_all_runs_equals_each_run_scored_alone(tmp_path, blobs):
    """The evaluate job shares each space's distance pass between runs; the rows must not change."""
    import pandas as pd

    from zsc.clusterers import cluster

    X, y = blobs
    emb, reduced, umap = tmp_path / "emb.parquet", tmp_path / "pca.parquet", tmp_path / "umap.parquet"
    tables.write(emb, {"index": np.arange(len(y)), "label": y, tables.VECTOR: X})
    tables.write(reduced, {"index": np.arange(len(y)), tables.VECTOR: X[:, :5] * 2})
    tables.write(umap, {"index": np.arange(len(y)), tables.VECTOR: X[:, 5:8]})
    runs = []
    for name, source in [
        ("kmeans", emb),
        ("kmeans", reduced),
        ("hdbscan", reduced),
        ("agglomerative", umap),
        ("affinity_propagation", emb),
    ]:
        out = tmp_path / f"{name}-{source.stem}.parquet"
        limit = 1e-4 if name == "affinity_propagation" else None  # one skipped run among them
        cluster(source, emb, out, {**spec("clusterers", name), "name": name}, seed=1, memory_gb=limit)
        runs.append({"run": {"clusterer": name, "reducer": source.stem, "seed": 2}, "reduced": source, "clusters": out})
    metrics.evaluate(emb, runs, tmp_path / "rows.parquet", {"silhouette_max_samples": 200}, umap_path=umap)
    rows = pd.read_parquet(tmp_path / "rows.parquet")
    assert rows["skipped"].tolist() == ["", "", "", "", rows["skipped"][4]] and rows["skipped"][4].startswith(
        "affinity_propagation"
    )
    spaces = {"og": X, "umap": tables.read_vectors(umap)}
    for i, job in enumerate(runs[:4]):
        alone = metrics.score(
            y, tables.read(job["clusters"])[0]["label_pred"], {**spaces, "reduced": tables.read_vectors(job["reduced"])}, 200, 2
        )
        assert rows.iloc[i][list(alone)].to_dict() == pytest.approx(alone, abs=0, rel=0, nan_ok=True)
    assert rows["silhouette_og_true"].nunique() == 1 and rows.loc[0, "silhouette_reduced"] != rows.loc[1, "silhouette_reduced"]


def test_aggregate_writes_rows_with_mixed_and_missing_values(tmp_path):
    from zsc import aggregate

    rows = [
        {
            "dataset": "digits",
            "split": "all",
            "encoder": "raw",
            "reducer": "none",
            "clusterer": "kmeans",
            "seed": 1,
            "max_samples": None,
            "skipped": "",
            "AMI": 0.5,
        },
        {
            "dataset": "fmnist",
            "split": "test",
            "encoder": "raw",
            "reducer": "none",
            "clusterer": "kmeans",
            "seed": 1,
            "max_samples": 5000,
            "skipped": "",
            "AMI": 1.0,
        },
        {
            "dataset": "fmnist",
            "split": "test",
            "encoder": "raw",
            "reducer": "none",
            "clusterer": "ap",
            "seed": 1,
            "max_samples": 5000,
            "skipped": "ap (affinity_propagation) on N=5000 needs ...",
        },
    ]
    paths = []
    for i, row in enumerate(rows):
        paths.append(tmp_path / f"{i}.parquet")
        tables.write(paths[-1], {key: [value] for key, value in row.items()})
    runs = aggregate.collect_runs([str(p) for p in paths], {"digits": "Other", "fmnist": "Far-OOD"})
    out = {name: str(tmp_path / f"out.{name}") for name in ("runs", "summary_csv", "summary_md", "stage_times")}
    aggregate.write_tables({"runs": runs}, aggregate.stage_times({}), out)
    import pandas as pd

    back = pd.read_parquet(out["runs"])  # sorted by the run keys: digits/kmeans, fmnist/ap, fmnist/kmeans
    assert back["clusterer"].tolist() == ["kmeans", "ap", "kmeans"]
    assert back["AMI"].fillna(-1).tolist() == [0.5, -1, 1.0]
    assert back["skipped"].tolist()[1].startswith("ap (affinity_propagation)")
    assert back["max_samples"].isna().tolist() == [True, False, False]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_affinity_propagations_median_is_numpys_bit_for_bit(dtype):
    """The preference: np.median's value and type, its middle value(s) found by binning, whatever
    the values (ties across the middle, a wide range, a zero in the middle, odd and even counts) and
    the number of row ranges (threads) counting them."""
    import numba

    from zsc.affinity_propagation import median

    rng = np.random.default_rng(1)
    cases = {}
    for shape in ((300, 300), (301, 301), (257, 255)):
        normal = rng.standard_normal(shape)
        cases[f"normal{shape}"] = normal
        cases[f"integers{shape}"] = rng.integers(-5, 5, shape).astype(float)  # ties at the middle
        tied = normal.copy()
        tied[: shape[0] // 2 + 3] = -1.5  # over half the values equal: one bin holds the middle
        cases[f"tied{shape}"] = tied
        zero = -np.abs(normal)
        zero[: shape[0] // 2 + 2] = -0.0  # the middle is a (negative) zero
        cases[f"zero{shape}"] = zero
        cases[f"wide{shape}"] = normal * 10.0 ** rng.integers(-30, 30, shape)
    cases["small"] = rng.standard_normal((20, 20))  # fewer values than bins: numpy's own
    try:
        for name, S in cases.items():
            S = S.astype(dtype)
            expected = np.median(S)
            for threads in (1, 2):
                numba.set_num_threads(threads)
                got = median(S)
                assert type(got) is type(expected) and got.tobytes() == expected.tobytes(), (name, threads, got, expected)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # float32: the similarities of float32 points
def test_affinity_propagations_noise_is_numpys_expression_bit_for_bit(dtype):
    from zsc.affinity_propagation import _add_noise, _draw

    S = (-np.random.default_rng(2).random((1100, 1100)) * 50).astype(dtype)
    noise = np.empty(S.shape)
    _draw(np.random.RandomState(3), noise)  # in blocks of rows: the stream of one (n, n) draw
    np.testing.assert_array_equal(noise, np.random.RandomState(3).standard_normal(S.shape))
    eps, tiny = np.finfo(S.dtype).eps, np.finfo(S.dtype).tiny
    expected = S.copy()
    expected += (eps * S + tiny * 100) * noise  # scikit-learn's expression
    _add_noise(S, noise, eps, tiny * 100)
    assert S.tobytes() == expected.tobytes()
