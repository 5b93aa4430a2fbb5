"""Euclidean silhouettes of many label sets in one space, sharing the pairwise distances: the
evaluate stage scores every run of one (embeddings, seed) with it (zsc.metrics), and a clusterer
choosing its number of clusters scores every candidate k (zsc.choose_k)."""

from __future__ import annotations

import numba
import numpy as np

# Silhouettes need every pairwise distance of a space. The work is cut into pieces by N alone, never
# by the thread count, which run side by side on the job's threads, each piece on one thread with
# BLAS on one thread; each row's distances to a cluster are summed in index order and the rows'
# scores averaged in row order. So the result is the same bytes on any number of threads (OpenBLAS's
# own threads would not give that: its multi-threaded products of a block of rows round differently
# with another thread count). While the N x N distances fit in FULL_BYTES, each pair's dot product is
# computed once, in tiles of the upper triangle mirrored below (as numpy's symmetric product X X^T:
# half the work); above that, a block of rows against all points at a time.
BLOCKS = 16  # row blocks: enough to keep 4 threads busy to the end
MAX_BLOCKS_IN_FLIGHT = 4  # the evaluate rule's threads
# The distances in memory the evaluate job's estimate plans for (zsc.resources.CHUNK_MB): the whole
# matrix, or MAX_BLOCKS_IN_FLIGHT blocks of rows.
FULL_BYTES = 2**30
BLOCK_BYTES = FULL_BYTES // MAX_BLOCKS_IN_FLIGHT


@numba.njit(cache=True, nogil=True)
def _cluster_sums(distances, codes, offsets, total):
    """Per row of a block of distances, the sum to the members of each cluster of every label set
    (codes: N x sets; set s's clusters are columns offsets[s]... of the result): one pass over the
    block for all label sets, members added in index order."""
    rows, n = distances.shape
    sums = np.zeros((rows, total))
    for r in range(rows):
        for j in range(n):
            d = distances[r, j]
            for s in range(codes.shape[1]):
                sums[r, offsets[s] + codes[j, s]] += d
    return sums


def _blocks(n: int) -> list[slice]:
    """The row blocks of an n x n distance matrix: BLOCKS of them, or more where one would exceed BLOCK_BYTES."""
    rows = max(1, min(-(-n // BLOCKS), BLOCK_BYTES // (8 * n)))
    return [slice(start, min(start + rows, n)) for start in range(0, n, rows)]


def _gram(X: np.ndarray, blocks: list[slice], pool) -> np.ndarray:
    """X X^T, each tile of its upper triangle one product on one thread of `pool`, mirrored below."""
    G = np.empty((len(X), len(X)))

    def tile(rows_cols):
        rows, cols = rows_cols
        G[rows, cols] = X[rows] @ X[cols].T
        if cols != rows:
            G[cols, rows] = G[rows, cols].T

    list(pool.map(tile, [(rows, cols) for i, rows in enumerate(blocks) for cols in blocks[i:]]))
    return G


def _to_distances(dots: np.ndarray, norms: np.ndarray, rows: slice) -> np.ndarray:
    """The dot products of the points `rows` with all points made their Euclidean distances, in
    place, in scikit-learn's arithmetic (-2 x.y + |x|^2 + |y|^2, clipped at 0, 0 to itself, root)."""
    dots *= -2
    dots += norms[rows, None]
    dots += norms[None, :]
    np.maximum(dots, 0, out=dots)
    dots[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0
    return np.sqrt(dots, out=dots)


def silhouettes(X: np.ndarray, label_sets: dict, max_samples: int | None, seed: int, threads: int | None = None) -> dict:
    """Euclidean silhouette of each label set in one space, sharing the O(N^2 d) distances: each
    block of rows of the distance matrix is summed per cluster for every label set (see BLOCKS).
    NaN where undefined (fewer than 2 labels, or as many labels as points). With `max_samples`, on a
    seeded subsample of that many points (the same for every run of the same data and seed).
    `threads` (default numba's: the job's, zsc.logs.use_threads) changes the time, never the result."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    if max_samples is not None and max_samples < len(X):
        keep = np.sort(np.random.default_rng(seed).choice(len(X), size=max_samples, replace=False))
        X, label_sets = X[keep], {name: labels[keep] for name, labels in label_sets.items()}
    out, prepared = {}, {}
    for name, labels in label_sets.items():
        codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
        n_labels = codes.max() + 1 if len(codes) else 0
        if 2 <= n_labels < len(labels):
            prepared[name] = (codes, np.bincount(codes))
        else:
            out[name] = float("nan")
    if prepared:
        X = np.asarray(X, dtype=np.float64)
        norms = np.einsum("ij,ij->i", X, X)  # scikit-learn's row_norms
        codes = np.stack([codes for codes, _ in prepared.values()], axis=1)
        offsets = np.cumsum([0] + [len(sizes) for _, sizes in prepared.values()])

        def block_scores(rows: slice) -> list[np.ndarray]:
            """Each prepared label set's silhouettes of the points `rows`."""
            distances = _to_distances(X[rows] @ X.T if gram is None else gram[rows], norms, rows)
            all_sums = _cluster_sums(distances, codes, offsets[:-1], offsets[-1])
            here, scores = np.arange(rows.stop - rows.start), []
            for (own_codes, sizes), first in zip(prepared.values(), offsets):
                sums = all_sums[:, first : first + len(sizes)]  # per row: summed distance to each cluster
                own = own_codes[rows]
                a = sums[here, own] / np.maximum(sizes[own] - 1, 1)
                sums[here, own] = np.inf
                b = (sums / sizes).min(axis=1)
                s = np.where(sizes[own] > 1, (b - a) / np.maximum(a, b), 0.0)  # singletons score 0, as in sklearn
                scores.append(np.nan_to_num(s))
            return scores

        workers = max(1, min(threads or numba.get_num_threads(), MAX_BLOCKS_IN_FLIGHT))
        blocks = _blocks(len(X))
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            gram = _gram(X, blocks, pool) if 8 * len(X) ** 2 <= FULL_BYTES else None
            by_block = list(pool.map(block_scores, blocks))
        for k, name in enumerate(prepared):
            out[name] = float(np.mean(np.concatenate([scores[k] for scores in by_block])))
    return {name: out[name] for name in label_sets}
