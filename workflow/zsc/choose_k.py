"""Choosing the number of clusters without labels (docs/labelfree.md#choosing-k).

Which k a run is given is said in one place for every stage and the plan,
zsc.clusterers.n_clusters_asked: the dataset's `n_clusters`, else the number of classes present in
the clustered split (the study), else, when no sample has a label (a flat image folder), none.

The clusterers that are given a number (K-Means, spectral, agglomerative with a count) declare the
option `choose_k` (CHOOSE_K) in their registry entries:

- `when: auto` (the default) chooses k only where the dataset has neither labels nor `n_clusters`,
  so labelled runs keep k = the classes present; `always` chooses on labelled data too (that is
  how zsc.bench_choose_k measures the criterion); with `never`, a dataset without either is
  refused before any job (`check`).
- Every k from `k_min` to `k_max` (default min(50, floor(sqrt(N))), at most N - 1) is fitted,
  sharing work where the method allows (zsc.clusterers.candidates: registry info `candidates`, one
  agglomerative tree cut at every k, one spectral embedding of k_max eigenvectors; K-Means fits
  once per k).
- Each candidate's labels are scored by `criterion`: the Euclidean silhouette in the shared
  UMAP-50 space of the embeddings (`silhouette_umap`, the space the study found to track AMI),
  or in the space clustered (`silhouette_reduced`, also the fallback when metrics.umap_silhouette
  is off or that space could not be made). All candidates are scored in one pass over the pairwise
  distances (zsc.silhouette), on a seeded subsample of `silhouette_max_samples` points.
- The highest score wins (ties: the smaller k). The run's labels are those a run given that k
  gets; the chosen k, the criterion actually used and the score of every k are recorded.

A method registry module beside zsc.clusterers, which imports it (so this module does not import
the clusterers: what it needs of an entry comes as arguments or through the config's `info`).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

K_MAX_CAP = 50  # the default k_max is min(K_MAX_CAP, floor(sqrt(N))): one fit per k for K-Means
CRITERIA = ("silhouette_umap", "silhouette_reduced")

CHOOSE_K = {
    "type": "object",
    "additionalProperties": False,
    "default": {"when": "auto", "k_min": 2, "k_max": None, "criterion": "silhouette_umap", "silhouette_max_samples": 10000},
    "description": "Choosing the number of clusters without labels (docs/labelfree.md#choosing-k).",
    "properties": {
        "when": {
            "type": "string",
            "enum": ["auto", "always", "never"],
            "default": "auto",
            "description": "auto: choose k only when the dataset has neither labels nor n_clusters; always: also on labelled "
            "data (to measure the choice); never: such a dataset is refused before any job.",
        },
        "k_min": {"type": "integer", "minimum": 2, "default": 2, "description": "Smallest k tried."},
        "k_max": {
            "type": ["integer", "null"],
            "minimum": 2,
            "default": None,
            "description": f"Largest k tried; null: min({K_MAX_CAP}, floor(sqrt(N))). Never above N - 1.",
        },
        "criterion": {
            "type": "string",
            "enum": list(CRITERIA),
            "default": "silhouette_umap",
            "description": "Label-free score of each k's labels, highest wins (ties: the smaller k): the Euclidean silhouette "
            "in the shared UMAP-50 space of the embeddings (falls back to the space clustered when metrics.umap_silhouette "
            "is false) or in the space clustered.",
        },
        "silhouette_max_samples": {
            "type": ["integer", "null"],
            "minimum": 2,
            "default": 10000,
            "description": "Score the candidates on a seeded subsample of this many points (null: all; O(N^2)).",
        },
    },
}


class ChooseKError(ValueError):
    """A k cannot be chosen on this data (too few points, no candidate with a defined score): the
    run is recorded as failed with this reason (zsc.failures)."""


def settings(clusterer: dict) -> dict:
    """The clusterer's choose_k settings, every default filled in (a config may give only some)."""
    return {**CHOOSE_K["default"], **(clusterer.get("choose_k") or {})}


def chooses(clusterer: dict, counted: bool) -> bool:
    """Whether a run of `clusterer` (a resolved entry) chooses its k; `counted`: the dataset gives a
    number (zsc.clusterers.n_clusters_asked gives one). Only the clusterers that declare the option
    choose_k (those given a number) ever do."""
    if "choose_k" not in clusterer:
        return False
    when = settings(clusterer)["when"]
    return when == "always" or (when == "auto" and not counted)


def k_max_of(choice: dict, n: int) -> int:
    """k_max, or its default for n points: min(K_MAX_CAP, floor(sqrt(n)))."""
    return choice["k_max"] if choice["k_max"] is not None else min(K_MAX_CAP, math.isqrt(n))


def candidate_ks(choice: dict, n: int) -> list[int]:
    """The k tried on n points: k_min to k_max, at most n - 1 (a silhouette needs fewer clusters
    than points)."""
    ks = list(range(choice["k_min"], min(k_max_of(choice, n), n - 1) + 1))
    if not ks:
        raise ChooseKError(
            f"choose_k: no k from k_min {choice['k_min']} to k_max {k_max_of(choice, n)} can be scored on {n} points (2 <= k < N)"
        )
    return ks


# ---------------------------------------------------------------------------------------------
# Before any job: which datasets have labels, which runs choose, the configs that cannot run


def labelled(config, dataset: str) -> bool:
    """Whether the dataset's samples carry labels, as known before any job: every registered
    dataset does; an image folder when it has class sub-folders (its registry info `labelled`)."""
    labels_of = config.info("datasets", dataset).get("labelled")
    return labels_of is None or labels_of(config.entry("datasets", dataset))


def counted(config, dataset: str) -> bool:
    """Whether the dataset gives its runs a number of clusters (n_clusters, or labels to count)."""
    return config.entry("datasets", dataset)["n_clusters"] is not None or labelled(config, dataset)


def may_choose(config, run: dict) -> bool:
    """Whether a run of the grid will choose its k (so its cluster job reads the UMAP space)."""
    uses_n_clusters = config.info("clusterers", run["clusterer"])["uses_n_clusters"]
    return uses_n_clusters and chooses(config.clusterer(run), counted(config, run["dataset"]))


def check(config) -> None:
    """ConfigError (one line) for what would stop a job: k_max below k_min, and a dataset with
    neither labels nor n_clusters whose clusterers are given a number and may not choose it."""
    from .errors import ConfigError

    for name, entry in config["clusterers"].items():
        choice = settings(entry)
        if choice["k_max"] is not None and choice["k_max"] < choice["k_min"]:
            raise ConfigError(f"clusterers.{name}.choose_k.k_max: {choice['k_max']} is below k_min {choice['k_min']}")
    refused: dict[str, list[str]] = {}
    for run in config.runs():
        clusterer = config.clusterer(run)
        if not config.info("clusterers", run["clusterer"])["uses_n_clusters"] or settings(clusterer)["when"] != "never":
            continue
        if not counted(config, run["dataset"]):
            refused.setdefault(run["dataset"], []).append(run["clusterer"])
    for dataset, clusterers in refused.items():
        names = list(dict.fromkeys(clusterers))
        which = f"clusterers {', '.join(names)} are" if len(names) > 1 else f"clusterer {names[0]} is"
        raise ConfigError(
            f"datasets.{dataset}: no labels (a flat image folder) and no n_clusters, and {which} given a number "
            f"of clusters with choose_k.when: never: set datasets.{dataset}.n_clusters, or let choose_k choose it "
            "(choose_k.when: auto)"
        )


# ---------------------------------------------------------------------------------------------
# The choice, in a cluster or labelfree job


@dataclass(frozen=True)
class Choice:
    k: int
    criterion: str  # the criterion actually used (silhouette_umap or silhouette_reduced)
    curve: dict[int, float]  # k -> score (NaN where undefined)
    labels: np.ndarray

    def record(self) -> dict:
        """What the run's files and row keep: k_chosen, k_criterion and k_curve (JSON, k -> score)."""
        curve = {str(k): (None if math.isnan(s) else s) for k, s in self.curve.items()}
        return {"k_chosen": self.k, "k_criterion": self.criterion, "k_curve": json.dumps(curve)}


def choose(clusterer: dict, X: np.ndarray, space: np.ndarray | None, seed: int, candidates) -> Choice:
    """Choose k for `clusterer` on the points X it clusters, scoring each k's labels in `space`
    (the UMAP-50 space; None: criterion silhouette_reduced, or that space is missing).
    `candidates(clusterer, X, ks, seed)`: (the labels at every k of ks, the labels a run given k
    gets, as a function of k), as zsc.clusterers.candidates gives them."""
    from .silhouette import silhouettes

    choice = settings(clusterer)
    criterion = choice["criterion"] if space is not None else "silhouette_reduced"
    if criterion == "silhouette_reduced":
        space = X
    if len(space) != len(X):
        raise ValueError(f"choose_k: the scoring space has {len(space)} points, the data clustered {len(X)}")
    ks = candidate_ks(choice, len(X))
    labels, final = candidates(clusterer, X, ks, seed)
    scores = silhouettes(space, labels, choice["silhouette_max_samples"], seed)
    defined = [k for k in ks if not math.isnan(scores[k])]
    if not defined:
        raise ChooseKError(f"choose_k: no k from {ks[0]} to {ks[-1]} gives two clusters or more to score")
    best = max(defined, key=lambda k: (scores[k], -k))  # ties: the smaller k
    return Choice(best, criterion, {k: float(scores[k]) for k in ks}, np.asarray(final(best), dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# What a choosing cluster job needs beyond its method (zsc.resources, zsc.plan)


def sizes(clusterer: dict, n: int) -> tuple[range, int]:
    """(the k tried, the points scored) of a choosing run on n points, for the estimates."""
    choice = settings(clusterer)
    m = n if choice["silhouette_max_samples"] is None else min(n, choice["silhouette_max_samples"])
    return range(choice["k_min"], max(choice["k_min"], k_max_of(choice, n)) + 1), m


def memory_bytes(n: int, clusterer: dict) -> int:
    """The candidates' labels and the silhouettes' block of pairwise distances (float64, at most
    two of scikit-learn's 1 GiB working blocks) with the per-cluster sums of every candidate."""
    ks, m = sizes(clusterer, n)
    return 8 * n * len(ks) + min(2 * 2**30, 16 * m * m) + 8 * m * sum(ks)
