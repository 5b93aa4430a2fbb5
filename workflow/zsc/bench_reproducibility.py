"""Benchmark: what moves a reduction's bytes, and what keeping them fixed costs (docs/reproducibility.md).

    python -m zsc.bench_reproducibility pca EMBEDDINGS.parquet [--n-components 0.75 0.95 0.99 50]
    python -m zsc.bench_reproducibility kernels EMBEDDINGS.parquet [--seed 1] [--repeat 2]

`pca`: z-scored PCA computed in float64 (as this workflow did until 2026-12-01) and in float32 (as
the study did, and this workflow now does): seconds, components kept, the largest difference of
the components, and whether K-Means and Ward labels on the two (stored as float32) are the same.

`kernels`: UMAP-50 (the study's U50, this seed) then K-Means, each in a fresh process under one
environment: the CPU's own OpenBLAS kernels and numba code, OpenBLAS's Haswell kernels, the
workflow's pinned kernels (zsc.portable_numerics), generic x86-64 numba code, and the pinned
kernels with other thread counts. Per environment: the SHA-256 of the float32 embedding, the AMI
against the labels, and the seconds of UMAP's fit and of a float32 full-SVD PCA (95% of variance)
in that process. A first pass per environment fills its numba cache (not timed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import portable_numerics, tables


def _labelled(path):
    columns, _ = tables.read(path, columns=["label", tables.VECTOR])
    return columns[tables.VECTOR], np.asarray(columns["label"])


def pca(path: str, fractions: list[float]) -> None:
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_mutual_info_score

    from .reducers import ZScore

    X, y = _labelled(path)
    k = len(set(y.tolist()))
    for n_components in fractions:
        fitted = {}
        for dtype in (np.float64, np.float32):
            Xz = ZScore().fit_transform(X.astype(dtype))
            start = time.perf_counter()
            model = PCA(n_components=n_components, random_state=1)
            Z = model.fit_transform(Xz).astype(np.float32)  # a reduction is stored as float32
            fitted[dtype] = model, Z, time.perf_counter() - start
        (m64, Z64, t64), (m32, Z32, t32) = fitted[np.float64], fitted[np.float32]
        line = f"{X.shape[0]} x {X.shape[1]}, n_components {n_components}: float64 {t64:.1f} s, float32 {t32:.1f} s; "
        line += f"{m64.n_components_} / {m32.n_components_} components"
        if m64.n_components_ == m32.n_components_:
            line += f", max |component difference| {np.abs(m64.components_ - m32.components_).max():.1e}"
            for name, model in [
                ("K-Means", lambda: KMeans(k, random_state=1, n_init=1)),
                ("Ward", lambda: AgglomerativeClustering(k, linkage="ward")),
            ]:
                a, b = model().fit_predict(Z64), model().fit_predict(Z32)
                same = "same labels" if np.array_equal(a, b) else f"{int(np.sum(a != b))} labels differ"
                line += f"; {name}: {same} (AMI {adjusted_mutual_info_score(y, a):.4f} / {adjusted_mutual_info_score(y, b):.4f})"
        print(line, flush=True)


def one_process(path: str, seed: int) -> None:
    """Runs in the fresh process of one environment: prints its figures as one JSON line."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_mutual_info_score

    from .reducers import SeededUMAP, ZScore

    X, y = _labelled(path)
    start = time.perf_counter()
    Z = SeededUMAP(n_components=50, n_neighbors=30, min_dist=0.0, metric="euclidean", random_state=seed).fit_transform(X)
    umap_s = time.perf_counter() - start
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    labels = KMeans(len(set(y.tolist())), random_state=seed, n_init=1).fit_predict(Z)
    Xz = ZScore().fit_transform(X)
    start = time.perf_counter()
    PCA(n_components=0.95, random_state=seed).fit_transform(Xz)
    pca_s = time.perf_counter() - start
    sha = hashlib.sha256(Z.tobytes()).hexdigest()[:12]
    print(json.dumps({"sha": sha, "AMI": round(adjusted_mutual_info_score(y, labels), 4), "umap_s": umap_s, "pca_s": pca_s}))


def kernels(path: str, seed: int, repeat: int) -> None:
    pinned = portable_numerics.pinned_environment()
    environments = {
        "this CPU's own kernels": {},
        "OpenBLAS Haswell, numba this CPU": {"OPENBLAS_CORETYPE": "Haswell"},
        "pinned (the workflow's)": pinned,
        "OpenBLAS Haswell, numba generic x86-64": {"OPENBLAS_CORETYPE": "Haswell", "NUMBA_CPU_NAME": "generic"},
        "pinned, NUMBA_NUM_THREADS=1": {**pinned, "NUMBA_NUM_THREADS": "1"},
        "pinned, 2 BLAS threads": {**pinned, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"},
    }
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")}
    with tempfile.TemporaryDirectory() as cache:
        results = {name: [] for name in environments}
        for attempt in range(repeat + 1):  # attempt 0 fills each environment's numba cache
            for name, variables in environments.items():
                env = {**keep, "NUMBA_CACHE_DIR": cache, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **variables}
                command = [sys.executable, "-m", "zsc.bench_reproducibility", "one-process", path, "--seed", str(seed)]
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                if attempt:
                    results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        for name, runs in results.items():
            shas = {run["sha"] for run in runs}
            umap_s = "/".join(f"{run['umap_s']:.1f}" for run in runs)
            pca_s = "/".join(f"{run['pca_s']:.1f}" for run in runs)
            print(f"{name:42s} sha {','.join(sorted(shas))}  AMI {runs[0]['AMI']:.4f}  UMAP {umap_s} s  PCA 95% {pca_s} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pca")
    p.add_argument("embeddings")
    p.add_argument("--n-components", type=lambda s: float(s) if "." in s else int(s), nargs="+", default=[0.75, 0.95, 0.99, 50])
    for name in ("kernels", "one-process"):
        k = sub.add_parser(name)
        k.add_argument("embeddings")
        k.add_argument("--seed", type=int, default=1)
        k.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "pca":
        pca(args.embeddings, args.n_components)
    elif args.command == "kernels":
        kernels(args.embeddings, args.seed, args.repeat)
    else:
        one_process(args.embeddings, args.seed)


if __name__ == "__main__":
    main()
