"""Label-free scores of an embedding: their estimators, their registry (SCORES) and the labelfree job.

They never see a label, so they can be computed on an unseen, unlabelled dataset:

- `kmeans_agreement`: how much K-Means partitions from different seeds agree (AMI / ARI over all
  pairs of seeds); `pairwise_agreement` does the same between different clusterers.
- `gaussian_entropy`: differential entropy of a Gaussian fitted to the standardised embeddings,
  and the effective rank of their correlation spectrum.
- `knn_entropy`: the Kozachenko-Leonenko k-nearest-neighbour entropy estimate.

The labelled references they are compared with (kNN and linear probes) are zsc.probes.

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

from .clusterers import n_clusters_asked
from .registry import Registry

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
# The scores: a registry. Each entry is one score the `labelfree` table holds and declares:
# - direction: "higher" (a higher value is taken as the better encoder) or "lower";
# - family: what kind of score it is (agreement, entropy, silhouette);
# - across_widths: whether it compares embeddings of different widths (see the module docstring);
# - stage: "labelfree" (the labelfree job computes it: the factory takes the job's `Embedding` and
#   returns the value, or None where the score does not apply, e.g. without the UMAP space) or
#   "evaluate" (the evaluate stage computes it per run, as the runs table's column of the entry's
#   name; zsc.aggregate adds it per clusterer: the factory takes the runs that ran and returns the
#   column, or None without it) or "run" (a column of the runs table as for "evaluate", that only
#   ranks a dataset's pipelines, zsc.selection.PIPELINE_SCORES: not gathered into labelfree.parquet).
# zsc.selection reads the direction; docs/labelfree.md describes every score.
SCORES = Registry("label-free scores", required=("direction", "family", "across_widths", "stage"))


class Embedding:
    """One (embeddings, seed) as the labelfree job sees it: the vectors, the number of clusters
    asked (its count is all that is taken from the labels), the settings and the files of the
    shared UMAP space and the runs' clusters. What several scores share (a space's K-Means
    agreement, the entropy estimates) is computed once, on first use."""

    def __init__(self, X, n_clusters: int, seed: int, settings: dict, umap_path=None, runs=()):
        self.X, self.n_clusters, self.seed, self.settings = X, n_clusters, seed, settings
        self.umap_path, self.runs = umap_path, list(runs)
        self._done = {}

    def _once(self, key, compute):
        if key not in self._done:
            self._done[key] = compute()
        return self._done[key]

    def agreement(self, space: str) -> dict | None:
        """kmeans_agreement's scores in `space` ("og": the embeddings, "umap": the shared UMAP-50
        space; None without it), over settings' agreement_seeds seeds (seed, seed+1, ...); NaN
        where they cannot be computed on this data (zsc.failures), with a warning saying why."""
        return self._once(("agreement", space), lambda: self._agreement(space))

    def _agreement(self, space: str) -> dict | None:
        from . import tables

        if space == "umap" and not self.umap_path:
            return None
        failed = tables.not_run(self.umap_path) if space == "umap" else None  # the UMAP space could not be made
        points = None if failed else self.X if space == "og" else tables.read_vectors(self.umap_path)
        k = self.n_clusters
        if points is None or k > len(points):
            why = failed[1] if failed else f"{k} clusters asked of only {len(points)} samples (datasets' n_clusters)"
            logging.getLogger(__name__).warning("no K-Means agreement in the %s space: %s", space, why)
            return dict.fromkeys(
                ["agreement_ami_mean", "agreement_ami_min", "agreement_ari_mean", "agreement_ari_min"], float("nan")
            )
        seeds = [self.seed + i for i in range(self.settings["agreement_seeds"])]
        return kmeans_agreement(points, k, seeds)

    def clusterer_agreement(self):
        """pairwise_agreement between the labels of the runs' clusterers that ran (None with fewer than two)."""
        return self._once("clusterers", self._clusterer_agreement)

    def _clusterer_agreement(self):
        from . import tables

        predicted = {}
        for job in self.runs:
            pred, meta = tables.read(job["clusters"])
            if not meta.get("skipped"):
                predicted[job["run"]["clusterer"] + "/" + job["run"]["reducer"]] = pred["label_pred"]
        return pairwise_agreement(predicted) if len(predicted) > 1 else None

    def entropies(self) -> dict:
        """gaussian_entropy and knn_entropy of the embeddings (settings' entropy_knn_k and entropy_max_samples)."""
        return self._once(
            "entropies",
            lambda: {
                **gaussian_entropy(self.X),
                **knn_entropy(
                    self.X, k=self.settings["entropy_knn_k"], max_samples=self.settings["entropy_max_samples"], seed=self.seed
                ),
            },
        )


def _runs_column(column: str):
    def values(ran):
        return ran[column] if column in ran else None

    return values


SCORES.add(
    "silhouette_og",
    "Euclidean silhouette of a clusterer's predicted labels in its encoder's own embedding space (the evaluate stage's "
    "silhouette_og), one score per clusterer: silhouette_og_<clusterer> (_<reducer> in a grid). Not across widths: "
    "distances concentrate as the width grows.",
    direction="higher",
    family="silhouette",
    across_widths=False,
    stage="evaluate",
)(_runs_column("silhouette_og"))
SCORES.add(
    "silhouette_umap",
    "Euclidean silhouette of a clusterer's predicted labels in the shared UMAP-50 space of the embeddings (the evaluate "
    "stage's silhouette_umap), one score per clusterer: silhouette_umap_<clusterer> (_<reducer> in a grid).",
    direction="higher",
    family="silhouette",
    across_widths=True,
    stage="evaluate",
)(_runs_column("silhouette_umap"))
# Scores of a run in the space its clusterer saw (the evaluate stage's): they rank one dataset's
# pipelines, and are not encoder-level scores (not in labelfree.parquet).
SCORES.add(
    "silhouette_reduced",
    "Euclidean silhouette of a run's predicted labels in the space its clusterer saw (the evaluate stage's "
    "silhouette_reduced); ranks a dataset's pipelines only.",
    direction="higher",
    family="silhouette",
    across_widths=False,
    stage="run",
)(_runs_column("silhouette_reduced"))
SCORES.add(
    "calinski_harabasz",
    "Calinski-Harabasz index (between- over within-cluster dispersion) of a run's predicted labels in the space its "
    "clusterer saw (the evaluate stage's calinski_harabasz); ranks a dataset's pipelines only.",
    direction="higher",
    family="validity index",
    across_widths=False,
    stage="run",
)(_runs_column("calinski_harabasz"))
SCORES.add(
    "davies_bouldin",
    "Davies-Bouldin index (each cluster's mean similarity to its most similar cluster) of a run's predicted labels in "
    "the space its clusterer saw (the evaluate stage's davies_bouldin); ranks a dataset's pipelines only.",
    direction="lower",
    family="validity index",
    across_widths=False,
    stage="run",
)(_runs_column("davies_bouldin"))


def _agreement_score(space: str, statistic: str):
    def value(embedding: Embedding):
        scores = embedding.agreement(space)
        return None if scores is None else scores[f"agreement_{statistic}"]

    return value


for _space, _where in (("og", "the embeddings"), ("umap", "the shared UMAP-50 space")):
    for _statistic, _what in (
        ("ami_mean", "mean AMI"),
        ("ami_min", "minimum AMI"),
        ("ari_mean", "mean ARI"),
        ("ari_min", "minimum ARI"),
    ):
        SCORES.add(
            f"agreement_{_space}_{_statistic}",
            f"The {_what} over all pairs of K-Means partitions of {_where} from labelfree.agreement_seeds seeds.",
            direction="higher",
            family="agreement",
            across_widths=True,
            stage="labelfree",
        )(_agreement_score(_space, _statistic))


def _clusterer_agreement(column: str):
    def value(embedding: Embedding):
        pairs = embedding.clusterer_agreement()
        return float(pairs[column].mean()) if pairs is not None else float("nan")

    return value


for _column in ("AMI", "ARI"):
    SCORES.add(
        f"clusterer_agreement_{_column.lower()}",
        f"The mean {_column} over all pairs of the configured clusterers' partitions of the embeddings "
        "(noise kept as one label).",
        direction="higher",
        family="agreement",
        across_widths=True,
        stage="labelfree",
    )(_clusterer_agreement(_column))


def _entropy(name: str):
    def value(embedding: Embedding):
        return embedding.entropies()[name]

    return value


def _agreement_k(labels: np.ndarray, n_clusters: int | None, X, umap_path, seed: int) -> int:
    """The number of clusters asked of K-Means: the runs' (zsc.clusterers.n_clusters_asked: the
    dataset's `n_clusters`, else the number of classes present; only the count is taken from
    labels). With neither, K-Means chooses it by choose_k's defaults, in the UMAP space `umap_path`
    (else in X)."""
    from . import choose_k, tables
    from .clusterers import CLUSTERERS, candidates

    k = n_clusters_asked(labels, n_clusters)
    if k is not None:
        return k
    umap = None if umap_path is None or tables.not_run(umap_path) else tables.read_vectors(umap_path)
    kmeans = {"type": "kmeans", "name": "kmeans", **CLUSTERERS["kmeans"].defaults()}
    choice = choose_k.choose(kmeans, X if umap is None else umap, umap, seed, candidates)
    logging.getLogger(__name__).info(
        "no labels and no n_clusters: K-Means agreement at k=%d, chosen by %s of K-Means in the %s space; scores by k: %s",
        choice.k, choice.criterion, "original" if umap is None else "UMAP", choice.record()["k_curve"],
    )  # fmt: skip
    return choice.k


# The entropy estimates kept as scores (gaussian_entropy and knn_entropy also return diagnostics:
# dimensions kept, shrinkage, samples used); only the per-dimension Gaussian entropy and the
# effective rank compare across widths (the module docstring).
for _name, _what, _across in (
    ("entropy_gaussian", "Differential entropy (nats) of a Gaussian fitted to the standardised embeddings", False),
    ("entropy_gaussian_per_dim", "entropy_gaussian per dimension kept (at most 1.419 nats: uncorrelated dimensions)", True),
    ("effective_rank", "Effective rank (RankMe) of the standardised embeddings' correlation spectrum", True),
    ("entropy_knn", "Kozachenko-Leonenko k-nearest-neighbour entropy (nats) of the standardised embeddings", False),
    ("entropy_knn_per_dim", "entropy_knn per dimension kept", False),
):
    SCORES.add(_name, _what + ".", direction="higher", family="entropy", across_widths=_across, stage="labelfree")(
        _entropy(_name)
    )


def direction(score: str) -> str:
    """Which value of `score` is the better encoder, "higher" or "lower", as its entry declares (a
    per-clusterer score such as silhouette_og_kmeans: its evaluate entry's); "higher" for a score no
    entry knows."""
    if score in SCORES:
        return SCORES[score].info["direction"]
    for entry in SCORES:
        if entry.info["stage"] == "evaluate" and score.startswith(f"{entry.name}_"):
            return entry.info["direction"]
    return "higher"


# ----------------------------------------------------------------------------------------------
# The labelfree job (per embeddings and seed). Its rows are gathered by the aggregate rule into
# results/tables/labelfree.parquet, with the evaluate stage's silhouettes.


def score_embeddings(embeddings_path, runs: list[dict], out_path, settings: dict, n_clusters, seed: int, umap_path=None) -> None:
    """The label-free scores of one (embeddings, seed), one tidy row each (dataset, split, encoder,
    seed, score, value): every score of the registry this job computes, in registry order (K-Means
    agreement in the original and the shared UMAP-50 space, agreement between the configured
    clusterers, the entropies). No label is read but their count, when the dataset gives no
    n_clusters (zsc.clusterers.n_clusters_asked); without labels either, K-Means chooses its k
    (zsc.choose_k)."""
    import pandas as pd

    from . import tables

    columns, _ = tables.read(embeddings_path, columns=["label", tables.VECTOR])
    X = columns[tables.VECTOR]
    k = _agreement_k(columns["label"], n_clusters, X, umap_path, seed)
    embedding = Embedding(X, k, seed, settings, umap_path, runs)
    scores = {entry.name: entry.factory(embedding) for entry in SCORES if entry.info["stage"] == "labelfree"}
    keys = {key: runs[0]["run"][key] for key in ("dataset", "split", "encoder")} if runs else {}
    rows = [{**keys, "seed": seed, "score": name, "value": float(value)} for name, value in scores.items() if value is not None]
    tables.write_frame(out_path, pd.DataFrame(rows))
