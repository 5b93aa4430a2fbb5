"""Import umap-learn and pynndescent so that their numba code is compiled once, then loaded from disk.

Neither library asks numba to cache, so every new process compiled ~20 s of their code again: they
are imported while `numba.njit`/`jit` default to cache=True (22 s -> 3 s for a 1,000-point UMAP).
The k-NN search UMAP uses from 4,096 points on (pynndescent's `nn_descent`, ~24 s to compile) was
still compiled in every process, for two reasons handled here:

1. It calls `numba.get_num_threads()` inside jitted code, which embeds the address of a ctypes
   function, so numba refuses to cache the caller ("uses dynamic globals"). pynndescent's code sees
   a `get_num_threads` that calls the threading layer's C function by its symbol name instead, which
   a later process resolves again when it loads the cached code: the same function, the same value.
2. It takes the distance function as an argument. numba keys a cached compilation by its argument
   types, and a jitted function's type is identified by the dispatcher's uuid, random per process,
   so a later process never found the entry and compiled again. Giving the libraries' dispatchers
   a uuid made of their module and name makes the key the same in every process.

Same code, same results (tests/test_methods.py checks both and that a second process compiles
nothing of nn_descent).

Below 4,096 points umap-learn computes all pairwise distances with scikit-learn's
`pairwise_distances` and its numba metric as a callable, which scikit-learn calls from Python once
per pair: 8 million calls, 16 s of a 4,000-point UMAP of 2,352-d pixels (and the default config
fits two UMAPs per embeddings). `small_data_distances` makes the same calls of the same metric from
compiled code (2 s there): the same matrix, bit for bit (tested), so the same UMAP.
"""

import sys
import types

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher
from numba.np.ufunc.parallel import _iget_num_threads, _launch_threads

_launch_threads()  # registers the threading layer's symbols, also for code loaded from the cache


@numba.njit(cache=True)
def get_num_threads():
    return _iget_num_threads()


@numba.njit(cache=True)
def _pairwise(X, distance, out):
    """What scikit-learn's pairwise_distances(X, metric=distance) computes for a callable: distance(X[i],
    X[j]) for i < j, mirrored below the diagonal, then distance(X[i], X[i]), stored in out's dtype."""
    n = X.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = distance(X[i], X[j])
    for i in range(n):
        out[i, i] = distance(X[i], X[i])


def small_data_distances(X, Y=None, metric="euclidean", **kwds):
    """scikit-learn's pairwise_distances, as umap-learn calls it below 4,096 points (one float32 matrix
    and one of its numba metrics without options), computed by `_pairwise`; any other call is
    scikit-learn's own (also one with non-finite values, which it refuses)."""
    from sklearn.metrics import pairwise_distances

    ours = Y is None and not kwds and isinstance(metric, Dispatcher) and isinstance(X, np.ndarray)
    if ours and X.ndim == 2 and X.dtype == np.float32 and X.flags.c_contiguous and np.isfinite(X).all():
        out = np.zeros((len(X), len(X)), dtype=np.float32)  # scikit-learn's dtype for float32 input
        _pairwise(X, metric, out)
        return out
    return pairwise_distances(X, Y, metric=metric, **kwds)


def _caching(decorator):
    def wrapper(*args, **kwargs):
        if args and callable(args[0]) and not kwargs:  # bare @numba.njit
            return decorator(cache=True)(args[0])
        return decorator(*args, **{"cache": True, **kwargs})

    return wrapper


def _name_dispatchers(package: str) -> None:
    """A uuid from module and name for each module-level jitted function of `package` (reason 2)."""
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] != package:
            continue
        for name, value in list(vars(module).items()):
            if isinstance(value, Dispatcher) and value.__module__ == module_name and value._MemoMixin__uuid is None:
                value._set_uuid(f"{module_name}.{name}")


def import_umap():
    """umap-learn's UMAP class, with its and pynndescent's numba code cached in NUMBA_CACHE_DIR and its
    small-data distances compiled (small_data_distances)."""
    if "umap" not in sys.modules:
        originals = numba.njit, numba.jit
        numba.njit, numba.jit = _caching(numba.njit), _caching(numba.jit)
        try:
            import umap  # noqa: F401  (pynndescent is imported by it)
        finally:
            numba.njit, numba.jit = originals
        import pynndescent.pynndescent_ as nndescent

        nndescent.numba = types.ModuleType("numba")  # what pynndescent's code sees as numba (reason 1)
        nndescent.numba.__dict__.update(vars(numba), get_num_threads=get_num_threads)
        _name_dispatchers("pynndescent")
        _name_dispatchers("umap")
    import umap.umap_

    umap.umap_.pairwise_distances = small_data_distances  # also where umap was imported before (same bits either way)
    from umap import UMAP

    return UMAP
