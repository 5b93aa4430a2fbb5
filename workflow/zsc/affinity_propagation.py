"""Affinity Propagation with scikit-learn's exact arithmetic, in two passes over N x N per iteration.

scikit-learn's `AffinityPropagation` spends each iteration in about twenty whole-matrix numpy
operations and holds four N x N float64 matrices plus two more while adding its noise. This one
computes every message with the same floating-point operations in the same order (so the labels
are the same, bit for bit, which the tests check against scikit-learn), but fuses them into two
passes: a row-parallel one making a row's availabilities, then its next responsibilities while the
row is in cache, and a column-sum pass. It holds three N x N matrices. The setup computes
scikit-learn's similarities, median preference and seeded noise, the same bits, on two threads: the
noise's normal stream (one thread's work) is drawn beside the similarities, the median is found by
counting values into bins instead of numpy's copy and partition of all N^2 of them, and the noise is
added row-parallel. The exemplar choice at the end is scikit-learn's, as numpy code.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def _messages(S, A, R, sums, damping, availabilities, responsibilities):
    """Row by row (rows are independent, so in parallel), while the row is in cache:
    availabilities: A <- damping A - (1 - damping) T, T = max(R+ - column sum, 0) off the diagonal,
    unclipped on it; then responsibilities, from that A:
    R <- damping R + (1 - damping) (S - max over other k of (A + S))."""
    n = S.shape[0]
    for i in numba.prange(n):
        if availabilities:
            for k in range(n):
                t = (R[i, k] if i == k else max(R[i, k], 0.0)) - sums[k]
                if i != k:
                    t = min(max(t, 0.0), np.inf)  # np.clip(t, 0, inf)
                A[i, k] = A[i, k] * damping - t * (1 - damping)
        if responsibilities:
            best, second, at = -np.inf, -np.inf, 0
            for k in range(n):  # the first largest, as np.argmax; the next largest, ties included
                v = A[i, k] + S[i, k]
                if v > best:
                    best, second, at = v, best, k
                elif v > second:
                    second = v
            for k in range(n):
                y = second if k == at else best
                R[i, k] = R[i, k] * damping + (S[i, k] - y) * (1 - damping)


@numba.njit(parallel=True, cache=True)
def _column_sums(R, parts):
    """Sum over i of max(R[i, k], 0), with R[k, k] itself, added row after row as numpy's axis-0 sum
    does; `parts` ranges of columns in parallel, each read row after row (a stream with one part).
    Four rows at a time where none holds a diagonal term: one load and store of a column's running
    sum per four terms (twice as fast), the terms still added in row order."""
    n = R.shape[0]
    sums = np.zeros(n)
    for p in numba.prange(parts):
        lo, hi = p * n // parts, (p + 1) * n // parts
        part = np.zeros(hi - lo)
        i = 0
        while i < n:
            if i + 4 <= n and not lo - 3 <= i < hi:
                r0, r1, r2, r3 = R[i, lo:hi], R[i + 1, lo:hi], R[i + 2, lo:hi], R[i + 3, lo:hi]
                for k in range(hi - lo):
                    t = part[k]
                    t += max(r0[k], 0.0)
                    t += max(r1[k], 0.0)
                    t += max(r2[k], 0.0)
                    t += max(r3[k], 0.0)
                    part[k] = t
                i += 4
            else:
                row = R[i, lo:hi]
                for k in range(hi - lo):
                    part[k] += row[k] if lo + k == i else max(row[k], 0.0)
                i += 1
        sums[lo:hi] = part
    return sums


def _draw(rng, out) -> None:
    """Fill `out` (n x n) with rng.standard_normal((n, n)), a block of rows at a time (the same stream)."""
    n = out.shape[1]
    for rows in np.array_split(np.arange(len(out)), max(1, len(out) // 512)):
        out[rows[0] : rows[-1] + 1] = rng.standard_normal(size=(len(rows), n))


def _draw_in_background(rng, out):
    """_draw in a thread (numpy releases the GIL while it draws); returns the thread, to join."""
    import threading

    thread = threading.Thread(target=_draw, args=(rng, out), daemon=True)
    thread.start()
    return thread


@numba.njit(parallel=True, cache=True)
def _add_noise(S, noise, eps, tiny100):
    """S += (eps S + tiny100) noise, element by element as numpy's expression computes it."""
    n = S.shape[0]
    for i in numba.prange(n):
        for k in range(S.shape[1]):
            S[i, k] += (eps * S[i, k] + tiny100) * noise[i, k]


MEDIAN_BINS = 1 << 16


@numba.njit(cache=True)
def _bin(value, lo, scale, bins):
    """The bin of `value`: a monotone map (subtracting, scaling and truncating keep order)."""
    return min(int((value - lo) * scale), bins - 1)


@numba.njit(parallel=True, cache=True)
def _bin_counts(S, lo, scale, bins, parts):
    """How many values of S fall in each of `bins` equal ranges from `lo` (per range of rows, then summed)."""
    n = S.shape[0]
    counts = np.zeros((parts, bins), np.int64)
    for p in numba.prange(parts):
        for i in range(p * n // parts, (p + 1) * n // parts):
            for k in range(S.shape[1]):
                counts[p, _bin(S[i, k], lo, scale, bins)] += 1
    return counts


@numba.njit(parallel=True, cache=True)
def _values_in_bins(S, lo, scale, bins, first, last, offsets):
    """The values of S whose bin is first..last, each range of rows writing from its offset."""
    n = S.shape[0]
    parts = len(offsets) - 1
    out = np.empty(offsets[-1], S.dtype)
    for p in numba.prange(parts):
        at = offsets[p]
        for i in range(p * n // parts, (p + 1) * n // parts):
            for k in range(S.shape[1]):
                if first <= _bin(S[i, k], lo, scale, bins) <= last:
                    out[at] = S[i, k]
                    at += 1
    return out


def median(S) -> float:
    """np.median(S), the same bits, without its copy and sort of all of S: the values are counted
    into bins (a monotone map of the value, so ranks are kept), and only the bins that hold the
    middle rank(s) are gathered and partitioned. Falls back to numpy where the middle is a zero (its
    sign is numpy's partition's choice) or the range cannot be binned."""
    size = S.size
    lo, hi = float(S.min()), float(S.max())
    scale = MEDIAN_BINS / (hi - lo) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else np.inf
    if size < MEDIAN_BINS or not np.isfinite(scale):
        return np.median(S)
    ranks = [size // 2 - 1, size // 2] if size % 2 == 0 else [(size - 1) // 2]
    parts = numba.get_num_threads()
    counts = _bin_counts(S, lo, scale, MEDIAN_BINS, parts)
    below = np.cumsum(counts.sum(axis=0))  # values in bins 0..b
    first, last = (int(np.searchsorted(below, rank, side="right")) for rank in (ranks[0], ranks[-1]))
    in_range = counts[:, first : last + 1].sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(in_range)])
    values = _values_in_bins(S, lo, scale, MEDIAN_BINS, first, last, offsets)
    start = below[first - 1] if first else 0
    middle = np.partition(values, [rank - start for rank in ranks])[[rank - start for rank in ranks]]
    if np.any(middle == 0):
        return np.median(S)
    return np.mean(middle)


def affinity_propagation(X, damping=0.5, convergence_iter=15, max_iter=200, random_state=None) -> np.ndarray:
    """Labels of scikit-learn's AffinityPropagation(damping, convergence_iter, max_iter,
    random_state).fit_predict(X) with euclidean affinity and the median preference (-1 throughout
    when no exemplar emerges, as there)."""
    from sklearn.cluster import AffinityPropagation
    from sklearn.metrics import euclidean_distances
    from sklearn.utils import check_random_state
    from threadpoolctl import threadpool_limits

    n = len(X)
    A = np.empty((n, n))  # holds the seeded noise until the messages start (then the availabilities)
    seeded = isinstance(random_state, (int, np.integer))
    # a seed's noise (one normal stream: one thread's work, most of the set-up's time) is drawn
    # beside the similarities and their median; any other random state is drawn from where
    # scikit-learn draws from it, after the check below
    noise = _draw_in_background(np.random.RandomState(random_state), A) if seeded else None
    with threadpool_limits(1, user_api="blas"):  # the similarities of a one-thread job, on any thread count
        S = -euclidean_distances(X, squared=True)
    preference = median(S)
    S.flat[:: n + 1] = S[0, 1] if n > 1 else 0
    if n == 1 or S.min() == S.max():
        # all similarities equal (scikit-learn returns arbitrary centres with a warning): its own code
        if noise is not None:
            noise.join()
        return AffinityPropagation(
            damping=damping, convergence_iter=convergence_iter, max_iter=max_iter, random_state=random_state
        ).fit_predict(X)
    S.flat[:: n + 1] = preference
    if noise is None:
        _draw(check_random_state(random_state), A)
    else:
        noise.join()
    eps, tiny = np.finfo(S.dtype).eps, np.finfo(S.dtype).tiny
    _add_noise(S, A, eps, tiny * 100)
    A[:] = 0.0
    R = np.zeros((n, n))
    e = np.zeros((n, convergence_iter))
    # scikit-learn's iteration `it` updates R, then A from R, then tests diag(A) + diag(R); here one
    # pass makes iteration it's A and iteration it + 1's R (not needed after the last test)
    _messages(S, A, R, np.zeros(n), damping, False, True)
    for it in range(max_iter):
        sums, diagonal_r = _column_sums(R, numba.get_num_threads()), np.diag(R).copy()
        _messages(S, A, R, sums, damping, True, it < max_iter - 1)
        E = (np.diag(A) + diagonal_r) > 0
        e[:, it % convergence_iter] = E
        K = np.sum(E, axis=0)
        if it >= convergence_iter:
            se = np.sum(e, axis=1)
            if np.sum((se == convergence_iter) + (se == 0)) == n and K > 0:
                break
    del A, R
    I = np.flatnonzero(E)
    if I.size == 0:
        return np.full(n, -1)
    c = np.argmax(S[:, I], axis=1)
    c[I] = np.arange(I.size)
    for k in range(I.size):  # each cluster's exemplar: the member most similar to the others
        members = np.flatnonzero(c == k)
        I[k] = members[np.argmax(np.sum(S[members[:, None], members], axis=0))]
    c = np.argmax(S[:, I], axis=1)
    c[I] = np.arange(I.size)
    return np.searchsorted(np.unique(I[c]), I[c])


class AffinityPropagation:
    """`fit_predict` as scikit-learn's, on numba's threads (a job's: zsc.logs.use_threads). The labels
    do not depend on the thread count: each row's messages, and each column's sum, are computed by
    one thread in a fixed order, the threads only share out the rows (the columns)."""

    def __init__(self, damping=0.5, convergence_iter=15, max_iter=200, random_state=None):
        self.options = dict(damping=damping, convergence_iter=convergence_iter, max_iter=max_iter, random_state=random_state)

    def fit_predict(self, X) -> np.ndarray:
        return affinity_propagation(np.asarray(X), **self.options)
