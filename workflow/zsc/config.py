"""The workflow's configuration: JSON schema, validation with one-line errors, defaults, run grid.

The schema is assembled from the registries (each entry declares its options), written to
workflow/schemas/config.schema.yaml by `python -m zsc schema --write` and documented in
config/README.md by `python -m zsc docs --write`; a test keeps both in step with the code.

Config entries are named by the user (`umap50`, `ac_ward`, ...); an entry's `type` names the
registry entry and defaults to the entry's own name, so `kmeans: {}` is a valid clusterer.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .outputs import TRAINING
from .registry import Registry

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
KINDS = ("datasets", "encoders", "reducers", "clusterers")
RUN_KEYS = ("dataset", "split", "encoder", "reducer", "clusterer", "seed")


class ConfigError(ValueError):
    """A config that cannot run; the message is one line naming the key and what is allowed."""


def registries() -> dict[str, Registry]:
    # Imported here so that `import zsc.config` alone stays light; the registries themselves only
    # import numpy at module level.
    from .clusterers import CLUSTERERS
    from .datasets import DATASETS
    from .encoders import ENCODERS
    from .reducers import REDUCERS

    return {"datasets": DATASETS, "encoders": ENCODERS, "reducers": REDUCERS, "clusterers": CLUSTERERS}


# Options every entry of a kind has, whatever its type.
COMMON_OPTIONS = {
    "datasets": {
        "max_samples": {
            "type": ["integer", "null"],
            "minimum": 2,
            "default": None,
            "description": "Cluster a stratified, seeded subsample of at most this many samples (null: all).",
        },
        "subsample_seed": {"type": "integer", "default": 0, "description": "Seed of the max_samples subsample."},
        "root": {
            "type": ["string", "null"],
            "default": None,
            "description": "Folder of the dataset's files (null: resources/datasets/<type>); required for imagefolder.",
        },
        "n_clusters": {
            "type": ["integer", "null"],
            "minimum": 1,
            "default": None,
            "description": "Clusters asked of the methods given a number (K-Means, ...); null: the classes present in the split. Needed without labels.",
        },
        "probe_split": {
            "type": ["string", "null"],
            "default": None,
            "description": "Where the kNN and linear probes train: a split of the dataset (embedded too), `carve` (a stratified, "
            "seeded part of the clustered split; the rest are the queries) or `none`; null: `train` if the dataset has one, "
            "`carve` for digits and image folders, else none (the study skips ImageNet-R/-Sketch/-O and ImageNet-v2).",
        },
        "probe_max_samples": {
            "type": ["integer", "null"],
            "minimum": 2,
            "default": 10000,
            "description": "Embed a stratified, seeded subsample of at most this many images of the probe split (null: all).",
        },
    },
    "encoders": {},
    "reducers": {},
    "clusterers": {},
}

KIND_DESCRIPTIONS = {
    "datasets": "Datasets to cluster, by name. `type` picks the registry entry (default: the name).",
    "encoders": "Encoders that embed every dataset, by name. `type` picks the registry entry (default: the name).",
    "reducers": "Reductions applied to every embedding, by name (e.g. umap50, zpca95). `type` picks the registry entry (default: the name).",
    "clusterers": "Clusterers run on every reduction, by name (e.g. kmeans, ac_ward). `type` picks the registry entry (default: the name).",
}

TOP_LEVEL = {
    "protocol": {
        "type": ["string", "null"],
        "default": None,
        "description": "A params file (e.g. config/params/v5.0.yaml, the study's tuned settings) naming the reducers "
        "and clusterers and, per encoder and clusterer, the reducer and settings to run; null: the full grid of "
        "reducers x clusterers below.",
    },
    "seeds": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0},
        "minItems": 1,
        "uniqueItems": True,
        "default": [1],
        "description": "Seeds of the reducers and clusterers; every run is repeated per seed (the study's test runs: 1).",
    },
    "limits": {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "Resource limits.",
        "properties": {
            "memory_gb": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "default": None,
                "description": "Memory a clusterer may plan to use (GiB). One whose estimate for N points is larger "
                "(Affinity Propagation and agglomerative grow as N^2) is not started; its row is recorded as skipped "
                "with the reason. null: 90% of the memory of the machine running the job.",
            }
        },
    },
    "embedding": {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "How embeddings are computed.",
        "properties": {
            "device": {
                "type": "string",
                "pattern": "^(auto|cpu|cuda(:[0-9]+)?)$",
                "default": "auto",
                "description": "auto (CUDA when present, else CPU), cpu, cuda or cuda:N.",
            },
            "batch_size": {"type": "integer", "minimum": 1, "default": 64, "description": "Images per forward pass."},
            "num_workers": {
                "oneOf": [{"type": "integer", "minimum": 0}, {"const": "auto"}],
                "default": "auto",
                "description": "Image-decoding worker processes; auto: 0 on the CPU (workers would take its cores), else up to 8.",
            },
            "precision": {
                "type": "string",
                "enum": ["float32", "bfloat16", "float16"],
                "default": "float32",
                "description": "Forward-pass precision (autocast); the study: float32. Embeddings are stored as float32 either way.",
            },
            "channels_last": {
                "type": "boolean",
                "default": True,
                "description": "Channels-last memory layout on CUDA (faster convolutions); ignored on the CPU.",
            },
        },
    },
    "search": {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["datasets", "clusterers"],
        "default": None,
        "description": "A hyper-parameter search (the study's, STUDY.md 3.3): per encoder and clusterer, greedy steps "
        "over grids of settings, each keeping the candidate with the best weighted mean AMI on the search datasets. "
        "Writes results/search/params.yaml, a params file in the format of config/params/v5.0.yaml that a later "
        "config names as its `protocol`. null: no search.",
        "properties": {
            "datasets": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                "description": "Datasets searched on (names in `datasets`, e.g. a val split) and each one's weight in the "
                "objective (the study: ImageNet 2, Imagenette 1, Imagewoof 1). They are not part of the run grid.",
            },
            "seed": {"type": "integer", "minimum": 0, "default": 100, "description": "Seed of the search's reducers and clusterers (the study: 100)."},
            "reducers": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "default": None,
                "description": "Candidates of the reduction step (names in `reducers`); null: every reducer of the config.",
            },
            "version": {"type": "string", "default": "search", "description": "The `version` written into the params file."},
            "clusterers": {
                "type": "object",
                "minProperties": 1,
                "description": "Clusterers to tune (names in `clusterers`), in this order; their config entries are the starting settings.",
                "additionalProperties": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        "after": {
                            "type": ["string", "null"],
                            "default": None,
                            "description": "Start from this (earlier) clusterer's result: its reducer and the settings both "
                            "clusterers have, with no reduction step (the study's AC w/o C starts from AC w/ C).",
                        },
                        "reducers": {
                            "type": ["array", "null"],
                            "items": {"type": "string"},
                            "default": None,
                            "description": "This clusterer's reduction candidates; null: search.reducers.",
                        },
                        "steps": {
                            "type": "array",
                            "default": [],
                            "items": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "array", "minItems": 1}},
                            "description": "Greedy steps, in order: each maps settings to candidate values; every combination is "
                            "tried and the best is kept for the next step (ties: the first listed). `reducer` may be one of "
                            "the settings; without it (and without `after`) a reduction step comes first.",
                        },
                        "skip_datasets": {
                            "type": "array",
                            "items": {"type": "string"},
                            "default": [],
                            "description": "Search datasets this clusterer is not scored on (the study: Affinity Propagation and "
                            "Spectral skip ImageNet, too large for them).",
                        },
                    },
                },
            },
        },
    },
    "labelfree": {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "Label-free scores per (dataset, split, encoder, seed): K-Means agreement across seeds, agreement "
        "between the clusterers, embedding entropies (zsc.labelfree; docs/labelfree.md). They never read a label.",
        "properties": {
            "enabled": {"type": "boolean", "default": True, "description": "Compute the label-free scores (the labelfree stage)."},
            "agreement_seeds": {
                "type": "integer",
                "minimum": 2,
                "default": 5,
                "description": "K-Means fits (seeds seed, seed+1, ...) whose pairwise AMI/ARI give the agreement scores.",
            },
            "entropy_knn_k": {"type": "integer", "minimum": 1, "default": 5, "description": "k of the Kozachenko-Leonenko entropy estimate."},
            "entropy_max_samples": {
                "type": ["integer", "null"],
                "minimum": 10,
                "default": 5000,
                "description": "The k-NN entropy on a seeded subsample of this many points (null: all; exact k-NN search).",
            },
        },
    },
    "probes": {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "Labelled references per (dataset, encoder): DINO's weighted kNN and a linear probe, trained on the "
        "dataset's probe split (datasets' probe_split) and scored on the clustered split.",
        "properties": {
            "enabled": {"type": "boolean", "default": True, "description": "Compute the probes (the probes stage)."},
            "knn_k": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "minItems": 1,
                "default": [1, 10, 20, 100, 200],
                "description": "Neighbours of the weighted kNN classifier (the study: 1, 10, 20, 100, 200).",
            },
            "temperature": {"type": "number", "exclusiveMinimum": 0, "default": 0.07, "description": "Temperature of the kNN vote weights exp(similarity / T)."},
            "Cs": {
                "type": "array",
                "items": {"type": "number", "exclusiveMinimum": 0},
                "minItems": 1,
                "default": [0.01, 0.1, 1, 10, 100],
                "description": "Inverse regularisation strengths tried by the linear probe (logistic regression).",
            },
            "val_fraction": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "default": 0.2,
                "description": "Stratified part of the probe-train data held out to choose C.",
            },
            "carve_fraction": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "default": 0.5,
                "description": "With probe_split `carve`: the part of the clustered split the probes train on.",
            },
            "seed": {"type": "integer", "minimum": 0, "default": 0, "description": "Seed of the carve and of the probe's validation split."},
        },
    },
    "outputs": {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "The study's tables and figures (`python -m zsc list outputs`): how they name and show things.",
        "properties": {
            "encoders": {
                "type": "object",
                "default": {},
                "description": "Per encoder (its name in `encoders`): how tables and figures show it; the study's encoders "
                "know theirs. Needed for the comparisons with the supervised encoder of the same architecture.",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "label": {"type": "string", "description": "Display name (default: the study's, else the entry's name)."},
                        "architecture": {
                            "type": "string",
                            "description": "Architecture group, e.g. ResNet-50 or ViT-B/16 (default: from the model name).",
                        },
                        "training": {
                            "enum": list(TRAINING),
                            "description": "How it was trained; `supervised` makes it its architecture's reference (default: "
                            "the study's; random for a random-init model; else unknown).",
                        },
                    },
                },
            },
            "example_images": {
                "type": "array",
                "default": [],
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["dataset", "encoder", "clusterer"],
                    "properties": {
                        "dataset": {"type": "string"},
                        "encoder": {"type": "string"},
                        "clusterer": {"type": "string"},
                    },
                },
                "description": "Runs (dataset, encoder, clusterer) whose predicted clusters the example-images figure shows; "
                "[]: the first run of the first neural encoder.",
            },
            "clusters_shown": {"type": "integer", "minimum": 1, "default": 6, "description": "Clusters (rows) in each example-images figure."},
            "images_per_cluster": {"type": "integer", "minimum": 1, "default": 8, "description": "Images per cluster in the example-images figure."},
            "embedding_maps": {
                "type": "boolean",
                "default": True,
                "description": "Draw a 2-D UMAP map of each (dataset, encoder), coloured by true label (one extra UMAP reduction each).",
            },
        },
    },
    "metrics": {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "How runs are scored.",
        "properties": {
            "silhouette_max_samples": {
                "type": ["integer", "null"],
                "minimum": 2,
                "default": None,
                "description": "Compute silhouettes on a seeded subsample of this many points (null: exact, O(N^2)).",
            },
            "umap_silhouette": {
                "type": "boolean",
                "default": True,
                "description": "Also score every run's silhouettes in one UMAP-50 space (n_neighbors 30, min_dist 0) per "
                "embeddings and seed, shared by all runs: a U50 reducer's own space when the config has one.",
            },
        },
    },
}


def _entry_schema(kind: str, registry: Registry) -> dict:
    branches = []
    for entry in registry:
        then = {"properties": entry.options, "required": entry.required()}
        if "schema" in entry.info:  # cross-option rules, e.g. ward linkage needs euclidean
            then = {"allOf": [then, entry.info["schema"]]}
        branches.append({"if": {"properties": {"type": {"const": entry.name}}}, "then": then})
    return {
        "type": "object",
        "properties": {
            "type": {"enum": registry.names(), "description": f"Registry entry ({'; '.join(registry.names())})."},
            **COMMON_OPTIONS[kind],
        },
        "required": ["type"],
        "allOf": branches,
        "unevaluatedProperties": False,
    }


def schema() -> dict:
    props = copy.deepcopy(TOP_LEVEL)
    for kind, registry in registries().items():
        props[kind] = {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {"$ref": f"#/$defs/{kind}"},
            "description": KIND_DESCRIPTIONS[kind],
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "zsc workflow configuration",
        "type": "object",
        "properties": props,
        "required": ["datasets", "encoders"],  # reducers and clusterers: here or from the protocol
        "additionalProperties": False,
        "$defs": {kind: _entry_schema(kind, reg) for kind, reg in registries().items()},
    }


@functools.cache
def entry_schema(kind: str) -> dict:
    """The schema of one entry of `kind` (e.g. a clusterer's settings), built once per process."""
    return {"$defs": schema()["$defs"], "$ref": f"#/$defs/{kind}"}


def _path(error, prefix: str = "") -> str:
    return ".".join([prefix] * bool(prefix) + [str(p) for p in error.absolute_path]) or "(top level)"


def validate(config: dict, schema_: dict | None = None, prefix: str = "") -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema_ or schema())
    errors = list(validator.iter_errors(config))
    # A bad value inside a type's options also leaves its key "unevaluated"; name the bad value.
    specific = [e for e in errors if e.validator != "unevaluatedProperties"]
    error = jsonschema.exceptions.best_match(specific or errors)
    if error is not None:
        # Cross-option rules carry their reason as the failing subschema's description.
        why = error.schema.get("description") if error.validator == "const" and isinstance(error.schema, dict) else None
        raise ConfigError(f"{_path(error, prefix)}: {error.message}" + (f" ({why})" if why else ""))


def _with_types(config: dict) -> dict:
    config = copy.deepcopy(config)
    for kind in KINDS:
        entries = config.get(kind)
        if isinstance(entries, dict):
            for name, entry in list(entries.items()):
                entries[name] = {"type": name, **(entry or {})} if isinstance(entry, (dict, type(None))) else entry
    return config


def _fill_defaults(config: dict) -> dict:
    for key, prop in TOP_LEVEL.items():
        value = config.setdefault(key, copy.deepcopy(prop["default"]))
        if prop["type"] == "object":
            for sub, subprop in prop["properties"].items():
                value.setdefault(sub, subprop["default"])
    for kind, registry in registries().items():
        common = {k: p["default"] for k, p in COMMON_OPTIONS[kind].items()}
        for name, entry in config[kind].items():
            config[kind][name] = {**common, **registry[entry["type"]].defaults(), **entry}
    return config


@dataclass(frozen=True)
class Config:
    """A validated config with every default filled in; each entry carries its `name`."""

    raw: dict

    def __getitem__(self, key):
        return self.raw[key]

    def entry(self, kind: str, name: str) -> dict:
        return self.raw[kind][name] if name in self.raw[kind] else self.raw["_metric_reducers"][name]

    def info(self, kind: str, name: str) -> dict:
        """Facts of the registry entry behind a config entry (a dataset's group, ...)."""
        return registries()[kind][self.entry(kind, name)["type"]].info

    def runs(self) -> Iterator[dict]:
        """Every (dataset, split, encoder, reducer, clusterer, seed) to run, in a stable order: the
        full grid, or with a protocol each encoder's clusterers on their own reducers."""
        protocol = self.raw["_protocol"]
        searched = (self.raw["search"] or {}).get("datasets", {})
        tested = [dataset for dataset in self.raw["datasets"].values() if dataset["name"] not in searched]
        for dataset, encoder in itertools.product(tested, self.raw["encoders"]):
            if protocol:
                pairs = [(s["reducer"], clusterer) for clusterer, s in protocol["encoders"][encoder].items()]
            else:
                pairs = list(itertools.product(self.raw["reducers"], self.raw["clusterers"]))
            for (reducer, clusterer), seed in itertools.product(pairs, self.raw["seeds"]):
                yield {
                    "dataset": dataset["name"],
                    "split": dataset["split"],
                    "encoder": encoder,
                    "reducer": reducer,
                    "clusterer": clusterer,
                    "seed": seed,
                }

    def clusterer(self, run) -> dict:
        """The clusterer's settings for one run: its entry, then (with a protocol) the encoder's and
        the dataset's settings on top."""
        entry = self.entry("clusterers", run["clusterer"])
        protocol = self.raw["_protocol"]
        if not protocol:
            return entry
        by_encoder = protocol["encoders"][run["encoder"]][run["clusterer"]]["options"]
        by_dataset = protocol["datasets"].get(run["dataset"], {}).get(run["clusterer"], {})
        return {**entry, **by_encoder, **by_dataset}

    def run_hash(self, run: dict) -> str:
        """Hash of everything that determines a run's result (the run's provenance key)."""
        settings = {
            "dataset": self.entry("datasets", run["dataset"]),
            "encoder": self.entry("encoders", run["encoder"]),
            "reducer": self.entry("reducers", run["reducer"]),
            "clusterer": self.clusterer(run),
            "seed": run["seed"],
            "metrics": self.raw["metrics"],
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def load(config: dict, search: tuple = ()) -> Config:
    """Validate a config as loaded from YAML and fill in its defaults; raises ConfigError.
    A relative protocol path is looked up in the working folder, then in each `search` folder."""
    if not isinstance(config, dict) or not config:
        raise ConfigError("(top level): the config is empty; pass --configfile or use config/config.yaml")
    full_schema = schema()
    protocol = None
    if config.get("protocol"):
        if not isinstance(config["protocol"], str):
            raise ConfigError(f"protocol: {config['protocol']!r} is not of type 'string'")
        found = [p for p in (Path(config["protocol"]), *(Path(d) / config["protocol"] for d in search)) if p.is_file()]
        protocol = _read_protocol(str(found[0]) if found else config["protocol"])
        for kind in ("reducers", "clusterers"):
            if kind in config:
                raise ConfigError(f"{kind}: the protocol {config['protocol']} names the {kind}; leave them out of the config")
            config = {**config, kind: copy.deepcopy(protocol[kind])}
    else:
        for kind in ("reducers", "clusterers"):
            if kind not in config:
                raise ConfigError(f"(top level): '{kind}' is a required property (or name a protocol)")
    config = _with_types(config)
    validate(config, full_schema)
    config = _fill_defaults(config)
    validate(config, full_schema)  # cross-option rules see the defaults too
    config["encoders"] = _expand_checkpoint_series(config["encoders"])
    config["_protocol"] = _resolve_protocol(protocol, config) if protocol else None
    config["_metric_reducers"] = _metric_reducers(config)
    for kind in KINDS:
        for name, entry in config[kind].items():
            entry["name"] = name
    config["search"] = _resolve_search(config)
    return Config(config)


def _resolve_search(config: dict) -> dict | None:
    """The search section with its defaults, every name it uses checked and every candidate setting
    validated against its clusterer's schema (so a bad grid stops at parse time, not mid-search)."""
    search = copy.deepcopy(config.get("search"))
    if not search:
        return None
    props = TOP_LEVEL["search"]["properties"]
    search = {**{k: p["default"] for k, p in props.items() if "default" in p}, **search}

    def known(kind, names, where):
        for name in names:
            if name not in config[kind]:
                raise ConfigError(f"{where}: {name!r} is not one of the config's {kind} {list(config[kind])}")

    known("datasets", search["datasets"], "search.datasets")
    search["reducers"] = search["reducers"] or list(config["reducers"])
    known("reducers", search["reducers"], "search.reducers")
    known("clusterers", search["clusterers"], "search.clusterers")
    clusterer_props = props["clusterers"]["additionalProperties"]["properties"]
    done = []
    for name, plan in list(search["clusterers"].items()):
        where = f"search.clusterers.{name}"
        plan = {**{k: copy.deepcopy(p["default"]) for k, p in clusterer_props.items()}, **(plan or {})}
        if plan["after"] is not None and plan["after"] not in done:
            raise ConfigError(f"{where}.after: {plan['after']!r} is not a clusterer searched before it {done}")
        plan["reducers"] = plan["reducers"] or search["reducers"]
        known("reducers", plan["reducers"], f"{where}.reducers")
        known("datasets", plan["skip_datasets"], f"{where}.skip_datasets")
        if not set(search["datasets"]) - set(plan["skip_datasets"]):
            raise ConfigError(f"{where}.skip_datasets: skips every search dataset")
        for i, grid in enumerate(plan["steps"]):
            known("reducers", grid.get("reducer", []), f"{where}.steps.{i}.reducer")
            # each value must be valid for its setting; combinations that break a cross-option rule (ward
            # with l1, ...) are skipped during the search and listed in its trace
            options = registries()["clusterers"][config["clusterers"][name]["type"]].options
            for key, values in grid.items():
                if key == "reducer":
                    continue
                if key not in options:
                    raise ConfigError(f"{where}.steps.{i}: {key!r} is not a setting of {name} (it has: {', '.join(options)})")
                for value in values:
                    validate(value, options[key], f"{where}.steps.{i}.{key}")
        search["clusterers"][name] = plan
        done.append(name)
    return search


UMAP_SPACE = {"type": "umap", "n_components": 50, "n_neighbors": 30, "min_dist": 0.0, "metric": "euclidean"}


def _metric_reducers(config: dict) -> dict:
    """Reductions of the workflow's own: the UMAP-50 space of the silhouettes (a U50 reducer of the
    config if it has one) and, for the embedding maps, a 2-D UMAP."""
    from .outputs import MAP_REDUCER, MAP_SPACE

    own = {MAP_REDUCER: {**MAP_SPACE, "name": MAP_REDUCER}} if config["outputs"]["embedding_maps"] else {}
    config["metrics"]["umap_reducer"] = None
    if not config["metrics"]["umap_silhouette"]:
        return own
    for name, entry in config["reducers"].items():
        if entry == UMAP_SPACE:
            config["metrics"]["umap_reducer"] = name
            return own
    config["metrics"]["umap_reducer"] = "umap_space"
    return {**own, "umap_space": {**UMAP_SPACE, "name": "umap_space"}}


def _read_protocol(path: str) -> dict:
    import yaml

    try:
        params = yaml.safe_load(open(path))
    except OSError as err:
        raise ConfigError(f"protocol: cannot read {path} ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"protocol: {path} is not valid YAML ({str(err).splitlines()[0]})") from None
    missing = [key for key in ("reducers", "clusterers", "encoders") if not isinstance(params, dict) or key not in params]
    if missing:
        raise ConfigError(f"protocol: {path} has no {', '.join(missing)}")
    return params


def _resolve_protocol(params: dict, config: dict) -> dict:
    """Per encoder and clusterer: the reducer and the merged settings, each checked against the
    clusterer's schema; per dataset: settings on top (e.g. HDBSCAN's min_cluster_size)."""
    path = config["protocol"]
    datasets = params.get("datasets") or {}
    table = {"encoders": {}, "datasets": {}, "paper_clusterers": params.get("paper_clusterers", []), "version": params.get("version")}
    for encoder, spec in config["encoders"].items():
        base = encoder.split("@")[0]  # a checkpoint series shares its encoder's settings
        settings = params["encoders"].get(base) or params["encoders"].get(spec["type"])
        if settings is None:
            known = ", ".join(params["encoders"])
            raise ConfigError(f"encoders.{encoder}: the protocol {path} has no settings for it (it has: {known})")
        table["encoders"][encoder] = {}
        for clusterer, setting in settings.items():
            where = f"protocol {path}: encoders.{base}.{clusterer}"
            if clusterer not in config["clusterers"]:
                raise ConfigError(f"{where}: {clusterer!r} is not one of the protocol's clusterers {list(config['clusterers'])}")
            setting = dict(setting or {})
            reducer = setting.pop("reducer", None)
            if reducer not in config["reducers"]:
                raise ConfigError(f"{where}.reducer: {reducer!r} is not one of the protocol's reducers {list(config['reducers'])}")
            entry = {**config["clusterers"][clusterer], **setting}
            validate(entry, entry_schema("clusterers"), where)
            table["encoders"][encoder][clusterer] = {"reducer": reducer, "options": setting}
    for name, spec in config["datasets"].items():
        overrides = datasets.get(name) or datasets.get(spec["type"]) or {}
        for clusterer, setting in overrides.items():
            for encoder in table["encoders"]:
                if clusterer in table["encoders"][encoder]:
                    entry = {**config["clusterers"][clusterer], **table["encoders"][encoder][clusterer]["options"], **setting}
                    validate(entry, entry_schema("clusterers"), f"protocol {path}: datasets.{name}.{clusterer}")
        table["datasets"][name] = overrides
    return table


def _expand_checkpoint_series(encoders: dict) -> dict:
    """An encoder with `checkpoints: {label: file}` becomes one encoder per file, <name>@<label>."""
    out = {}
    for name, entry in encoders.items():
        series = entry.get("checkpoints") or {}
        if not series:
            out[name] = entry
        for label, path in series.items():
            out[f"{name}@{label}"] = {**entry, "checkpoints": {}, "weights_file": path}
    return out
