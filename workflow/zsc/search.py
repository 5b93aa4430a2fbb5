"""Hyper-parameter search (docs/study.md#33-hyper-parameter-search): greedy and sequential, per encoder and clusterer.

For one encoder, each clusterer of the config's `search` section is tuned in order: a reduction step
(unless the plan starts `after` another clusterer's result), then the plan's steps; each step tries
every combination of its grid on top of the best so far and keeps the one with the highest weighted
mean AMI over the search datasets (the study's 2:1:1 for ImageNet, Imagenette, Imagewoof). Every
reduction is computed once per (dataset, reducer) and shared by all clusterers and steps.

The result is written as a params file in the format of config/params/v5.0.yaml, so a later config
runs the chosen pipeline by naming it as its `protocol`.
"""

from __future__ import annotations

import itertools
import json
import logging
import math

import numpy as np

from .clusterers import CLUSTERERS, memory_limit, n_clusters_asked, too_big
from .reducers import REDUCERS

log = logging.getLogger(__name__)


def weighted_score(amis: dict[str, float], weights: dict[str, float]) -> float:
    """Weighted mean AMI over the datasets scored (a dataset a clusterer skips does not count)."""
    total = sum(weights[name] for name in amis)
    return sum(weights[name] * ami for name, ami in amis.items()) / total


def _steps(plan: dict) -> list[dict]:
    mentions_reducer = any("reducer" in grid for grid in plan["steps"])
    first = [] if plan["after"] or mentions_reducer else [{"reducer": plan["reducers"]}]
    return first + plan["steps"]


def _valid(entry: dict) -> str | None:
    """Why a combination of settings is not allowed (a cross-option rule such as ward needing euclidean)."""
    from .errors import ConfigError
    from .json_schema import validate

    try:
        validate({k: v for k, v in entry.items() if k != "name"}, CLUSTERERS.schema())
    except ConfigError as err:
        return str(err)
    return None


class Search:
    """The search for one encoder: `data` maps each search dataset to (embeddings, labels)."""

    def __init__(self, data, weights, reducers, clusterers, seed, memory_gb=None, n_clusters=None):
        self.data, self.weights, self.reducers, self.clusterers = data, weights, reducers, clusterers
        self.seed, self.limit, self.n_clusters = seed, memory_limit(memory_gb), n_clusters or {}
        self.reduced, self.trace = {}, []

    def reduce(self, dataset: str, reducer: str) -> np.ndarray:
        if (dataset, reducer) not in self.reduced:
            log.info("reducing %s with %s", dataset, reducer)
            X = self.data[dataset][0]
            self.reduced[dataset, reducer] = REDUCERS.build(self.reducers[reducer], seed=self.seed).fit_transform(X)
        return self.reduced[dataset, reducer]

    def score(self, name: str, reducer: str, entry: dict, skip: list[str]) -> tuple[float, dict, str | None]:
        from sklearn.metrics import adjusted_mutual_info_score

        invalid = _valid(entry)
        if invalid:
            return -math.inf, {}, invalid
        amis, too_large = {}, []
        for dataset in self.weights:
            if dataset in skip:
                continue
            X, y = self.reduce(dataset, reducer), self.data[dataset][1]
            why = too_big(entry, *X.shape, self.limit)
            if why:  # this dataset does not count (as with skip_datasets); the reason goes to the trace
                too_large.append(f"{dataset}: {why}")
                continue
            n_clusters = n_clusters_asked(y, self.n_clusters.get(dataset), f"search.datasets.{dataset}")
            labels = CLUSTERERS.build(entry, n_clusters=n_clusters, n_samples=len(X), seed=self.seed).fit_predict(X)
            amis[dataset] = float(adjusted_mutual_info_score(y, labels))  # noise (-1) kept as one label
        return (weighted_score(amis, self.weights) if amis else -math.inf), amis, "; ".join(too_large) or None

    def tune(self, name: str, plan: dict, chosen: dict) -> dict:
        """Greedy steps for one clusterer; returns {reducer, options, score}."""
        base = dict(self.clusterers[name])
        reducer, options = None, {}
        if plan["after"]:
            earlier = chosen[plan["after"]]
            reducer = earlier["reducer"]
            options = {k: v for k, v in earlier["options"].items() if k in base and k != "type"}
        best = None
        for step, grid in enumerate(_steps(plan)):
            best = None
            for values in itertools.product(*grid.values()):
                change = dict(zip(grid, values))
                candidate_reducer = change.pop("reducer", reducer)
                candidate = {**options, **change}
                score, amis, why = self.score(name, candidate_reducer, {**base, **candidate}, plan["skip_datasets"])
                self.trace.append(
                    {
                        "clusterer": name,
                        "step": step,
                        "reducer": candidate_reducer,
                        "settings": json.dumps(candidate, sort_keys=True),
                        "score": score,
                        **{f"AMI_{dataset}": amis.get(dataset, math.nan) for dataset in self.weights},
                        "skipped": why or "",
                    }
                )
                log.info(
                    "%s step %d: %s %s -> %.4f%s", name, step, candidate_reducer, candidate, score, f" ({why})" if why else ""
                )
                if best is None or score > best[0]:
                    best = (score, candidate_reducer, candidate)
            if best[0] == -math.inf:
                raise ValueError(f"search.clusterers.{name}: no candidate of step {step} could run (see the trace)")
            _, reducer, options = best
        return {"reducer": reducer, "options": options, "score": best[0]}

    def run(self, plans: dict) -> dict:
        chosen = {}
        for name, plan in plans.items():
            chosen[name] = self.tune(name, plan, chosen)
        return chosen


def search_encoder(
    embeddings: dict[str, str],
    out_choices,
    out_trace,
    search: dict,
    reducers: dict,
    clusterers: dict,
    n_clusters: dict,
    memory_gb,
):
    """Rule search: one encoder's choices (YAML) and every candidate's scores (CSV)."""
    import pandas as pd
    import yaml

    from . import tables

    data = {}
    for dataset, path in embeddings.items():
        columns, _ = tables.read(path, columns=[tables.VECTOR, "label"])
        data[dataset] = (columns[tables.VECTOR], columns["label"])
    run = Search(data, search["datasets"], reducers, clusterers, search["seed"], memory_gb, n_clusters)
    chosen = run.run(search["clusterers"])
    with tables.atomic(out_trace) as tmp:
        pd.DataFrame(run.trace).to_csv(tmp, index=False, float_format="%.6f")
    with tables.atomic(out_choices) as tmp:
        with open(tmp, "w") as f:
            yaml.safe_dump(chosen, f, sort_keys=False)


def write_params(choice_files: dict[str, str], out_path, search: dict, reducers: dict, clusterers: dict) -> None:
    """Rule search_params: every encoder's choices as one params file (the protocol format)."""
    import yaml

    from . import tables

    def entry(spec):
        return {k: v for k, v in spec.items() if k != "name"}

    params = {
        "version": search["version"],
        "paper_clusterers": list(search["clusterers"]),
        "reducers": {
            name: entry(reducers[name]) for name in sorted({r for p in search["clusterers"].values() for r in p["reducers"]})
        },
        "clusterers": {name: entry(clusterers[name]) for name in search["clusterers"]},
        "datasets": {},
        "encoders": {},
    }
    for encoder, path in choice_files.items():
        chosen = yaml.safe_load(open(path))
        params["encoders"][encoder] = {name: {"reducer": c["reducer"], **c["options"]} for name, c in chosen.items()}
    weights = ", ".join(f"{name} x{weight}" for name, weight in search["datasets"].items())
    header = (
        f"# Chosen by the hyper-parameter search (version {search['version']}): weighted mean AMI on {weights},\n"
        f"# seed {search['seed']}. Name this file as a config's `protocol` to run it.\n"
    )
    with tables.atomic(out_path) as tmp:
        with open(tmp, "w") as f:
            f.write(header)
            yaml.safe_dump(params, f, sort_keys=False)
