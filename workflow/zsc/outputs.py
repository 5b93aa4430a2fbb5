"""The study's tables and figures: a registry of outputs, each rendered from the result tables.

An output is an entry: a name, a caption (its description), its kind (table or figure), what it
needs of the config in words, a check of that (`missing(facts)` -> the reason it cannot be made, or
None), the data it reads and a function that writes it into its own folder,
results/outputs/<name>/ (a table as .csv, .md, .tex and .html; a figure as .png and .pdf). One rule
(`render`, workflow/rules/outputs.smk) renders any entry; adding a table or figure is adding an
entry (a function decorated with `output`) to zsc.study_outputs or zsc.labelfree_outputs. Every output reads results/tables/*.parquet; only the example images (manifest, images,
one clustering), the PCA spectrum (embeddings) and the 2-D maps (their 2-D UMAP reductions) read
more. Rendering never embeds, reduces or clusters.

`facts(config)` is what outputs need to know of the config (dataset groups and labels, encoder
architectures and training, the clusterers averaged, the protocol); it is computed at parse time
from the validated config alone, and reaches the render jobs through params.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import Registry

log = logging.getLogger(__name__)

OUTPUTS = Registry("outputs")
OUTPUT_DIR = "results/outputs/{name}"
# The result tables outputs read (results/tables/<name>.parquet, written by the aggregate rule).
DATA_TABLES = ("runs", "labels", "labelfree", "probes")

# The study's short dataset names (its DATASET2SH), used in table headers and figure labels.
DATASET_LABELS = {
    "imagenet": "IN1k", "imagenetv2": "INv2", "cifar10": "C10", "cifar100": "C100", "in9original": "IN9",
    "in9onlyfg": "9-FG", "in9mixedrand": "9-MR", "in9nofg": "9-FGc", "in9onlybgt": "9-BG", "in9mixedsame": "9-MS",
    "imagenet-r": "IN-R", "imagenet-sketch": "IN-S", "imagenet-o": "IN-O", "lsun": "LSU", "places365": "P365",
    "aircraft": "Air", "stanfordcars": "Cars", "flowers102": "F102", "bioscan1m": "Bio", "nabirds": "Birds",
    "inaturalist": "iNat", "celeba": "CelA", "utkface": "UTKF", "breakhis": "BHis", "dtd": "DTD", "eurosat": "ESAT",
    "mnist": "MNST", "fashionmnist": "Fash", "svhn": "SVHN", "digits": "Digits",
}  # fmt: skip
STUDY_GROUPS = ("In-domain", "Domain-shift", "Near-OOD", "Fine-grained", "Far-OOD")
# How an encoder was trained; `supervised` makes it the reference of its architecture.
TRAINING = ("supervised", "self-supervised", "fine-tuned", "random", "none", "unknown")
# Architecture names of the registry's "library:model" strings.
ARCHITECTURES = {"resnet50": "ResNet-50", "vit_b_16": "ViT-B/16", "vit_base_patch16_224": "ViT-B/16"}
# The 2-D UMAP of each embeddings behind the embedding maps (a reduction of the reduce stage).
MAP_REDUCER = "umap_2d"
MAP_SPACE = {"type": "umap", "n_components": 2, "n_neighbors": 30, "min_dist": 0.1, "metric": "euclidean"}


# ---------------------------------------------------------------------------------------------
# What the config provides


def _architecture(spec: dict, info: dict) -> str:
    if "study" in info:
        model = info["study"]["arch"].split(":", 1)[1].split(".")[0]
        return ARCHITECTURES.get(model, model)
    if spec["type"] == "raw":
        return "raw pixels"
    return ARCHITECTURES.get(spec.get("model", "").split(".")[0], spec.get("model") or spec["type"])


def _training(spec: dict, info: dict) -> str:
    if "study" in info:
        return info["study"]["training"]
    if spec["type"] == "raw":
        return "none"
    random_init = not spec.get("weights_file") and not spec.get("pretrained", True) and not spec.get("weights")
    return "random" if random_init else "unknown"


def _encoder_facts(config, name: str) -> dict:
    spec, info = config.entry("encoders", name), config.info("encoders", name)
    base = name.split("@")[0]  # a checkpoint of a series: its encoder's facts, its own label
    label = info["study"]["label"] if "study" in info else base
    own = config["outputs"]["encoders"].get(base, {})
    facts = {"label": own.get("label", label), "architecture": own.get("architecture", _architecture(spec, info))}
    facts["training"] = own.get("training", _training(spec, info))
    if "@" in name:
        facts.update(label=f"{facts['label']}@{name.split('@', 1)[1]}", series=base, checkpoint=name.split("@", 1)[1])
    return facts


def facts(config, patterns: dict[str, str] | None = None) -> dict:
    """What the outputs know of a validated config (zsc.config.Config): everything in plain data,
    so it can travel to a job as params. `patterns` (the workflow's file patterns: manifest,
    embeddings, reduced, clusters) fill in the files of the outputs that read more than tables."""
    from .config import ConfigError

    runs = list(config.runs())
    datasets = list(dict.fromkeys(run["dataset"] for run in runs))
    encoders = list(dict.fromkeys(run["encoder"] for run in runs))
    clusterers = list(dict.fromkeys(run["clusterer"] for run in runs))
    protocol = config.protocol
    paper = [c for c in ((protocol or {}).get("paper_clusterers") or []) if c in clusterers]
    out = {
        "datasets": {},
        "groups": [],
        "encoders": {name: _encoder_facts(config, name) for name in encoders},
        "clusterers": paper or clusterers,
        "all_clusterers": clusterers,
        "chooses_k": [c for c in clusterers if not config.info("clusterers", c)["uses_n_clusters"]],
        "protocol": protocol and {e: protocol["encoders"][e] for e in encoders},
        "umap_silhouette": bool(config.umap_reducer),
        "labelfree": config["labelfree"]["enabled"],
        "probes": config["probes"]["enabled"],
        "seed": config["seeds"][0],
    }
    for name in datasets:
        spec, info = config.entry("datasets", name), config.info("datasets", name)
        levels = info.get("levels")
        out["datasets"][name] = {
            "group": info["group"],
            "n_classes": info["n_classes"],
            "description": _registry_description("datasets", spec["type"]),
            "label": DATASET_LABELS.get(spec["type"], name) if spec["type"] == name else name,
            "levels": [*levels, "label"] if levels else ["label"],
            "extra_labels": bool(info.get("levels") or info.get("extra_labels")),
            "labelled": spec["type"] != "imagefolder" or not spec.get("n_clusters"),
        }
    present = {d["group"] for d in out["datasets"].values()}
    out["groups"] = [g for g in STUDY_GROUPS if g in present] + sorted(present - set(STUDY_GROUPS))
    configured = [*config["encoders"], *(config.left_out or {})]
    unknown = sorted(set(config["outputs"]["encoders"]) - {name.split("@")[0] for name in configured})
    if unknown:
        raise ConfigError(f"outputs.encoders.{unknown[0]}: not an encoder of this config ({', '.join(config['encoders'])})")
    out["examples"] = _example_choices(config, runs)
    out["maps"] = config["outputs"]["embedding_maps"]
    out["images_per_cluster"] = config["outputs"]["images_per_cluster"]
    out["clusters_shown"] = config["outputs"]["clusters_shown"]
    # the (dataset, split, encoder) embeddings, in grid order: the PCA spectra and the 2-D maps
    out["pairs"] = [list(pair) for pair in dict.fromkeys((r["dataset"], r["split"], r["encoder"]) for r in runs)]
    # what the outputs that show images need to open a dataset's images: its resolved entry and folder
    out["sources"] = {name: _source(config, name) for name in datasets}
    out["sheets"] = {"images": config["outputs"]["contact_sheet_images"], "clusters": config["outputs"]["contact_sheets"]}
    # encoders left out of the runs (if_missing: skip), with the reason and the runs they would have had
    out["left_out"] = [
        {"encoder": name, "runs": runs, "why": config.left_out[name]} for name, runs in config.left_out_runs().items()
    ]
    out["files"] = _files(out, patterns) if patterns else {}
    if patterns:  # every run's clusters (the per-image tables and contact sheets pick theirs by pattern)
        out["files"]["all_clusters"] = list(dict.fromkeys(patterns["clusters"].format(**run) for run in runs))
        out["patterns"] = {kind: patterns[kind] for kind in ("clusters", "manifest") if kind in patterns}
    out["not_produced"] = {entry.name: why for entry in OUTPUTS if (why := entry.info["missing"](out))}
    return out


def _registry_description(kind: str, type_: str) -> str:
    from .config import registries

    return registries()[kind][type_].description


def _example_choices(config, runs: list[dict]) -> list[dict]:
    """The runs whose clusters the example-images figure shows: the config's choices, or the first
    run of the first neural encoder (else the first encoder) on the first dataset."""
    from .config import ConfigError

    wanted = config["outputs"]["example_images"]
    if not wanted and runs:
        neural = [r for r in runs if config.info("encoders", r["encoder"])["neural"]]
        first = (neural or runs)[0]
        wanted = [{"dataset": first["dataset"], "encoder": first["encoder"], "clusterer": first["clusterer"]}]
    choices = []
    for i, want in enumerate(wanted):
        match = [r for r in runs if all(r[k] == want[k] for k in ("dataset", "encoder", "clusterer"))]
        if not match:
            grid = sorted({(r["dataset"], r["encoder"], r["clusterer"]) for r in runs})
            shown = f"{grid[:6]}{' ...' if len(grid) > 6 else ''}"
            raise ConfigError(
                f"outputs.example_images.{i}: {want} is not a run of this config (runs: dataset, encoder, clusterer in {shown})"
            )
        choices.append(match[0])
    return choices


def _files(facts_: dict, patterns: dict[str, str]) -> dict[str, list[str]]:
    """The non-table files some outputs read, by kind, in a fixed order."""
    pairs = [dict(zip(("dataset", "split", "encoder"), pair)) for pair in facts_["pairs"]]
    files = {
        "embeddings": [patterns["embeddings"].format(**pair) for pair in pairs],
        "clusters": [patterns["clusters"].format(**choice) for choice in facts_["examples"]],
    }
    if facts_["maps"]:
        files["maps"] = [patterns["reduced"].format(**pair, seed=facts_["seed"], reducer=MAP_REDUCER) for pair in pairs]
    if "manifest" in patterns:
        splits = dict.fromkeys((pair["dataset"], pair["split"]) for pair in pairs)
        files["manifests"] = [patterns["manifest"].format(dataset=dataset, split=split) for dataset, split in splits]
    return files


def _source(config, dataset: str) -> dict:
    from .datasets import root_of

    spec = config.entry("datasets", dataset)
    return {"spec": dict(spec), "root": str(root_of(spec))}


# ---------------------------------------------------------------------------------------------
# Availability checks: each says why an output cannot be made from this config (None: it can).


def _always(facts_):
    return None


def needs_runs(facts_):
    return None if facts_["datasets"] else "no runs in the config (a search-only config)"


# ---------------------------------------------------------------------------------------------
# The registry's machinery: what a render job has, the decorator, and the rule's helpers


@dataclass
class Data:
    """What a render job has: the result tables (read on first use), facts and extra files."""

    tables: dict[str, str]
    facts: dict
    files: dict[str, list[str]] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.tables:
            raise AttributeError(name)
        if name not in self._cache:
            import pandas as pd

            self._cache[name] = pd.read_parquet(self.tables[name])
        return self._cache[name]


def output(name: str, kind: str, caption: str, needs: str, missing=needs_runs, reads=("runs",), files=(), category=None):
    """Decorator registering a render function `fn(data: Data, out: Path)` as an output: `reads`
    names the result tables it reads (results/tables/<name>.parquet), `files` the other files
    (embeddings, maps, clusters: facts(...)["files"]); `category`: where the report lists it (default:
    Tables or Figures, by kind)."""
    assert kind in ("table", "figure")
    category = category or f"{kind.capitalize()}s"
    return OUTPUTS.add(
        name, caption, kind=kind, needs=needs, missing=missing, reads=tuple(reads), files=tuple(files), category=category
    )


def inputs(name: str, tables: dict[str, str], facts_: dict) -> dict[str, list[str]]:
    """The input files of one output's render job, by name: its tables, then its other files."""
    info = OUTPUTS[name].info
    return {**{table: [tables[table]] for table in info["reads"]}, **{kind: facts_["files"][kind] for kind in info["files"]}}


def render(name: str, tables: dict[str, str], facts_: dict, files: dict[str, list[str]], out_dir: str | Path) -> None:
    """Render one output into `out_dir` (made anew)."""
    import shutil

    out = Path(out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    OUTPUTS[name].factory(Data(dict(tables), facts_, dict(files)), out)


def list_lines() -> list[str]:
    """`python -m zsc list outputs`: name, kind, what it needs, caption."""
    return ["\t".join([e.name, e.info["kind"], e.info["needs"], e.description]) for e in OUTPUTS]


def labels_of(facts_: dict, kind: str) -> dict[str, str]:
    return {name: f["label"] for name, f in facts_[kind].items()}


def write(frame, out: Path, name: str, **kwargs):
    """A table of an output; its caption is the output's own unless given (`name` is the file's)."""
    from .render import write_table

    if name in OUTPUTS and "caption" not in kwargs:
        kwargs["caption"] = OUTPUTS[name].description
    return write_table(frame, out / name, **kwargs)


def write_csv(frame, out: Path, name: str):
    """<name>.csv of `frame` alone, at full precision (e.g. every row of a table whose other formats
    show fewer)."""
    (out / f"{name}.csv").write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")


def save(fig, out: Path, name: str, pdf: bool = True):
    import matplotlib.pyplot as plt

    from .plots import save_figure

    save_figure(fig, out / name, pdf=pdf)
    plt.close(fig)


@output(
    "outputs_index",
    "table",
    "Every output the workflow can render: whether this config produced it, and if not, why.",
    "nothing",
    _always,
    reads=(),
)
def outputs_index(data: Data, out: Path):
    import pandas as pd

    rows = [
        {
            "output": e.name,
            "kind": e.info["kind"],
            "produced": "no" if e.name in data.facts["not_produced"] else "yes",
            "why not": data.facts["not_produced"].get(e.name, ""),
            "caption": e.description,
        }
        for e in OUTPUTS
    ]
    write(pd.DataFrame(rows), out, "outputs_index", best=None, shade=False)
    if data.facts["left_out"]:
        left_out = pd.DataFrame(data.facts["left_out"], columns=["encoder", "runs", "why"]).astype({"runs": "Int64"})
        caption = "Encoders left out of this config's runs (if_missing: skip), with the reason and the runs they would have had"
        write(left_out, out, "left_out", best=None, shade=False, caption=caption)


# The entries: the study's tables and figures, then the label-free answers, then each image's cluster
# (registered on import).
from . import study_outputs  # noqa: E402, F401, I001
from . import labelfree_outputs  # noqa: E402, F401
from . import cluster_outputs  # noqa: E402, F401
