"""Per-run metrics: agreement with the labels and label-free silhouettes.

Noise points (label -1) are kept as one label when scoring, as in the study; `ratio_clustered` says
how many points were not noise. Silhouettes are Euclidean, of the predicted labels, in the original
embedding space (`silhouette_og`) and in the space the clusterer saw (`silhouette_reduced`).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

NOISE = -1


def n_clusters(labels: np.ndarray) -> int:
    return int(len(np.unique(labels[labels != NOISE])))


def silhouettes(X: np.ndarray, label_sets: dict[str, np.ndarray], max_samples: int | None, seed: int) -> dict[str, float]:
    """Euclidean silhouette of each label set in one space, sharing the O(N^2 d) distances: rows of
    the distance matrix are computed a chunk at a time and summed per cluster for every label set.
    NaN where undefined (fewer than 2 labels, or as many labels as points). With `max_samples`, on a
    seeded subsample of that many points (the same for every run of the same data and seed)."""
    import scipy.sparse as sp
    from sklearn.metrics import pairwise_distances_chunked

    if max_samples is not None and max_samples < len(X):
        keep = np.sort(np.random.default_rng(seed).choice(len(X), size=max_samples, replace=False))
        X, label_sets = X[keep], {name: labels[keep] for name, labels in label_sets.items()}
    out, prepared = {}, {}
    for name, labels in label_sets.items():
        codes = np.unique(labels, return_inverse=True)[1]
        n_labels = codes.max() + 1 if len(codes) else 0
        if 2 <= n_labels < len(labels):
            onehot = sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), n_labels))
            prepared[name] = (codes, onehot, np.bincount(codes), [])
        else:
            out[name] = float("nan")
    if prepared:
        start = 0
        for chunk in pairwise_distances_chunked(np.asarray(X, dtype=np.float64), metric="euclidean"):
            rows = slice(start, start + len(chunk))
            start += len(chunk)
            for codes, onehot, sizes, parts in prepared.values():
                sums = np.asarray((onehot.T @ chunk.T).T)  # per row: summed distance to each cluster
                own = codes[rows]
                a = sums[np.arange(len(chunk)), own] / np.maximum(sizes[own] - 1, 1)
                sums[np.arange(len(chunk)), own] = np.inf
                b = (sums / sizes).min(axis=1)
                s = np.where(sizes[own] > 1, (b - a) / np.maximum(a, b), 0.0)  # singletons score 0, as in sklearn
                parts.append(np.nan_to_num(s))
        out.update({name: float(np.mean(np.concatenate(parts))) for name, (_, _, _, parts) in prepared.items()})
    return {name: out[name] for name in label_sets}


def agreement(y_true: np.ndarray, y_pred: np.ndarray, suffix: str = "") -> dict[str, float]:
    """Label agreement scores; NaN without labels (an unlabelled folder has label -1 throughout)."""
    from sklearn import metrics as skm

    scores = {
        "AMI": skm.adjusted_mutual_info_score,
        "ARI": skm.adjusted_rand_score,
        "FMS": skm.fowlkes_mallows_score,
        "homogeneity": skm.homogeneity_score,
        "completeness": skm.completeness_score,
    }
    labelled = len(y_true) > 0 and bool(np.any(y_true != NOISE))
    return {name + suffix: float(fn(y_true, y_pred)) if labelled else float("nan") for name, fn in scores.items()}


def score(y_true, y_pred, spaces: dict[str, np.ndarray], silhouette_max_samples, seed: int) -> dict[str, float | int]:
    """Every metric of one run. `spaces`: name -> points, e.g. og (the embeddings), reduced (what the
    clusterer saw) and umap (the shared UMAP-50 space)."""
    from sklearn import metrics as skm

    clustered = y_pred != NOISE
    row = {**agreement(y_true, y_pred), **agreement(y_true[clustered], y_pred[clustered], "_clus")}
    row.update(
        n_samples=int(len(y_true)),
        n_clusters_true=n_clusters(y_true),
        n_clusters_pred=n_clusters(y_pred),
        ratio_clustered=float(np.mean(clustered)),
    )
    labels = {"pred": y_pred, "true": y_true} if np.any(y_true != NOISE) else {"pred": y_pred}
    scored = {}  # by array identity: a space shared with another (e.g. no reduction) is scored once
    for space, X in spaces.items():
        if id(X) not in scored:
            scored[id(X)] = silhouettes(X, labels, silhouette_max_samples, seed)
        row[f"silhouette_{space}"] = scored[id(X)]["pred"]
        row[f"silhouette_{space}_true"] = scored[id(X)].get("true", float("nan"))
    ok = 2 <= len(np.unique(y_pred)) < len(y_pred)
    row["calinski_harabasz"] = float(skm.calinski_harabasz_score(spaces["reduced"], y_pred)) if ok else float("nan")
    row["davies_bouldin"] = float(skm.davies_bouldin_score(spaces["reduced"], y_pred)) if ok else float("nan")
    return row


def evaluate(embeddings_path, reduced_path, clusters_path, out_path, run: dict, metrics: dict, umap_path=None) -> None:
    """Score one run and write its result row (run keys, provenance and metrics). Spaces shared
    with the clusterer's (the same file) are scored once."""
    from . import tables

    pred, pred_meta = tables.read(clusters_path)
    if pred_meta.get("skipped"):  # the clusterer did not start: the row says why
        row = {**run, "skipped": pred_meta["skipped"]}
        log.warning("skipped: %s", row["skipped"])
        tables.write(out_path, {key: [value] for key, value in row.items()})
        return
    emb, _ = tables.read(embeddings_path, columns=["index", "label", tables.VECTOR])
    if not np.array_equal(emb["index"], pred["index"]):
        raise ValueError(f"{clusters_path}: sample order differs from {embeddings_path}")
    spaces = {"og": emb[tables.VECTOR]}
    spaces["reduced"] = spaces["og"] if reduced_path == embeddings_path else tables.read_vectors(reduced_path)
    if umap_path:
        spaces["umap"] = spaces["reduced"] if umap_path == reduced_path else tables.read_vectors(umap_path)
    row = {**run, "skipped": ""}
    row.update(score(emb["label"], pred["label_pred"], spaces, metrics["silhouette_max_samples"], run["seed"]))
    log.info("%s", row)
    tables.write(out_path, {key: [value] for key, value in row.items()})
