"""Euclidean silhouettes of many label sets in one space, sharing the pairwise distances: the
evaluate stage scores every run of one (embeddings, seed) with it (zsc.metrics), and a clusterer
choosing its number of clusters scores every candidate k (zsc.choose_k)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
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


def silhouettes(X: np.ndarray, label_sets: dict, max_samples: int | None, seed: int) -> dict:
    """Euclidean silhouette of each label set in one space, sharing the O(N^2 d) distances: rows of
    the distance matrix are computed a chunk at a time and summed per cluster for every label set.
    NaN where undefined (fewer than 2 labels, or as many labels as points). With `max_samples`, on a
    seeded subsample of that many points (the same for every run of the same data and seed)."""
    from sklearn.metrics import pairwise_distances_chunked

    if max_samples is not None and max_samples < len(X):
        keep = np.sort(np.random.default_rng(seed).choice(len(X), size=max_samples, replace=False))
        X, label_sets = X[keep], {name: labels[keep] for name, labels in label_sets.items()}
    out, prepared = {}, {}
    for name, labels in label_sets.items():
        codes = np.unique(labels, return_inverse=True)[1].reshape(-1)
        n_labels = codes.max() + 1 if len(codes) else 0
        if 2 <= n_labels < len(labels):
            prepared[name] = (codes, np.bincount(codes), [])
        else:
            out[name] = float("nan")
    if prepared:
        codes = np.stack([codes for codes, _, _ in prepared.values()], axis=1)
        offsets = np.cumsum([0] + [len(sizes) for _, sizes, _ in prepared.values()])
        start = 0
        for chunk in pairwise_distances_chunked(np.asarray(X, dtype=np.float64), metric="euclidean"):
            rows = slice(start, start + len(chunk))
            start += len(chunk)
            all_sums = _cluster_sums(chunk, codes, offsets[:-1], offsets[-1])
            for (own_codes, sizes, parts), first in zip(prepared.values(), offsets):
                sums = all_sums[:, first : first + len(sizes)]  # per row: summed distance to each cluster
                own = own_codes[rows]
                a = sums[np.arange(len(chunk)), own] / np.maximum(sizes[own] - 1, 1)
                sums[np.arange(len(chunk)), own] = np.inf
                b = (sums / sizes).min(axis=1)
                s = np.where(sizes[own] > 1, (b - a) / np.maximum(a, b), 0.0)  # singletons score 0, as in sklearn
                parts.append(np.nan_to_num(s))
        out.update({name: float(np.mean(np.concatenate(parts))) for name, (_, _, parts) in prepared.items()})
    return {name: out[name] for name in label_sets}
