"""The labelled references the label-free scores are compared with, and the probes stage.

`weighted_knn_accuracy` (DINO's weighted kNN classifier) and `linear_probe_accuracy` (a
logistic-regression probe) score an embedding with its labels; `probe_split` carves a probe-train
part out of a dataset that has no train split; `probe_plan` says where a dataset's probes train and
`probe_embeddings` is the probes job (one per embeddings; the aggregate rule gathers the rows into
results/tables/probes.parquet). docs/labelfree.md, "The labelled references (probes)".
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------------------
# Shared helpers


def _split(labels: np.ndarray, train_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (first part, rest) indices of a seeded split with `train_size` (a fraction) in the
    first part, stratified by `labels`; unstratified when stratifying is impossible (a class with
    fewer than 2 points, or a part too small to hold every class)."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() >= 2:
        try:
            first, rest = train_test_split(indices, train_size=train_size, stratify=labels, random_state=seed)
            return np.sort(first), np.sort(rest)
        except ValueError:  # a part smaller than the number of classes cannot be stratified
            pass
    first, rest = train_test_split(indices, train_size=train_size, random_state=seed)
    return np.sort(first), np.sort(rest)


# ----------------------------------------------------------------------------------------------
# Labelled references


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows of X scaled to unit L2 norm (float64); an all-zero row stays zero (similarity 0 to all)."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def _top_k(similarity: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest entries of each row, largest first; equal similarities are
    ordered by lower column index, so the result does not depend on the partition algorithm."""
    if k >= similarity.shape[1]:
        return np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    # The top-k set is ambiguous only where the k-th value is tied with one left out: sort those rows fully.
    kth = np.take_along_axis(similarity, top, axis=1).min(axis=1)
    tied = np.sum(similarity >= kth[:, None], axis=1) > k
    top[tied] = np.argsort(-similarity[tied], axis=1, kind="stable")[:, :k]
    top = np.sort(top, axis=1)  # index order, so the stable sort below keeps lower indices first among equals
    order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def weighted_knn_accuracy(
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    ks=(1, 10, 20, 100, 200),
    temperature: float = 0.07,
    batch_size: int = 1024,
) -> dict:
    """Top-1 accuracy of DINO's weighted k-nearest-neighbour classifier, for each k in `ks`.

    Both sets are L2-normalised; s_ij = x_i . t_j is the cosine similarity of query i to train
    point j. Query i's k most similar train points N_k(i) vote with weight exp(s_ij / temperature):

        predicted(i) = argmax_c sum_{j in N_k(i), y_j = c} exp(s_ij / temperature)

    Equal similarities are ranked by lower train index; equal votes go to the class that sorts
    first (np.unique order of train_y). k is clipped to the number of train points, but the key
    keeps the requested k: {"knn_top1_k1": accuracy, ...}. Queries go in batches of `batch_size`,
    so memory is O(batch_size * N_train) (8 bytes each: the similarities are float64). NaN without
    train or test points.
    """
    train, test = _unit_rows(train_X), _unit_rows(test_X)
    test_y = np.asarray(test_y)
    classes, train_codes = np.unique(np.asarray(train_y), return_inverse=True)
    train_codes = train_codes.reshape(-1)
    if len(train) == 0 or len(test) == 0:
        return {f"knn_top1_k{k}": float("nan") for k in ks}
    clipped = {k: min(k, len(train)) for k in ks}
    correct = dict.fromkeys(ks, 0)
    for start in range(0, len(test), batch_size):
        similarity = test[start : start + batch_size] @ train.T
        neighbours = _top_k(similarity, max(clipped.values()))
        weights = np.exp(np.take_along_axis(similarity, neighbours, axis=1) / temperature)
        rows = np.arange(len(similarity))[:, None] * len(classes)  # offset of each query's vote counts
        for k, used in clipped.items():
            cells = (rows + train_codes[neighbours[:, :used]]).ravel()
            votes = np.bincount(cells, weights[:, :used].ravel(), minlength=len(similarity) * len(classes))
            predicted = classes[votes.reshape(len(similarity), len(classes)).argmax(axis=1)]
            correct[k] += int(np.sum(predicted == test_y[start : start + batch_size]))
    return {f"knn_top1_k{k}": correct[k] / len(test) for k in ks}


def _probe(C: float, max_iter: int):
    """Standardisation (fitted on what the probe is fitted on) and an L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter))


def linear_probe_accuracy(
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    Cs=(0.01, 0.1, 1, 10, 100),
    val_fraction: float = 0.2,
    seed: int = 0,
    max_iter: int = 1000,
) -> dict:
    """Top-1 test accuracy of a linear probe: standardised features, multinomial logistic regression
    (lbfgs, L2 penalty with inverse strength C).

    C is chosen on a seeded held-out `val_fraction` of train (stratified by class; unstratified
    when a class has fewer than 2 points or the part is too small to hold every class): the probe
    with the best validation accuracy, the smaller C among equals. That probe is refitted on all of
    train (the standardisation too) and scored on test. Returns {"linear_probe_top1",
    "linear_probe_C", "linear_probe_val_top1"}; all NaN when train has fewer than 2 classes.
    """
    train_X, train_y = np.asarray(train_X), np.asarray(train_y)
    if len(np.unique(train_y)) < 2:
        return dict.fromkeys(["linear_probe_top1", "linear_probe_C", "linear_probe_val_top1"], float("nan"))
    fit, val = _split(train_y, 1 - val_fraction, seed)
    best_C, best_val = None, -1.0
    for C in sorted(Cs):  # ascending, and only a strictly better score replaces: equals keep the smaller C
        accuracy = _probe(C, max_iter).fit(train_X[fit], train_y[fit]).score(train_X[val], train_y[val])
        if accuracy > best_val:
            best_C, best_val = C, accuracy
    test_accuracy = _probe(best_C, max_iter).fit(train_X, train_y).score(np.asarray(test_X), np.asarray(test_y))
    return {"linear_probe_top1": float(test_accuracy), "linear_probe_C": float(best_C), "linear_probe_val_top1": float(best_val)}


def probe_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(probe-train indices, the other indices), each sorted: a seeded carve of `fraction` of the
    points, stratified by `labels` (unstratified when a class has fewer than 2 points, or a part is
    too small to hold every class), for a dataset without a train split. Same labels, fraction and
    seed, same split."""
    return _split(np.asarray(labels), fraction, seed)


# ----------------------------------------------------------------------------------------------
# The probes stage: where a dataset's probes train, and the job (per embeddings).


def probe_plan(spec: dict, splits: list[str]) -> dict:
    """Where one dataset's probes train: {"mode": "split", "split": name} (that split is prepared
    and embedded too), {"mode": "carve"} or {"mode": "skip", "reason": ...}. `spec` is the resolved
    dataset entry, `splits` the splits its type offers. Raises ConfigError for an unknown split."""
    from .errors import ConfigError

    wanted = spec["probe_split"]
    if wanted is None:
        if "train" in splits and spec["split"] != "train":
            wanted = "train"
        elif spec["type"] in ("digits", "imagefolder"):
            wanted = "carve"
        else:
            return {
                "mode": "skip",
                "reason": f"{spec['type']} has no train split here (the study skips ImageNet-R/-Sketch/-O and -v2); set "
                f"probe_split",
            }
    if wanted == "none":
        return {"mode": "skip", "reason": "probe_split: none"}
    if wanted == "carve":
        return {"mode": "carve"}
    if wanted not in splits or wanted == spec["split"]:
        others = [s for s in splits if s != spec["split"]]
        raise ConfigError(
            f"datasets.{spec['name']}.probe_split: {wanted!r} is not another split of {spec['type']} "
            f"({', '.join(others + ['carve', 'none'])})"
        )
    return {"mode": "split", "split": wanted}


def probe_embeddings(queries_path, train_path, out_path, keys: dict, plan: dict, settings: dict) -> None:
    """The labelled references of one (dataset, encoder): DINO's weighted kNN top-1 accuracy for
    each k and a linear probe, trained on the probe split (`plan["mode"]` "split": its own
    embeddings; "carve": a stratified seeded part of the clustered split, the rest being the
    queries) and scored on the clustered split; "skip": a row saying why."""
    import pandas as pd

    from . import tables

    row = {**keys, "probe_mode": plan["mode"], "probe_split": plan.get("split") or "", "skipped": plan.get("reason", "")}
    queries, _ = tables.read(queries_path, columns=["label", tables.VECTOR])
    if plan["mode"] != "skip" and not np.any(queries["label"] >= 0):
        row.update(probe_mode="skip", skipped="the dataset has no labels")
    elif plan["mode"] != "skip":
        test_X, test_y = queries[tables.VECTOR], queries["label"]
        if plan["mode"] == "carve":
            train, rest = probe_split(test_y, settings["carve_fraction"], settings["seed"])
            train_X, train_y, test_X, test_y = test_X[train], test_y[train], test_X[rest], test_y[rest]
        else:
            trained, _ = tables.read(train_path, columns=["label", tables.VECTOR])
            train_X, train_y = trained[tables.VECTOR], trained["label"]
        row.update(n_train=len(train_y), n_test=len(test_y))
        row.update(
            weighted_knn_accuracy(train_X, train_y, test_X, test_y, ks=settings["knn_k"], temperature=settings["temperature"])
        )
        probe = linear_probe_accuracy(
            train_X, train_y, test_X, test_y, Cs=settings["Cs"], val_fraction=settings["val_fraction"], seed=settings["seed"]
        )
        row.update(probe)
    tables.write_frame(out_path, pd.DataFrame([row]))
