"""The loaded config (zsc.config.Config): the settings, the protocol's table, and the runs it asks for."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Iterator

from ..vocabulary import MAP_REDUCER, MAP_SPACE, UMAP_SPACE, UMAP_SPACE_NAME
from .config_schema import registries


@dataclass(frozen=True)
class Config:
    """A validated config. `given` is the user's config exactly as passed (a copy: load() never
    changes the caller's dict); `settings` is it with every default filled in, each entry carrying
    its `type` and `name`, checkpoint series expanded and the search plan resolved. What the
    workflow derives from it is held apart: the protocol's table, its own reductions and the name
    of the reduction the UMAP silhouettes are computed in."""

    given: dict
    settings: dict
    protocol: dict | None = None
    # Reductions of the workflow's own, by name: the UMAP space of the silhouettes (unless a
    # reducer of the config is that space) and the 2-D UMAP of the embedding maps.
    metric_reducers: dict | None = None
    # The reducer whose space the UMAP silhouettes use (None: umap_silhouette is off).
    umap_reducer: str | None = None
    # Encoders left out of the runs (if_missing: skip and no weights file), name -> why.
    left_out: dict | None = None

    def __getitem__(self, key):
        return self.settings[key]

    def entry(self, kind: str, name: str) -> dict:
        return self.settings[kind][name] if name in self.settings[kind] else self.metric_reducers[name]

    def info(self, kind: str, name: str) -> dict:
        """Facts of the registry entry behind a config entry (a dataset's group, ...)."""
        return registries()[kind][self.entry(kind, name)["type"]].info

    def runs(self, encoders=None) -> Iterator[dict]:
        """Every (dataset, split, encoder, reducer, clusterer, seed) to run, in a stable order: the
        full grid, or with a protocol each encoder's clusterers on their own reducers. `encoders`:
        those encoders' runs instead (e.g. the left-out ones', to count them)."""
        searched = (self.settings["search"] or {}).get("datasets", {})
        tested = [dataset for dataset in self.settings["datasets"].values() if dataset["name"] not in searched]
        for dataset, encoder in itertools.product(tested, self.settings["encoders"] if encoders is None else encoders):
            if self.protocol:
                pairs = [(s["reducer"], clusterer) for clusterer, s in self.protocol["encoders"][encoder].items()]
            else:
                pairs = list(itertools.product(self.settings["reducers"], self.settings["clusterers"]))
            for (reducer, clusterer), seed in itertools.product(pairs, self.settings["seeds"]):
                yield {
                    "dataset": dataset["name"],
                    "split": dataset["split"],
                    "encoder": encoder,
                    "reducer": reducer,
                    "clusterer": clusterer,
                    "seed": seed,
                }

    def left_out_runs(self) -> dict[str, int | None]:
        """Per left-out encoder, how many runs it would have had (None: a checkpoint folder that is
        missing, whose checkpoints are unknown)."""
        series = {name for name, entry in self.given["encoders"].items() if (entry or {}).get("checkpoints")}
        known = [e for e in self.left_out or {} if e not in series]
        counts = {encoder: 0 for encoder in known}
        for run in self.runs(known):
            counts[run["encoder"]] += 1
        return {encoder: counts.get(encoder) for encoder in self.left_out or {}}

    def clusterer(self, run) -> dict:
        """The clusterer's settings for one run: its entry, then (with a protocol) the encoder's and
        the dataset's settings on top."""
        entry = self.entry("clusterers", run["clusterer"])
        if not self.protocol:
            return entry
        by_encoder = self.protocol["encoders"][run["encoder"]][run["clusterer"]]["options"]
        by_dataset = self.protocol["datasets"].get(run["dataset"], {}).get(run["clusterer"], {})
        return {**entry, **by_encoder, **by_dataset}

    def run_hash(self, run: dict) -> str:
        """Hash of everything that determines a run's result (the run's provenance key)."""
        from ..choose_k import may_choose

        clusterer = self.clusterer(run)
        if not may_choose(self, run):  # choose_k plays no part (and hashes stay those of before it existed)
            clusterer = {key: value for key, value in clusterer.items() if key != "choose_k"}
        settings = {
            "dataset": self.entry("datasets", run["dataset"]),
            "encoder": self.entry("encoders", run["encoder"]),
            "reducer": self.entry("reducers", run["reducer"]),
            "clusterer": clusterer,
            "seed": run["seed"],
            # the silhouettes' UMAP space is part of the scores (and of the hashes of earlier results)
            "metrics": {**self.settings["metrics"], "umap_reducer": self.umap_reducer},
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def metric_reducers(settings: dict) -> tuple[dict, str | None]:
    """Reductions of the workflow's own and the name of the silhouettes' UMAP-50 space: a U50
    reducer of the config if it has one, else the workflow's own (UMAP_SPACE_NAME); for the
    embedding maps, a 2-D UMAP."""
    own = {MAP_REDUCER: {**MAP_SPACE, "name": MAP_REDUCER}} if settings["outputs"]["embedding_maps"] else {}
    if not settings["metrics"]["umap_silhouette"]:
        return own, None
    for name, entry in settings["reducers"].items():
        if {k: v for k, v in entry.items() if k != "name"} == UMAP_SPACE:
            return own, name
    return {**own, UMAP_SPACE_NAME: {**UMAP_SPACE, "name": UMAP_SPACE_NAME}}, UMAP_SPACE_NAME
