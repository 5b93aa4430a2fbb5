"""The jobs that run on several threads give the same bytes on 1, 2 and 4 (docs/reproducibility.md).

Each job runs as its rule runs it, through zsc.logs.run_logged, in a fresh process given what
snakemake gives a job of T threads: OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to T and the
`snakemake` object with `threads` T, from which run_logged sets numba's thread count. OpenBLAS
runs at most one thread per core whatever its variable says, so the job's BLAS calls are given T
threads explicitly, as they get on a machine with T cores: 4 threads on this 2-core machine too.
Each process reports the thread counts its job ran with, so a test cannot pass on one thread alone.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from zsc import portable_numerics, tables

from test_methods import spec

THREADS = (1, 2, 4)

JOB = """
import json, sys, types

import numba
from threadpoolctl import threadpool_info, threadpool_limits

from zsc import metrics, silhouette
from zsc.clusterers import cluster
from zsc.logs import run_logged

threads, jobs = int(sys.argv[1]), json.loads(sys.argv[2])
snakemake = types.SimpleNamespace(threads=threads, output=[])  # what snakemake gives a job's script
stages = {"cluster": cluster, "evaluate": metrics.evaluate}


def job(name, full_bytes=silhouette.FULL_BYTES, **kwargs):
    seen = {"numba": numba.get_num_threads(), "blas": max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")}
    silhouette.FULL_BYTES = full_bytes  # 0: distances a block of rows at a time, as above 11,585 points
    stages[name](**kwargs)
    return seen


with threadpool_limits(threads, user_api="blas"):  # OpenBLAS caps its variable at the machine's cores
    print(json.dumps([run_logged(log, job, **kwargs) for log, kwargs in jobs]))
"""


def run_jobs(workdir, threads: int, jobs: list, cache) -> list[dict]:
    """Run `jobs` ([log path, {name: the stage, its arguments}]) as jobs of `threads` threads, each in one fresh process."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "workflow"),
        "NUMBA_CACHE_DIR": str(cache),
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "NUMBA_NUM_THREADS": str(max(THREADS)),  # numba's pool (default: one thread per core); the job uses `threads` of it
        **portable_numerics.pinned_environment(),
    }
    command = [sys.executable, "-c", JOB, str(threads), json.dumps(jobs)]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Embeddings (1,200 points, 300-d: blocks of distances whose products OpenBLAS rounds differently
    on more threads), a reduction and a UMAP-like space, and K-Means labels of the reduction."""
    from zsc.clusterers import cluster

    work = tmp_path_factory.mktemp("threads")
    X, y = make_blobs(1200, n_features=300, centers=9, cluster_std=3.0, random_state=5)
    X = X.astype(np.float32)
    paths = {name: work / f"{name}.parquet" for name in ("emb", "reduced", "umap", "kmeans")}
    tables.write(paths["emb"], {"index": np.arange(len(y)), "label": y, tables.VECTOR: X})
    tables.write(paths["reduced"], {"index": np.arange(len(y)), tables.VECTOR: X[:, :8]})
    tables.write(paths["umap"], {"index": np.arange(len(y)), tables.VECTOR: X[:, 8:16] * 3})
    cluster(paths["reduced"], paths["emb"], paths["kmeans"], {**spec("clusterers", "kmeans"), "name": "kmeans"}, seed=1)
    return work, {name: str(path) for name, path in paths.items()}, X


def test_affinity_propagation_and_evaluate_jobs_give_the_same_bytes_on_1_2_and_4_threads(data, tmp_path_factory):
    """Affinity Propagation (threads in its registry entry) gives scikit-learn's labels at any
    thread count, and the evaluate job's tables are the same bytes, its distances computed in tiles
    of the whole matrix or (as above 11,585 points) a block of rows at a time."""
    from sklearn.cluster import AffinityPropagation

    work, paths, X = data
    cache = tmp_path_factory.mktemp("numba")
    ap = {**spec("clusterers", "affinity_propagation"), "name": "ap"}
    outputs = {}
    for threads in THREADS:
        out = work / f"t{threads}"
        out.mkdir()
        clusters = str(out / "ap.parquet")
        runs = [
            {"run": {"clusterer": name, "reducer": "reduced", "seed": 1}, "reduced": paths["reduced"], "clusters": labels}
            for name, labels in (("ap", clusters), ("kmeans", paths["kmeans"]))
        ]
        clustering = {
            "reduced_path": paths["reduced"],
            "embeddings_path": paths["emb"],
            "out_path": clusters,
            "clusterer": ap,
            "seed": 1,
        }
        scoring = {
            "embeddings_path": paths["emb"],
            "runs": runs,
            "out_path": str(out / "rows.parquet"),
            "umap_path": paths["umap"],
            "levels_path": str(out / "levels.parquet"),
            "metrics": {"silhouette_max_samples": None},
        }
        blocked = {**scoring, "out_path": str(out / "rows-blocked.parquet"), "levels_path": None, "full_bytes": 0}
        jobs = [
            [str(out / "cluster.log"), {"name": "cluster", **clustering}],
            [str(out / "evaluate.log"), {"name": "evaluate", **scoring}],
            [str(out / "blocked.log"), {"name": "evaluate", **blocked}],
        ]
        assert run_jobs(work, threads, jobs, cache) == [{"numba": threads, "blas": threads}] * 3
        names = ("ap.parquet", "rows.parquet", "levels.parquet", "rows-blocked.parquet")
        outputs[threads] = {name: (out / name).read_bytes() for name in names}
    assert outputs[1] == outputs[2] == outputs[4]

    labels = tables.read(work / "t1" / "ap.parquet")[0]["label_pred"]
    reference = AffinityPropagation(
        damping=ap["damping"], convergence_iter=ap["convergence_iter"], max_iter=ap["max_iter"], random_state=1
    )
    np.testing.assert_array_equal(labels, reference.fit_predict(X[:, :8]))
    assert len(np.unique(labels)) > 1
    rows, blocked_rows = tables.read(work / "t1" / "rows.parquet")[0], tables.read(work / "t1" / "rows-blocked.parquet")[0]
    for space in ("og", "reduced", "umap"):
        assert np.all(np.isfinite(rows[f"silhouette_{space}"]))
        # the two ways (chosen by N, never by threads) may round a product differently
        np.testing.assert_allclose(rows[f"silhouette_{space}"], blocked_rows[f"silhouette_{space}"], rtol=1e-12)


USE_THREADS = """
import sys
if sys.argv[1] == "imported":
    import numba
from zsc.logs import use_threads
use_threads(int(sys.argv[2]))
import numba
print(numba.get_num_threads())
"""


@pytest.mark.parametrize("numba_first, threads, expected", [("later", 3, 3), ("imported", 3, 3), ("imported", 8, 4)])
def test_a_job_runs_numba_on_its_threads(numba_first, threads, expected):
    """Whether the job's script imported numba before run_logged (the evaluate script) or not (the
    cluster script: zsc.affinity_propagation imports it when Affinity Propagation is built); never more than
    numba's pool, started with NUMBA_NUM_THREADS (4 here) threads."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "workflow"), "NUMBA_NUM_THREADS": "4"}
    done = subprocess.run(
        [sys.executable, "-c", USE_THREADS, numba_first, str(threads)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == expected
