"""Metrics of the runs: agreement with the labels and label-free silhouettes.

Noise points (label -1) are kept as one label when scoring, as in the study; `ratio_clustered` says
how many points were not noise. Silhouettes are Euclidean, of the predicted (and the true) labels,
in the original embedding space (`silhouette_og`), in the space the clusterer saw
(`silhouette_reduced`) and in one shared UMAP-50 space (`silhouette_umap`). All runs of one
(embeddings, seed) are scored together, so each space's pairwise distances are computed once
(zsc.silhouette)."""

from __future__ import annotations

import logging

import numpy as np

from .silhouette import silhouettes

log = logging.getLogger(__name__)

NOISE = -1
# Keys of a clustering's metadata copied into its run's row where present: the k chosen without
# labels (zsc.choose_k) and a note on a run that ran but found nothing (all points noise).
RUN_RECORDS = ("k_chosen", "k_criterion", "k_curve", "note")


def n_clusters(labels: np.ndarray) -> int:
    return int(len(np.unique(labels[labels != NOISE])))


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
    from threadpoolctl import threadpool_limits

    clustered = y_pred != NOISE
    row = {**agreement(y_true, y_pred), **agreement(y_true[clustered], y_pred[clustered], "_clus")}
    row.update(
        n_samples=int(len(y_true)),
        n_clusters_true=n_clusters(y_true),
        n_clusters_pred=n_clusters(y_pred),
        ratio_clustered=float(np.mean(clustered)),
    )
    ok = 2 <= len(np.unique(y_pred)) < len(y_pred)
    with threadpool_limits(1, user_api="blas"):  # Davies-Bouldin's distances: a one-thread job's on any thread count
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
    records = {}  # row number -> what its cluster job said of it (RUN_RECORDS), put after the metrics
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
        records[i] = {key: pred_meta[key] for key in RUN_RECORDS if key in pred_meta}
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
    for i, record in records.items():
        rows[i].update(record)
    for row in rows:
        log.info("%s", row)
    tables.write_frame(out_path, pd.DataFrame.from_records(rows))
    if levels_path:
        level_columns = [*runs[0]["run"], "level", "AMI"] if runs else ["level", "AMI"]
        tables.write_frame(levels_path, pd.DataFrame.from_records(level_table, columns=level_columns))
