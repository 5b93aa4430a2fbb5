"""Metrics of the runs: agreement with the labels and label-free silhouettes.

Noise points (label -1) are kept as one label when scoring, as in the study; `ratio_clustered` says
how many points were not noise. Silhouettes are Euclidean, of the predicted (and the true) labels,
in the original embedding space (`silhouette_og`), in the space the clusterer saw
(`silhouette_reduced`) and in one shared UMAP-50 space (`silhouette_umap`). All runs of one
(embeddings, seed) are scored together, so each space's pairwise distances are computed once."""

from __future__ import annotations

import logging

import numba
import numpy as np

log = logging.getLogger(__name__)

NOISE = -1


def n_clusters(labels: np.ndarray) -> int:
    return int(len(np.unique(labels[labels != NOISE])))


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


def run_scores(y_true, y_pred, reduced: np.ndarray) -> dict[str, float | int]:
    """Every metric of one run but its silhouettes: agreement with the labels (all points, and
    clustered points only), cluster counts, and Calinski-Harabasz / Davies-Bouldin in the space the
    clusterer saw."""
    from sklearn import metrics as skm

    clustered = y_pred != NOISE
    row = {**agreement(y_true, y_pred), **agreement(y_true[clustered], y_pred[clustered], "_clus")}
    row.update(
        n_samples=int(len(y_true)),
        n_clusters_true=n_clusters(y_true),
        n_clusters_pred=n_clusters(y_pred),
        ratio_clustered=float(np.mean(clustered)),
    )
    ok = 2 <= len(np.unique(y_pred)) < len(y_pred)
    row["calinski_harabasz"] = float(skm.calinski_harabasz_score(reduced, y_pred)) if ok else float("nan")
    row["davies_bouldin"] = float(skm.davies_bouldin_score(reduced, y_pred)) if ok else float("nan")
    return row


def _labelled(y_true) -> bool:
    return bool(np.any(y_true != NOISE))


def score(y_true, y_pred, spaces: dict[str, np.ndarray], silhouette_max_samples, seed: int) -> dict[str, float | int]:
    """Every metric of one run. `spaces`: name -> points, e.g. og (the embeddings), reduced (what the
    clusterer saw) and umap (the shared UMAP-50 space); one given twice is scored once."""
    row = run_scores(y_true, y_pred, spaces["reduced"])
    labels = {"pred": y_pred, "true": y_true} if _labelled(y_true) else {"pred": y_pred}
    scored = {}  # by array identity
    for space, X in spaces.items():
        if id(X) not in scored:
            scored[id(X)] = silhouettes(X, labels, silhouette_max_samples, seed)
        row[f"silhouette_{space}"] = scored[id(X)]["pred"]
        row[f"silhouette_{space}_true"] = scored[id(X)].get("true", float("nan"))
    return row


def label_levels(embeddings_path) -> dict[str, np.ndarray]:
    """The label columns of an embeddings file: `label` and every extra level (taxonomy levels,
    attributes, ...: the columns named label_* or attr_*), levels without any label left out."""
    import pyarrow.parquet as pq

    from . import tables

    names = [c for c in pq.read_schema(embeddings_path).names if c == "label" or c.startswith(("label_", "attr_"))]
    columns, _ = tables.read(embeddings_path, columns=names)
    return {name: values for name, values in columns.items() if _labelled(values)}


def level_rows(run: dict, levels: dict[str, np.ndarray], y_pred: np.ndarray) -> list[dict]:
    """AMI of one run's predicted clusters against each label level (noise kept as one label)."""
    from sklearn.metrics import adjusted_mutual_info_score

    return [{**run, "level": name, "AMI": float(adjusted_mutual_info_score(y, y_pred))} for name, y in levels.items()]


def evaluate(embeddings_path, runs: list[dict], out_path, metrics: dict, umap_path=None, levels_path=None) -> None:
    """Score every run of one (embeddings, seed) and write their rows (run keys, provenance and
    metrics; a run whose method did not run has status 'skipped' or 'failed' and, in `skipped`, the
    reason, and no metrics: zsc.failures). `runs`: {run, reduced, clusters} per run, `run` being
    its keys. Silhouettes cost all pairwise distances of a space; each space (the embeddings, each
    reduction, the UMAP space) is read and passed over once for the labels of all runs in it.
    With `levels_path`, also the AMI of each run against every label level (label_levels)."""
    import pandas as pd

    from . import failures, tables

    emb, _ = tables.read(embeddings_path, columns=["index", "label", tables.VECTOR])
    y_true = emb["label"]
    levels = label_levels(embeddings_path) if levels_path else {}
    level_table = []
    loaded = {str(embeddings_path): emb[tables.VECTOR]}

    def points(path):
        if str(path) not in loaded:
            loaded[str(path)] = tables.read_vectors(path)
        return loaded[str(path)]

    if umap_path and (umap_failed := tables.not_run(umap_path)):  # then no run has UMAP silhouettes
        log.warning("no UMAP silhouettes: the UMAP space %s: %s", *umap_failed)
        umap_path = None
    rows, in_space, placed = [], {}, []  # in_space: path -> {row number: predicted labels}
    for i, job in enumerate(runs):
        pred, pred_meta = tables.read(job["clusters"])
        if pred_meta.get("skipped"):  # the clusterer did not start or could not run (zsc.failures)
            status = pred_meta.get("status", failures.SKIPPED)
            log.warning("%s: %s", status, pred_meta["skipped"])
            rows.append({**job["run"], "status": status, "skipped": pred_meta["skipped"]})
            continue
        if not np.array_equal(emb["index"], pred["index"]):
            raise ValueError(f"{job['clusters']}: sample order differs from {embeddings_path}")
        y_pred = pred["label_pred"]
        rows.append({**job["run"], "status": failures.RAN, "skipped": "", **run_scores(y_true, y_pred, points(job["reduced"]))})
        level_table += level_rows(job["run"], levels, y_pred)
        for space, path in {"og": embeddings_path, "reduced": job["reduced"], "umap": umap_path}.items():
            if path:
                in_space.setdefault(str(path), {})[i] = y_pred
                placed.append((i, space, str(path)))
    seed = runs[0]["run"]["seed"] if runs else 0
    scored = {
        path: silhouettes(
            points(path),
            {**label_sets, "true": y_true} if _labelled(y_true) else label_sets,
            metrics["silhouette_max_samples"],
            seed,
        )
        for path, label_sets in in_space.items()
    }
    for i, space, path in placed:
        rows[i][f"silhouette_{space}"] = scored[path][i]
        rows[i][f"silhouette_{space}_true"] = scored[path].get("true", float("nan"))
    for row in rows:
        log.info("%s", row)
    tables.write_frame(out_path, pd.DataFrame.from_records(rows))
    if levels_path:
        level_columns = [*runs[0]["run"], "level", "AMI"] if runs else ["level", "AMI"]
        tables.write_frame(levels_path, pd.DataFrame.from_records(level_table, columns=level_columns))
