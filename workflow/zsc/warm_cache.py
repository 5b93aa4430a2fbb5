"""Compile the workflow's numba code into its on-disk cache before the first run (`python -m zsc warm-cache`).

Every job finds numba's compiled code in NUMBA_CACHE_DIR (zsc.numba_cache), but a fresh clone's
cache is empty, so its first UMAP job compiled umap-learn's and pynndescent's code (about 50 s of a
first UMAP-50 of 10,000 points) and the first Affinity Propagation and evaluate jobs the package's
own kernels. setup.sh runs `python -m zsc warm-cache`, which does that once, in the environment the
Snakefile gives every job (`job_environment`: the same cache folder and the pinned CPU target of
zsc.portable_numerics, part of numba's cache key), so a fresh clone's first run compiles nothing.
Because the target is pinned at AVX2, the same cache is valid on every x86-64 machine with AVX2.

The code is compiled by calling it as the jobs do, on tiny data read back from a parquet file like
theirs (same argument types, so the same cache entries): a UMAP of a few hundred points (the exact
k-NN search umap-learn uses below 4,096 points) and of 4,200 x 256 (pynndescent's nn_descent and
both ways its forest splits), Affinity Propagation through the clusterer registry and the
silhouettes of zsc.metrics. Two processes share the work (UMAP's code and the package's kernels are
disjoint). tests/test_warm_cache.py checks that every cached kernel of the package is compiled here
and that a workflow run after it compiles nothing.

Only the standard library at import: the Snakefile imports this at parse time for `job_environment`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import portable_numerics

CACHE_DIR = "resources/cache/numba"  # under the workflow's working folder
PARTS = ("umap", "kernels")  # run in parallel, one process each


def job_environment(environ=os.environ) -> dict:
    """Set in `environ` what every job's numba needs, as the Snakefile does before any job starts: the
    cache folder (absolute, so jobs elsewhere on a shared file system find the same one) and the
    pinned CPU target. A user's own NUMBA_CACHE_DIR and pinning variables win. Returns `environ`."""
    environ.setdefault("NUMBA_CACHE_DIR", os.path.abspath(CACHE_DIR))
    portable_numerics.pin(environ)
    return environ


def warm(cache_dir: str | None = None) -> int:
    """Compile into `cache_dir` (default: the jobs' folder, NUMBA_CACHE_DIR if set); prints what it did."""
    env = dict(os.environ)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = os.path.abspath(cache_dir)
    job_environment(env)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), *filter(None, [env.get("PYTHONPATH")])])
    folder = Path(env["NUMBA_CACHE_DIR"])
    before = _entries(folder)
    start = time.perf_counter()
    # -W ignore: umap-learn's import and seeded-fit warnings, which say nothing about compiling
    children = {part: subprocess.Popen([sys.executable, "-W", "ignore", "-m", "zsc.warm_cache", part], env=env) for part in PARTS}
    failed = [part for part, child in children.items() if child.wait()]
    if failed:
        print(
            f"warm-cache: compiling {', '.join(failed)} failed (see above); the jobs will compile it themselves", file=sys.stderr
        )
        return 1
    added = len(_entries(folder) - before)
    print(f"warm-cache: numba cache {folder}: {added} compiled functions added in {time.perf_counter() - start:.0f} s")
    return 0


def _entries(folder: Path) -> set[str]:
    """The cache's compiled-code files (one per function and signature)."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*.nbc")} if folder.is_dir() else set()


def _vectors(n: int, d: int, folder: Path):
    """float32 vectors of 10 overlapping Gaussian groups (one connected k-NN graph, as embeddings
    give), with labels, read back from a parquet file as a job reads its input."""
    import numpy as np

    from . import tables

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    X = rng.normal(size=(10, d))[labels] + rng.normal(size=(n, d))
    path = folder / f"vectors-{n}.parquet"
    tables.write(path, {"index": np.arange(n), "label": labels, tables.VECTOR: X})
    return tables.read_vectors(path), tables.read(path, columns=["label"])[0]["label"]


def _umap(folder: Path) -> None:
    from .reducers import REDUCERS

    # below 4,096 points umap-learn searches neighbours exactly, from there with nn_descent, whose
    # random-projection forest splits breadth-first what exceeds 1 MiB (4,200 x 256 float32: 4.3 MB)
    # and the smaller nodes depth-first: both paths are compiled, as embeddings of 64 dimensions and
    # more take them
    for n in (300, 4200):
        X, _ = _vectors(n, 256, folder)
        reducer = REDUCERS.build({"type": "umap"}, seed=0)
        reducer.kwargs["n_epochs"] = 5  # the layout code is compiled by its first epoch; more would only take time
        reducer.fit_transform(X)


def _kernels(folder: Path) -> None:
    import numpy as np

    from . import metrics
    from .clusterers import CLUSTERERS

    X, y = _vectors(300, 16, folder)
    labels = CLUSTERERS.build({"type": "affinity_propagation"}, n_clusters=10, n_samples=len(X), seed=0).fit_predict(X)
    metrics.silhouettes(X, {"pred": np.asarray(labels, dtype=np.int64), "true": y}, None, 0)


if __name__ == "__main__":  # one part, in the environment `warm` made
    with tempfile.TemporaryDirectory(prefix="zsc-warm-") as tmp:
        {"umap": _umap, "kernels": _kernels}[sys.argv[1]](Path(tmp))
