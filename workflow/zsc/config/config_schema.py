"""The config's JSON schema: the top-level sections, the options every entry of a kind has, and
each registry entry's own options (declared in its registry entry).

Written to workflow/schemas/config.schema.yaml by `python -m zsc schema --write` and documented in
config/README.md by `python -m zsc docs --write`; a test keeps both in step with the code.
"""

from __future__ import annotations

import copy
import functools

from ..registry import Registry
from ..vocabulary import TRAINING

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
KINDS = ("datasets", "encoders", "reducers", "clusterers")


def registries() -> dict[str, Registry]:
    # Imported here so that `import zsc.config` alone stays light; the registries themselves only
    # import numpy at module level.
    from ..clusterers import CLUSTERERS
    from ..datasets import DATASETS
    from ..encoders import ENCODERS
    from ..reducers import REDUCERS

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
            "description": "Clusters asked of the methods given a number (K-Means, ...); null: the classes present in the "
            "split, or, without labels, each clusterer's choose_k chooses it.",
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
    "reducers": "Reductions applied to every embedding, by name (e.g. umap50, zpca95). `type` picks the "
    "registry entry (default: the name).",
    "clusterers": "Clusterers run on every reduction, by name (e.g. kmeans, ac_ward). `type` picks the registry "
    "entry (default: the name).",
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
            "batch_size": {
                "oneOf": [{"type": "integer", "minimum": 1}, {"const": "auto"}],
                "default": "auto",
                "description": "Images per forward pass; auto: 64 on a GPU, 8 on the CPU (where a few images' activations stay "
                "in its caches: faster, the same embeddings; docs/measurements.md).",
            },
            "num_workers": {
                "oneOf": [{"type": "integer", "minimum": 0}, {"const": "auto"}],
                "default": "auto",
                "description": "Image-decoding worker processes; auto: 0 on the CPU (workers would take its cores), else up to "
                "8.",
            },
            "precision": {
                "type": "string",
                "enum": ["float32", "bfloat16", "float16"],
                "default": "float32",
                "description": "Forward-pass precision (autocast); the study: float32. Embeddings are stored as float32 either "
                "way.",
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
        "description": "A hyper-parameter search (the study's, docs/study.md#33-hyper-parameter-search): per encoder and "
        "clusterer, greedy steps "
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
            "seed": {
                "type": "integer",
                "minimum": 0,
                "default": 100,
                "description": "Seed of the search's reducers and clusterers (the study: 100).",
            },
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
                "description": "Clusterers to tune (names in `clusterers`), in this order; their config entries are the "
                "starting settings.",
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
                            "items": {
                                "type": "object",
                                "minProperties": 1,
                                "additionalProperties": {"type": "array", "minItems": 1},
                            },
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
            "enabled": {
                "type": "boolean",
                "default": True,
                "description": "Compute the label-free scores (the labelfree stage).",
            },
            "agreement_seeds": {
                "type": "integer",
                "minimum": 2,
                "default": 5,
                "description": "K-Means fits (seeds seed, seed+1, ...) whose pairwise AMI/ARI give the agreement scores.",
            },
            "entropy_knn_k": {
                "type": "integer",
                "minimum": 1,
                "default": 5,
                "description": "k of the Kozachenko-Leonenko entropy estimate.",
            },
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
            "temperature": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 0.07,
                "description": "Temperature of the kNN vote weights exp(similarity / T).",
            },
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
            "seed": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Seed of the carve and of the probe's validation split.",
            },
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
                "[]: each dataset's run of best AMI (first seed).",
            },
            "reducer": {
                "type": ["string", "object", "null"],
                "additionalProperties": {"type": "string"},
                "default": None,
                "description": "Without a protocol: the reducer each clusterer is shown on wherever outputs average over "
                "clusterers or plot one point per pipeline; one reducer name for all, or clusterer -> reducer (null: the "
                "config's UMAP-50 reducer, the study's U50, where it has one, else its first reducer). Every caption says "
                "which. With a protocol each clusterer uses its tuned reducer and this must be unset.",
            },
            "clusters_shown": {
                "type": "integer",
                "minimum": 1,
                "default": 6,
                "description": "Clusters (rows) in each example-images figure.",
            },
            "images_per_cluster": {
                "type": "integer",
                "minimum": 1,
                "default": 8,
                "description": "Images per cluster in the example-images figure.",
            },
            "contact_sheet_images": {
                "type": "integer",
                "minimum": 1,
                "default": 48,
                "description": "Images on each contact sheet (one per cluster of each dataset's recommended pipeline): a seeded "
                "random sample of the cluster's images, all of them in a smaller cluster.",
            },
            "contact_sheets": {
                "type": ["integer", "null"],
                "minimum": 1,
                "default": 50,
                "description": "Contact sheets per dataset at most: the largest clusters (noise last); null: one per cluster. "
                "The per-image table lists every cluster.",
            },
            "embedding_maps": {
                "type": "boolean",
                "default": True,
                "description": "Draw a 2-D UMAP map of each (dataset, encoder), coloured by true label (one extra UMAP "
                "reduction each).",
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
        "$defs": {kind: reg.schema(COMMON_OPTIONS[kind]) for kind, reg in registries().items()},
    }


@functools.cache
def entry_schema(kind: str) -> dict:
    """The schema of one entry of `kind` (e.g. a clusterer's settings), built once per process."""
    return {"$defs": schema()["$defs"], "$ref": f"#/$defs/{kind}"}
