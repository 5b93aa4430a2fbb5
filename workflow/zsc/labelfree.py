"""Label-free scores of an embedding, and the labelled reference accuracies they are compared with.

Label-free (they never see a label, so they can be computed on an unseen, unlabelled dataset):

- `kmeans_agreement`: how much K-Means partitions from different seeds agree (AMI / ARI over all
  pairs of seeds); `pairwise_agreement` does the same between different clusterers.
- `gaussian_entropy`: differential entropy of a Gaussian fitted to the standardised embeddings,
  and the effective rank of their correlation spectrum.
- `knn_entropy`: the Kozachenko-Leonenko k-nearest-neighbour entropy estimate.

Labelled references: `weighted_knn_accuracy` (DINO's weighted kNN classifier) and
`linear_probe_accuracy` (a logistic-regression probe); `probe_split` carves a probe-train part
out of a dataset that has no train split.

Which entropy compares across encoders of different widths. Every embedding is first standardised
(each dimension z-scored, constant dimensions dropped), so no score depends on the scale of a
dimension. The Gaussian entropy then only depends on the correlation matrix R, whose eigenvalues
average 1 (trace R = d); its per-dimension value H/d = 0.5 log(2 pi e) + 0.5 mean(log lambda) is
at most 0.5 log(2 pi e) ~ 1.419 nats, reached when the dimensions are uncorrelated, and lower the
more the embedding collapses onto few directions: a measure of decorrelation that is comparable
between a 384-d and a 2048-d encoder. The effective rank (exp of the entropy of the normalised
eigenvalue spectrum, as in RankMe) is scale-free and counts how many directions are used; divided
by the width it is the fraction used. Both are therefore the scores to compare across
architectures.

The Kozachenko-Leonenko estimate does NOT compare across widths: it is a sum over dimensions that
depends on d through log V_d and d * log(eps), and its bias depends on d and N. It is consistent,
but in high dimension it underestimates (the k-th neighbour distance concentrates: all points look
equally far), and the number of samples needed for a given accuracy grows exponentially with d.
Use it between embeddings of the same width and sample size, or on low-dimensional projections.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

# Gaussian entropy: eigenvalues of the (unit-diagonal, so mean-1) correlation matrix are floored at
# this fraction of their mean, so a rank-deficient matrix gives a finite log-determinant.
EIGENVALUE_FLOOR = 1e-6


# ----------------------------------------------------------------------------------------------
# Shared helpers


def _standardised(X: np.ndarray) -> np.ndarray:
    """X (N x d) with each dimension z-scored (mean 0, population std 1, i.e. ddof=0, so that
    Z.T @ Z / N is exactly the correlation matrix) and constant dimensions (peak-to-peak 0, which
    has no rounding issue unlike std == 0) dropped; float64."""
    X = np.asarray(X, dtype=np.float64)
    X = X[:, np.ptp(X, axis=0) > 0]
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _subsample(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subsample of `max_samples` of n points (all of them without a cap)."""
    if max_samples is None or max_samples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


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
# Agreement between partitions


def kmeans_agreement(X: np.ndarray, n_clusters: int, seeds: list[int]) -> dict:
    """Agreement of K-Means partitions of X from different seeds.

    K-Means is the study's (k-means++, n_init=1, max_iter=1000, random_state=seed), fitted once per
    seed. For every unordered pair of seeds the two label vectors are compared with the adjusted
    mutual information (AMI) and the adjusted Rand index (ARI); the mean and the minimum over pairs
    are returned: {"agreement_ami_mean", "agreement_ami_min", "agreement_ari_mean",
    "agreement_ari_min"} (NaN with fewer than 2 seeds), and "labels": {seed: labels}, so a caller
    can reuse a seed's partition.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    labels = {
        seed: KMeans(n_clusters=n_clusters, init="k-means++", n_init=1, max_iter=1000, random_state=seed).fit_predict(X)
        for seed in seeds
    }
    pairs = list(itertools.combinations(seeds, 2))
    ami = [adjusted_mutual_info_score(labels[a], labels[b]) for a, b in pairs]
    ari = [adjusted_rand_score(labels[a], labels[b]) for a, b in pairs]
    nan = float("nan")
    return {
        "agreement_ami_mean": float(np.mean(ami)) if pairs else nan,
        "agreement_ami_min": float(np.min(ami)) if pairs else nan,
        "agreement_ari_mean": float(np.mean(ari)) if pairs else nan,
        "agreement_ari_min": float(np.min(ari)) if pairs else nan,
        "labels": labels,
    }


def pairwise_agreement(label_sets: dict[str, np.ndarray]):
    """AMI and ARI between every unordered pair of label vectors (e.g. of different clusterers on
    the same points): a DataFrame with columns [a, b, AMI, ARI], one row per pair, a before b in
    the dict's order. Noise (-1) is kept as one label, as in the study."""
    import pandas as pd
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    rows = [
        {
            "a": a,
            "b": b,
            "AMI": float(adjusted_mutual_info_score(label_sets[a], label_sets[b])),
            "ARI": float(adjusted_rand_score(label_sets[a], label_sets[b])),
        }
        for a, b in itertools.combinations(label_sets, 2)
    ]
    return pd.DataFrame(rows, columns=["a", "b", "AMI", "ARI"])


# ----------------------------------------------------------------------------------------------
# Entropies


def _spectrum(Z: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending, d of them, negatives from rounding set to 0) of the empirical
    correlation matrix Z.T Z / N of standardised Z (N x d). With N <= d they are taken from the
    N x N Gram matrix Z Z.T / N, which has the same non-zero eigenvalues and is cheaper; the other
    d - N are 0."""
    n, d = Z.shape
    if n > d:
        eigenvalues = np.linalg.eigvalsh(Z.T @ Z / n)
    else:
        eigenvalues = np.concatenate([np.zeros(d - n), np.linalg.eigvalsh(Z @ Z.T / n)])
    return np.sort(np.maximum(eigenvalues, 0.0))


def _shrinkage(Z: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage s of standardised Z's covariance when N <= d (where the empirical
    matrix is singular), else 0: the covariance estimate is then (1 - s) R + s mu I, mu = trace R / d."""
    n, d = Z.shape
    if n > d:
        return 0.0
    from sklearn.covariance import ledoit_wolf_shrinkage

    return float(ledoit_wolf_shrinkage(Z, assume_centered=True))


def effective_rank(eigenvalues: np.ndarray) -> float:
    """exp(-sum_i p_i log p_i) with p_i = lambda_i / sum_j lambda_j (RankMe's effective rank):
    between 1 (one direction) and the number of eigenvalues (a flat spectrum); scale-free."""
    p = eigenvalues[eigenvalues > 0] / eigenvalues.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def gaussian_entropy(X: np.ndarray) -> dict:
    """Differential entropy of a Gaussian fitted to the standardised embeddings, and their effective rank.

    X (N x d) is standardised (see `_standardised`: z-scored, constant dimensions dropped, leaving
    d_eff). Sigma is the correlation matrix R = Z.T Z / N; when N <= d_eff, where R is singular,
    the Ledoit-Wolf estimate (1 - s) R + s I (sklearn.covariance.ledoit_wolf_shrinkage; its target
    mu I has mu = trace R / d_eff = 1) is used instead. Its eigenvalues lambda_i are floored at
    EIGENVALUE_FLOOR (1e-6) times their mean (1), so the value stays finite whatever the rank:

        H = 0.5 log det(2 pi e Sigma) = 0.5 d_eff log(2 pi e) + 0.5 sum_i log lambda_i   (nats)

    Returns "entropy_gaussian" (H), "entropy_gaussian_per_dim" (H / d_eff, at most
    0.5 log(2 pi e) ~ 1.419), "entropy_gaussian_dims" (d_eff), "entropy_gaussian_shrinkage" (s, 0
    when not shrunk) and "effective_rank" of the unshrunk R (see `effective_rank`; shrinkage would
    flatten the spectrum and inflate it, unshrunk it is at most min(N - 1, d_eff)). The shrunk
    entropy depends on N through s, so compare it between datasets of similar size. All NaN
    (dims 0 when none is left) with fewer than 2 points or no non-constant dimension.
    """
    Z = _standardised(X)
    n, d = Z.shape
    if n < 2 or d == 0:
        keys = ["entropy_gaussian", "entropy_gaussian_per_dim", "entropy_gaussian_shrinkage", "effective_rank"]
        return dict.fromkeys(keys, float("nan")) | {"entropy_gaussian_dims": d}
    spectrum = _spectrum(Z)
    s = _shrinkage(Z)
    eigenvalues = (1 - s) * spectrum + s * spectrum.mean()  # R and I share eigenvectors
    eigenvalues = np.maximum(eigenvalues, EIGENVALUE_FLOOR * eigenvalues.mean())
    entropy = 0.5 * d * np.log(2 * np.pi * np.e) + 0.5 * np.sum(np.log(eigenvalues))
    return {
        "entropy_gaussian": float(entropy),
        "entropy_gaussian_per_dim": float(entropy / d),
        "entropy_gaussian_dims": d,
        "entropy_gaussian_shrinkage": s,
        "effective_rank": effective_rank(spectrum),
    }


def knn_entropy(X: np.ndarray, k: int = 5, max_samples: int | None = 5000, seed: int = 0) -> dict:
    """Kozachenko-Leonenko k-nearest-neighbour estimate of the differential entropy of the
    standardised embeddings (see the module docstring for its bias and why it does not compare
    across widths).

    On a seeded subsample of `max_samples` points (all without a cap), standardised (z-scored,
    constant dimensions dropped, leaving d), with eps_i the exact Euclidean distance from point i
    to its k-th nearest other point and V_d = pi^(d/2) / Gamma(d/2 + 1) the volume of the unit ball:

        H = psi(N) - psi(k) + log V_d + (d / N) sum_i log eps_i   (nats)

    Points with eps_i = 0 (at least k exact duplicates) would give -inf; they are left out of the
    mean of log eps (the N in psi(N) stays the subsample size). Returns "entropy_knn" (H),
    "entropy_knn_per_dim" (H / d), "entropy_knn_dims" (d) and "entropy_knn_samples" (N); NaN when
    N <= k, d = 0 or every eps is 0.
    """
    from scipy.special import digamma, gammaln
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X)
    Z = _standardised(X[_subsample(len(X), max_samples, seed)])
    n, d = Z.shape
    out = {"entropy_knn": float("nan"), "entropy_knn_per_dim": float("nan"), "entropy_knn_dims": d, "entropy_knn_samples": n}
    if n <= k or d == 0:
        return out
    _, neighbours = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors()  # without X: a point is not its own neighbour
    # Recomputed directly, as a BLAS-based search can return a tiny non-zero distance between duplicates.
    eps = np.linalg.norm(Z - Z[neighbours[:, -1]], axis=1)
    if not np.any(eps > 0):
        return out
    log_unit_ball = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1)
    entropy = digamma(n) - digamma(k) + log_unit_ball + d * np.mean(np.log(eps[eps > 0]))
    return out | {"entropy_knn": float(entropy), "entropy_knn_per_dim": float(entropy / d)}


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
# The workflow's stages: the labelfree job (per embeddings and seed) and the probes job (per
# embeddings). Their rows are gathered by the aggregate rule into results/tables/labelfree.parquet
# and probes.parquet.


def n_clusters_of(labels: np.ndarray, n_clusters: int | None, X=None, umap_path=None, seed: int = 0) -> int:
    """The number of clusters asked of K-Means: the runs' (zsc.choose_k.n_clusters_of: the dataset's
    `n_clusters`, else the number of classes present; only the count is taken from labels). With
    neither, K-Means chooses it by choose_k's defaults, in the UMAP space `umap_path` (else in X)."""
    from . import choose_k, tables
    from .clusterers import CLUSTERERS

    k = choose_k.n_clusters_of(labels, n_clusters)
    if k is not None:
        return k
    umap = None if umap_path is None or tables.not_run(umap_path) else tables.read_vectors(umap_path)
    kmeans = {"type": "kmeans", "name": "kmeans", **CLUSTERERS["kmeans"].defaults()}
    choice = choose_k.choose(kmeans, X if umap is None else umap, umap, seed)
    logging.getLogger(__name__).info(
        "no labels and no n_clusters: K-Means agreement at k=%d, chosen by %s of K-Means in the %s space; scores by k: %s",
        choice.k, choice.criterion, "original" if umap is None else "UMAP", choice.record()["k_curve"],
    )
    return choice.k


# The entropy estimates kept as scores (gaussian_entropy and knn_entropy also return diagnostics:
# dimensions kept, shrinkage, samples used).
ENTROPY_SCORES = ("entropy_gaussian", "entropy_gaussian_per_dim", "effective_rank", "entropy_knn", "entropy_knn_per_dim")


def score_embeddings(embeddings_path, runs: list[dict], out_path, settings: dict, n_clusters, seed: int, umap_path=None) -> None:
    """The label-free scores of one (embeddings, seed), one tidy row each (dataset, split, encoder,
    seed, score, value): K-Means agreement across `settings["agreement_seeds"]` seeds (seed, seed+1,
    ...) in the original space (agreement_og_*) and the shared UMAP-50 space (agreement_umap_*);
    the mean agreement between the configured clusterers' labels (clusterer_agreement_ami/_ari);
    the Gaussian and k-NN entropies of the embeddings. No label is read but their count, when
    the dataset gives no n_clusters (n_clusters_of)."""
    import pandas as pd

    from . import tables

    columns, _ = tables.read(embeddings_path, columns=["label", tables.VECTOR])
    X = columns[tables.VECTOR]
    k = n_clusters_of(columns["label"], n_clusters, X, umap_path, seed)
    seeds = [seed + i for i in range(settings["agreement_seeds"])]
    scores = {}
    for space, path in {"og": embeddings_path, "umap": umap_path}.items():
        if path:
            failed = tables.not_run(path) if space == "umap" else None  # the UMAP space could not be made
            points = None if failed else X if space == "og" else tables.read_vectors(path)
            if points is None or k > len(points):  # cannot be computed on this data (zsc.failures): NaN
                why = failed[1] if failed else f"{k} clusters asked of only {len(points)} samples (datasets' n_clusters)"
                logging.getLogger(__name__).warning("no K-Means agreement in the %s space: %s", space, why)
                agreement = dict.fromkeys(["agreement_ami_mean", "agreement_ami_min", "agreement_ari_mean", "agreement_ari_min"], float("nan"))
            else:
                agreement = kmeans_agreement(points, k, seeds)
            scores.update(
                {
                    f"agreement_{space}_{name.removeprefix('agreement_')}": agreement[name]
                    for name in agreement
                    if name != "labels"
                }
            )
    predicted = {}
    for job in runs:
        pred, meta = tables.read(job["clusters"])
        if not meta.get("skipped"):
            predicted[job["run"]["clusterer"] + "/" + job["run"]["reducer"]] = pred["label_pred"]
    pairs = pairwise_agreement(predicted) if len(predicted) > 1 else None
    scores["clusterer_agreement_ami"] = float(pairs["AMI"].mean()) if pairs is not None else float("nan")
    scores["clusterer_agreement_ari"] = float(pairs["ARI"].mean()) if pairs is not None else float("nan")
    entropies = {
        **gaussian_entropy(X),
        **knn_entropy(X, k=settings["entropy_knn_k"], max_samples=settings["entropy_max_samples"], seed=seed),
    }
    scores.update({name: entropies[name] for name in ENTROPY_SCORES})  # the rest are the estimators' diagnostics
    keys = {key: runs[0]["run"][key] for key in ("dataset", "split", "encoder")} if runs else {}
    rows = [{**keys, "seed": seed, "score": name, "value": float(value)} for name, value in scores.items()]
    tables.write_frame(out_path, pd.DataFrame(rows))


def probe_plan(spec: dict, splits: list[str]) -> dict:
    """Where one dataset's probes train: {"mode": "split", "split": name} (that split is prepared
    and embedded too), {"mode": "carve"} or {"mode": "skip", "reason": ...}. `spec` is the resolved
    dataset entry, `splits` the splits its type offers. Raises ConfigError for an unknown split."""
    from .config import ConfigError

    wanted = spec["probe_split"]
    if wanted is None:
        if "train" in splits and spec["split"] != "train":
            wanted = "train"
        elif spec["type"] in ("digits", "imagefolder"):
            wanted = "carve"
        else:
            return {
                "mode": "skip",
                "reason": f"{spec['type']} has no train split here (the study skips ImageNet-R/-Sketch/-O and -v2); set probe_split",
            }
    if wanted == "none":
        return {"mode": "skip", "reason": "probe_split: none"}
    if wanted == "carve":
        return {"mode": "carve"}
    if wanted not in splits or wanted == spec["split"]:
        others = [s for s in splits if s != spec["split"]]
        raise ConfigError(
            f"datasets.{spec['name']}.probe_split: {wanted!r} is not another split of {spec['type']} ({', '.join(others + ['carve', 'none'])})"
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
