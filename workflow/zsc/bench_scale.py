"""Benchmark: the clusterers at study scale, step by step (docs/measurements.md, "Study scale on one machine").

    python -m zsc.bench_scale agglomerative EMBEDDINGS.parquet --linkage ward --metric euclidean --n 5000 10000 20000
    python -m zsc.bench_scale spectral EMBEDDINGS.parquet --n 10000 30000 [--n-neighbors 20] [--check]
        [--solvers lanczos lobpcg arpack] [--graph-dir DIR]

`agglomerative`: this workflow's route (zsc.linkage) and scikit-learn's AgglomerativeClustering, each
in a fresh process per size: seconds, peak memory (growth of the process's resident set), and
whether the labels are equal. `spectral`: scikit-learn's SpectralClustering taken apart (the k-NN
graph, the eigensolver: Lanczos (zsc.spectral), LOBPCG and ARPACK, cluster_qr), seconds per step,
the process's peak after each, the graph's connected components, and the agreement of the other
solvers' labels with ARPACK's; `--check` also runs SpectralClustering itself and says whether its
labels equal the ARPACK steps'. The figures so far go to stderr after each step; `--graph-dir` keeps
the k-NN graph for a later run of the eigensolvers alone. Sizes are seeded random subsamples of the
file's rows.
As in a job, the k-NN search runs on OMP_NUM_THREADS threads and the rest with BLAS on one thread;
run with OMP_NUM_THREADS=1 for a one-thread job.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import tables


def _rows(path: str, n: int) -> np.ndarray:
    X = tables.read_vectors(path)
    if n < len(X):
        X = X[np.sort(np.random.default_rng(0).choice(len(X), n, replace=False))]
    return X


def _peak_since_reset() -> callable:
    """A function giving the growth of the resident set since now (Linux: /proc/self/clear_refs)."""

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS:")
    return lambda: (status("VmHWM:") - base) / 2**20


def _agglomerative_once(path: str, n: int, linkage: str, metric: str, which: str, out: str) -> None:
    from sklearn.cluster import AgglomerativeClustering

    from .linkage import Agglomerative

    X = _rows(path, n)
    peak = _peak_since_reset()
    start = time.perf_counter()
    if which == "ours":
        labels = Agglomerative(linkage, metric, n_clusters=10).fit_predict(X)
    else:
        labels = AgglomerativeClustering(
            n_clusters=10, linkage=linkage, metric={"l1": "manhattan"}.get(metric, metric)
        ).fit_predict(X)
    seconds = time.perf_counter() - start
    np.save(out, labels)
    print(json.dumps({"s": round(seconds, 1), "peak_mb": round(peak())}))


def agglomerative(path: str, sizes: list[int], linkage: str, metric: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            row = {"n": n, "linkage": linkage, "metric": metric}
            for which in ("ours", "sklearn"):
                args = [
                    sys.executable,
                    "-m",
                    "zsc.bench_scale",
                    "agglomerative-once",
                    path,
                    str(n),
                    linkage,
                    metric,
                    which,
                    f"{tmp}/{which}.npy",
                ]
                done = subprocess.run(args, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
                row[which] = (
                    json.loads(done.stdout) if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]
                )
            if all(isinstance(row[w], dict) for w in ("ours", "sklearn")):
                row["equal"] = bool(np.array_equal(np.load(f"{tmp}/ours.npy"), np.load(f"{tmp}/sklearn.npy")))
            print(json.dumps(row), flush=True)


def spectral(
    path: str, sizes: list[int], n_neighbors: int, n_clusters: int, check: bool, solvers: list[str], graph_dir: str | None
) -> None:
    import scipy.sparse
    from threadpoolctl import threadpool_limits
    from sklearn.cluster import SpectralClustering
    from sklearn.cluster._spectral import cluster_qr
    from sklearn.manifold import spectral_embedding
    from sklearn.metrics import adjusted_rand_score

    from .spectral import knn_affinity, lanczos_embedding

    for n in sizes:
        X = _rows(path, n).astype(np.float64)  # as SpectralClustering.fit
        peak = _peak_since_reset()
        row = {"n": len(X), "d": X.shape[1], "k": n_neighbors}
        saved = Path(graph_dir) / f"{Path(path).stem}-n{len(X)}-k{n_neighbors}.npz" if graph_dir else None
        start = time.perf_counter()
        if saved and saved.exists():  # a later run of the eigensolvers alone
            graph = scipy.sparse.load_npz(saved)
        else:
            graph = knn_affinity(X, n_neighbors)  # SpectralClustering's steps
            row["knn_s"] = round(time.perf_counter() - start, 1)
            if saved:
                scipy.sparse.save_npz(saved, graph)
        row["components"] = int(scipy.sparse.csgraph.connected_components(graph, directed=False)[0])
        row["peak_knn_mb"] = round(peak())
        print(json.dumps(row), file=sys.stderr, flush=True)  # so far: a run stopped later keeps these figures
        labels = {}
        for solver in solvers:
            start = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):  # as the job (zsc.clusterers._OneBlasThread)
                if solver == "lanczos":
                    maps = lanczos_embedding(graph, n_clusters, np.random.RandomState(1))
                else:
                    maps = spectral_embedding(
                        graph,
                        n_components=n_clusters,
                        eigen_solver=None if solver == "arpack" else solver,
                        random_state=np.random.RandomState(1),
                        drop_first=False,
                    )
                labels[solver] = cluster_qr(maps)
            row[f"{solver}_s"] = round(time.perf_counter() - start, 1)
            row[f"peak_after_{solver}_mb"] = round(peak())  # the process's peak so far: solvers in the order given
            print(json.dumps(row), file=sys.stderr, flush=True)
        for solver in labels.keys() - {"arpack"} if "arpack" in labels else ():
            row[f"ari_{solver}_vs_arpack"] = round(adjusted_rand_score(labels["arpack"], labels[solver]), 4)
            row[f"{solver}_equals_arpack"] = bool(np.array_equal(labels["arpack"], labels[solver]))
        if check and "arpack" in labels:
            with threadpool_limits(limits=1):  # a one-thread job's labels
                reference = SpectralClustering(
                    n_clusters=n_clusters,
                    affinity="nearest_neighbors",
                    n_neighbors=n_neighbors,
                    assign_labels="cluster_qr",
                    random_state=1,
                ).fit_predict(X)
            row["arpack_equals_spectral_clustering"] = bool(np.array_equal(reference, labels["arpack"]))
        print(json.dumps(row), flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    agg = sub.add_parser("agglomerative")
    agg.add_argument("embeddings")
    agg.add_argument("--linkage", default="ward")
    agg.add_argument("--metric", default="euclidean")
    agg.add_argument("--n", type=int, nargs="+", default=[5000, 10000, 20000])
    spec = sub.add_parser("spectral")
    spec.add_argument("embeddings")
    spec.add_argument("--n", type=int, nargs="+", default=[10000, 30000])
    spec.add_argument("--n-neighbors", type=int, default=20)
    spec.add_argument("--n-clusters", type=int, default=10)
    spec.add_argument("--check", action="store_true")
    spec.add_argument(
        "--solvers",
        nargs="+",
        choices=["arpack", "lanczos", "lobpcg"],
        default=["lanczos", "lobpcg", "arpack"],
        help="run in this order",
    )
    spec.add_argument("--graph-dir", default=None, help="keep each k-NN graph here and reuse it in a later run")
    once = sub.add_parser("agglomerative-once")  # internal: one method, one size, in its own process
    for name in ("embeddings", "n", "linkage", "metric", "which", "out"):
        once.add_argument(name)
    args = parser.parse_args(argv)
    if args.command == "agglomerative":
        agglomerative(args.embeddings, args.n, args.linkage, args.metric)
    elif args.command == "spectral":
        spectral(args.embeddings, args.n, args.n_neighbors, args.n_clusters, args.check, args.solvers, args.graph_dir)
    else:
        _agglomerative_once(args.embeddings, int(args.n), args.linkage, args.metric, args.which, args.out)


if __name__ == "__main__":
    main()
