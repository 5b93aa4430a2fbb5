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


def silhouette(X: np.ndarray, labels: np.ndarray, max_samples: int | None, seed: int) -> float:
    """Euclidean silhouette, NaN when undefined (fewer than 2 or as many labels as points).

    With `max_samples`, it is computed on a seeded subsample of that many points (the same points
    for every run of the same dataset and seed), since the exact value costs O(N^2 d).
    """
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    if max_samples is not None and max_samples < len(labels):
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), size=max_samples, replace=False))
        X, labels = X[keep], labels[keep]
        if not 2 <= len(np.unique(labels)) < len(labels):
            return float("nan")
    return float(silhouette_score(X, labels, metric="euclidean"))


def score(
    y_true: np.ndarray, y_pred: np.ndarray, X_og: np.ndarray, X_reduced: np.ndarray, silhouette_max_samples, seed: int
) -> dict[str, float | int]:
    from sklearn import metrics as skm

    labelled = bool(np.any(y_true != NOISE))  # an unlabelled folder has label -1 throughout
    return {
        "AMI": float(skm.adjusted_mutual_info_score(y_true, y_pred)) if labelled else float("nan"),
        "ARI": float(skm.adjusted_rand_score(y_true, y_pred)) if labelled else float("nan"),
        "n_samples": int(len(y_true)),
        "n_clusters_true": n_clusters(y_true),
        "n_clusters_pred": n_clusters(y_pred),
        "ratio_clustered": float(np.mean(y_pred != NOISE)),
        "silhouette_og": silhouette(X_og, y_pred, silhouette_max_samples, seed),
        "silhouette_reduced": silhouette(X_reduced, y_pred, silhouette_max_samples, seed),
    }


def evaluate(embeddings_path, reduced_path, clusters_path, out_path, run: dict, metrics: dict) -> None:
    """Score one run and write its result row (run keys, provenance and metrics)."""
    from . import tables

    emb, _ = tables.read(embeddings_path, columns=["index", "label", tables.VECTOR])
    pred, _ = tables.read(clusters_path)
    if not np.array_equal(emb["index"], pred["index"]):
        raise ValueError(f"{clusters_path}: sample order differs from {embeddings_path}")
    X_reduced = emb[tables.VECTOR] if reduced_path == embeddings_path else tables.read_vectors(reduced_path)
    row = dict(run)
    row.update(
        score(emb["label"], pred["label_pred"], emb[tables.VECTOR], X_reduced, metrics["silhouette_max_samples"], run["seed"])
    )
    log.info("%s", row)
    tables.write(out_path, {key: [value] for key, value in row.items()})
