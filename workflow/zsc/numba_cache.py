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
"""

import sys
import types

import numba
from numba.core.dispatcher import Dispatcher
from numba.np.ufunc.parallel import _iget_num_threads, _launch_threads

_launch_threads()  # registers the threading layer's symbols, also for code loaded from the cache


@numba.njit(cache=True)
def get_num_threads():
    return _iget_num_threads()


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
    """umap-learn's UMAP class, with its and pynndescent's numba code cached in NUMBA_CACHE_DIR."""
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
    from umap import UMAP

    return UMAP
