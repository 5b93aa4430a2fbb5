"""`python -m zsc warm-cache` (setup.sh): the workflow's numba code compiled before the first run, so no job compiles."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, snakemake
from zsc.warm_cache import job_environment

pytestmark = pytest.mark.integration


# The interpreter of the workflow's jobs (snakemake's own). numba keeps a cache folder per source
# folder, so warm-cache must import umap-learn from the same path as the jobs do: in a clone that is
# the one .venv, but a .venv reached through a symbolic link has two paths.
JOBS_PYTHON = Path(SNAKEMAKE).read_text().splitlines()[0].removeprefix("#!").strip()


def warm_cache(cache: os.PathLike) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    env.pop("NUMBA_CACHE_DIR", None)
    cmd = [JOBS_PYTHON, "-m", "zsc", "warm-cache", "--cache-dir", str(cache)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def cache_state(cache) -> dict[str, tuple[int, int]]:
    """Every file of numba's cache with its size and modification time: a compilation adds or rewrites some."""
    return {str(p.relative_to(cache)): (p.stat().st_size, p.stat().st_mtime_ns) for p in cache.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def warmed(tmp_path_factory):
    cache = tmp_path_factory.mktemp("numba-cache")
    done = warm_cache(cache)
    return cache, done.stdout


def test_every_cached_kernel_of_the_package_is_compiled(warmed):
    """Each numba function of zsc with cache=True has an entry for the jobs' pinned CPU target in the
    warmed cache: a kernel added without a warm-up call fails here (its first job would compile it)."""
    cache, out = warmed
    assert "compiled functions added" in out
    listing = (
        "import importlib, json, pkgutil, zsc\n"
        "from numba.core.dispatcher import Dispatcher\n"
        "found = {}\n"
        "for info in pkgutil.iter_modules(zsc.__path__, 'zsc.'):\n"
        "    if info.name != 'zsc.__main__':\n"
        "        for name, value in vars(importlib.import_module(info.name)).items():\n"
        "            if (isinstance(value, Dispatcher) and value.__module__ == info.name\n"
        "                    and type(value._cache).__name__ != 'NullCache'):\n"
        "                target = value.targetctx.codegen().magic_tuple()\n"
        "                found[f'{info.name}.{name}'] = any(key[1] == target for key in value._cache._cache_file._load_index())\n"
        "print(json.dumps(found))\n"
    )
    env = job_environment({**os.environ, "PYTHONPATH": str(REPO / "workflow"), "NUMBA_CACHE_DIR": str(cache)})
    done = subprocess.run([JOBS_PYTHON, "-c", listing], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    # the listing sees the package's kernels
    assert {"zsc.affinity_propagation._messages", "zsc.silhouette._cluster_sums"} <= set(found)
    assert [name for name, cached in found.items() if not cached] == []


def test_a_workflow_run_after_it_compiles_nothing(warmed, tmp_path, monkeypatch):
    """UMAP below and above 4,096 points (exact k-NN search, then pynndescent's nn_descent), Affinity
    Propagation and the evaluate stage's silhouettes, as the jobs run them: the warmed cache is
    read, not written."""
    cache, _ = warmed
    before = cache_state(cache)
    config = {
        "seeds": [1],
        "datasets": {"digits": {"max_samples": 400}, "fashionmnist": {"max_samples": 4200}},
        "encoders": {"raw": {}},
        "reducers": {"umap50": {"type": "umap"}},
        "clusterers": {"kmeans": {}, "affinity_propagation": {}},
        "labelfree": {"enabled": False},
        "probes": {"enabled": False},
        "outputs": {"embedding_maps": False},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))  # the user's cache folder wins over the workflow's
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "2", "results/tables/runs.parquet")
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "results/reduced/fashionmnist/test/raw/seed1/umap50.parquet").exists()
    assert not (tmp_path / "resources/cache/numba").exists()
    assert cache_state(cache) == before
