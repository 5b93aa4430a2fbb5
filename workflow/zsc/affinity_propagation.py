"""Affinity Propagation with scikit-learn's exact arithmetic, in two passes over N x N per iteration.

scikit-learn's `AffinityPropagation` spends each iteration in about twenty whole-matrix numpy
operations and holds four N x N float64 matrices plus two more while adding its noise. This one
computes every message with the same floating-point operations in the same order (so the labels
are the same, bit for bit, which the tests check against scikit-learn), but fuses them into two
passes: a row-parallel one making a row's availabilities, then its next responsibilities while the
row is in cache, and a column-sum pass. It holds three N x N matrices. The setup (similarities,
median preference, seeded noise) and the exemplar choice at the end are scikit-learn's, as numpy
code.
"""

from __future__ import annotations

import os

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
    does; `parts` ranges of columns in parallel, each read row after row (a stream with one part)."""
    n = R.shape[0]
    sums = np.zeros(n)
    for p in numba.prange(parts):
        for i in range(n):
            for k in range(p * n // parts, (p + 1) * n // parts):
                sums[k] += R[i, k] if i == k else max(R[i, k], 0.0)
    return sums


def affinity_propagation(X, damping=0.5, convergence_iter=15, max_iter=200, random_state=None) -> np.ndarray:
    """Labels of scikit-learn's AffinityPropagation(damping, convergence_iter, max_iter,
    random_state).fit_predict(X) with euclidean affinity and the median preference (-1 throughout
    when no exemplar emerges, as there)."""
    from sklearn.cluster import AffinityPropagation
    from sklearn.metrics import euclidean_distances
    from sklearn.utils import check_random_state

    n = len(X)
    S = -euclidean_distances(X, squared=True)
    preference = np.median(S)
    S.flat[:: n + 1] = S[0, 1] if n > 1 else 0
    if n == 1 or S.min() == S.max():
        # all similarities equal (scikit-learn returns arbitrary centres with a warning): its own code
        return AffinityPropagation(
            damping=damping, convergence_iter=convergence_iter, max_iter=max_iter, random_state=random_state
        ).fit_predict(X)
    S.flat[:: n + 1] = preference
    rng = check_random_state(random_state)
    eps, tiny = np.finfo(S.dtype).eps, np.finfo(S.dtype).tiny
    for rows in np.array_split(np.arange(n), max(1, n // 512)):  # the same normal stream as one (n, n) draw
        S[rows] += (eps * S[rows] + tiny * 100) * rng.standard_normal(size=(len(rows), n))
    A, R = np.zeros((n, n)), np.zeros((n, n))
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
    """`fit_predict` as scikit-learn's, on the job's thread budget (OMP_NUM_THREADS, which snakemake sets)."""

    def __init__(self, damping=0.5, convergence_iter=15, max_iter=200, random_state=None):
        self.options = dict(damping=damping, convergence_iter=convergence_iter, max_iter=max_iter, random_state=random_state)

    def fit_predict(self, X) -> np.ndarray:
        threads = int(os.environ.get("OMP_NUM_THREADS", numba.config.NUMBA_NUM_THREADS))
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        return affinity_propagation(np.asarray(X), **self.options)
