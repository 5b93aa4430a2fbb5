"""A `numba.get_num_threads` that jitted code can call and still be cached on disk.

numba's own, called inside a jitted function, embeds the address of a ctypes function in the
machine code, so numba refuses to cache the caller ("uses dynamic globals"); pynndescent's
`nn_descent` calls it, so every UMAP on 4,096 points or more compiled it again (25 s). This one
calls the threading layer's C function by its symbol name, which a later process resolves again
when it loads the cached code: the same function, so the same value.
"""

import numba
from numba.np.ufunc.parallel import _iget_num_threads, _launch_threads

_launch_threads()  # registers the threading layer's symbols, also for code loaded from the cache


@numba.njit(cache=True)
def get_num_threads():
    return _iget_num_threads()
