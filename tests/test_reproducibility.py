"""Bitwise reproducibility of the reductions (fresh processes, thread counts, numba's cache) and the
float32 PCA against float64's (docs/reproducibility.md)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA

from zsc import portable_numerics
from zsc.reducers import REDUCERS, ZScore

from test_methods import spec


def spectrum_data(n=600, d=120, seed=0):
    """float32 data with a decaying variance spectrum (as embeddings have) and 5 groups."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, d)) * 3
    X = centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d)) * np.linspace(3, 0.1, d)
    return X.astype(np.float32)


@pytest.mark.parametrize("n_components", [0.9, 10])
def test_pca_runs_in_float32_deterministically_with_float64s_components(n_components):
    X = spectrum_data()
    reducer = spec("reducers", "pca", n_components=n_components)
    first, second = REDUCERS.build(reducer, seed=1), REDUCERS.build(reducer, seed=1)
    Z = first.fit_transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_array_equal(Z, second.fit_transform(X))

    X64 = np.asarray(X, dtype=np.float64)
    reference = PCA(n_components=n_components, random_state=1).fit(ZScore().fit_transform(X64))
    assert first.pca.n_components_ == reference.n_components_
    # Stated tolerance: components (unit vectors) within 1e-4 of float64's, variance ratios within 1e-5
    np.testing.assert_allclose(first.pca.components_, reference.components_, atol=1e-4)
    np.testing.assert_allclose(first.pca.explained_variance_ratio_, reference.explained_variance_ratio_, rtol=1e-5)


def test_zscore_keeps_float32_and_computes_its_statistics_in_float64():
    X = np.full((4, 2), 1e4, dtype=np.float32) + np.array([[0, 1], [1, 1], [2, 1], [3, 1]], dtype=np.float32)
    Z = ZScore().fit_transform(X)
    assert Z.dtype == np.float32 and ZScore().fit_transform(X.astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(Z[:, 0], [-1.3416408, -0.4472136, 0.4472136, 1.3416408], rtol=1e-6)
    np.testing.assert_array_equal(Z[:, 1], 0)


def test_kernels_are_pinned_only_where_the_cpu_can_run_them(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n\nprocessor\t: 1\n")
    flags = portable_numerics.cpu_flags(str(cpuinfo))
    assert {"avx2", "fma", "avx512f"} <= flags
    assert portable_numerics.pinned_environment("x86_64", flags) == portable_numerics.PINNED
    assert portable_numerics.pinned_environment("x86_64", {"sse2", "avx"}) == {}  # no AVX2: nothing pinned
    assert portable_numerics.pinned_environment("aarch64", flags) == {}
    assert portable_numerics.cpu_flags(str(tmp_path / "absent")) == set()


def test_a_users_own_settings_win():
    pinned = portable_numerics.PINNED
    environ = {"OPENBLAS_CORETYPE": "SkylakeX", "NUMBA_CPU_NAME": "znver4"}
    assert portable_numerics.pin(environ, pinned) == {}
    assert environ == {"OPENBLAS_CORETYPE": "SkylakeX", "NUMBA_CPU_NAME": "znver4"}
    environ = {"NUMBA_CPU_FEATURES": "+avx"}
    assert portable_numerics.pin(environ, pinned) == {"OPENBLAS_CORETYPE": "Haswell"}
    environ = {}
    assert portable_numerics.pin(environ, pinned) == pinned == environ


REDUCE_SCRIPT = """
import hashlib, json, sys
import numpy as np
from zsc.reducers import REDUCERS
X = np.load(sys.argv[1])
digests = {}
for name, reducer in json.loads(sys.argv[2]).items():
    Z = np.ascontiguousarray(REDUCERS.build(reducer, seed=3).fit_transform(X), dtype=np.float32)
    digests[name] = hashlib.sha256(Z.tobytes()).hexdigest()
print(json.dumps(digests))
"""


def test_reductions_are_bitwise_identical_across_processes_thread_counts_and_cache_states(tmp_path, repo):
    """What the workflow guarantees on one machine (and, with the pinned kernels, on any x86-64 CPU
    with AVX2): the study's UMAP-50 and a variance-fraction PCA give the same bytes in a fresh
    process with numba's cache empty and one numba thread, and in another with the cache filled and
    two. The BLAS thread count stays 1, as the reduce rule's: OpenBLAS's float32 products, so the
    PCA, change in the last bits with it (docs/reproducibility.md)."""
    np.save(tmp_path / "X.npy", spectrum_data())
    reducers = json.dumps({"umap50": spec("reducers", "umap"), "zpca90": spec("reducers", "pca", n_components=0.9)})
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo / "workflow"), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    base.update(portable_numerics.pinned_environment())
    digests = []
    for threads in ("1", "2"):  # the first process compiles into the empty cache, the second loads from it
        env = {**base, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": threads}
        command = [sys.executable, "-c", REDUCE_SCRIPT, str(tmp_path / "X.npy"), reducers]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if threads == "1":
            assert any(p.suffix == ".nbi" for p in (tmp_path / "numba").rglob("*"))  # the second process loads these
    assert digests[0] == digests[1]
