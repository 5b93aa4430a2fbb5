"""The study's tables and figures: a registry of outputs, each rendered from the result tables.

An output is an entry: a name, a caption (its description), its kind (table or figure), what it
needs of the config in words, a check of that (`missing(facts)` -> the reason it cannot be made, or
None), the data it reads and a function that writes it into its own folder,
results/outputs/<name>/ (a table as .csv, .md, .tex and .html; a figure as .png and .pdf). One rule
(`render`, workflow/rules/outputs.smk) renders any entry; adding a table or figure is adding an
entry here. Every output reads results/tables/*.parquet; only the example images (manifest, images,
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
    protocol = config["_protocol"]
    paper = [c for c in ((protocol or {}).get("paper_clusterers") or []) if c in clusterers]
    out = {
        "datasets": {},
        "groups": [],
        "encoders": {name: _encoder_facts(config, name) for name in encoders},
        "clusterers": paper or clusterers,
        "all_clusterers": clusterers,
        "chooses_k": [c for c in clusterers if not config.info("clusterers", c)["uses_n_clusters"]],
        "protocol": protocol and {e: protocol["encoders"][e] for e in encoders},
        "umap_silhouette": bool(config["metrics"]["umap_reducer"]),
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
    unknown = sorted(set(config["outputs"]["encoders"]) - {name.split("@")[0] for name in config["encoders"]})
    if unknown:
        raise ConfigError(f"outputs.encoders.{unknown[0]}: not an encoder of this config ({', '.join(config['encoders'])})")
    out["examples"] = _example_choices(config, runs)
    out["maps"] = config["outputs"]["embedding_maps"]
    out["images_per_cluster"] = config["outputs"]["images_per_cluster"]
    out["clusters_shown"] = config["outputs"]["clusters_shown"]
    # the (dataset, split, encoder) embeddings, in grid order: the PCA spectra and the 2-D maps
    out["pairs"] = [list(pair) for pair in dict.fromkeys((r["dataset"], r["split"], r["encoder"]) for r in runs)]
    # what the example images need to open a dataset's images: its resolved entry and folder
    out["sources"] = {c["dataset"]: _source(config, c["dataset"]) for c in out["examples"]}
    out["files"] = _files(out, patterns) if patterns else {}
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
    return files


def _source(config, dataset: str) -> dict:
    from .datasets import root_of

    spec = config.entry("datasets", dataset)
    return {"spec": dict(spec), "root": str(root_of(spec))}


# ---------------------------------------------------------------------------------------------
# Availability checks: each says why an output cannot be made from this config (None: it can).


def _always(facts_):
    return None


def _needs_runs(facts_):
    return None if facts_["datasets"] else "no runs in the config (a search-only config)"


def _needs_supervised_pair(facts_):
    archs = {}
    for e in facts_["encoders"].values():
        archs.setdefault(e["architecture"], []).append(e["training"])
    if any("supervised" in t and len(t) > 1 for t in archs.values()):
        return None
    return "needs a supervised encoder and another encoder of the same architecture (e.g. resnet50 and dino_resnet50)"


def _needs_clusterers(n):
    def check(facts_):
        return None if len(facts_["clusterers"]) >= n else f"needs at least {n} clusterers"

    return check


def _needs_ranked_pairs(facts_):
    if len(facts_["clusterers"]) < 2:
        return "needs at least 2 clusterers"
    if not any(e["training"] in ("supervised", "self-supervised") for e in facts_["encoders"].values()):
        return "needs a supervised or self-supervised encoder (random-init, raw and fine-tuned encoders are not ranked, as in the study)"
    return None


def _needs_chooses_k(facts_):
    return (
        None
        if facts_["chooses_k"]
        else "needs a clusterer that finds the number of clusters (AC without C, Affinity Propagation, HDBSCAN)"
    )


def _needs_protocol(facts_):
    return None if facts_["protocol"] else "needs a protocol (a params file such as config/params/v5.0.yaml)"


def _needs_umap_space(facts_):
    return None if facts_["umap_silhouette"] else "needs metrics.umap_silhouette: true"


def _needs_in9(facts_):
    present = [d for d in facts_["datasets"] if d.startswith("in9")]
    return None if len(present) >= 2 else "needs two or more ImageNet-9 variants (in9original, in9mixedsame, in9mixedrand, ...)"


def _needs_levels(facts_):
    if any(d["extra_labels"] for d in facts_["datasets"].values()):
        return None
    return "needs a dataset with extra label levels (iNaturalist or BIOSCAN taxonomy, CelebA attributes, UTKFace, ImageNet-R, Aircraft, BreakHis)"


def _needs_taxonomy(facts_):
    if any(len(d["levels"]) > 1 for d in facts_["datasets"].values()):
        return None
    return "needs a dataset with a label hierarchy (iNaturalist or BIOSCAN-1M, or FGVC-Aircraft)"


def _needs_maps(facts_):
    if not facts_["maps"]:
        return "outputs.embedding_maps is false"
    return _needs_runs(facts_)


def _needs_labels_and_runs(facts_):
    if not any(d["labelled"] for d in facts_["datasets"].values()):
        return "needs a labelled dataset"
    return _needs_runs(facts_)


# ---------------------------------------------------------------------------------------------
# The entries


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


def output(name: str, kind: str, caption: str, needs: str, missing=_needs_runs, reads=("runs",), files=()):
    """Decorator registering a render function `fn(data: Data, out: Path)` as an output: `reads`
    names the result tables it reads (results/tables/<name>.parquet), `files` the other files
    (embeddings, maps, clusters: facts(...)["files"])."""
    assert kind in ("table", "figure")
    return OUTPUTS.add(name, caption, kind=kind, needs=needs, missing=missing, reads=tuple(reads), files=tuple(files))


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


def _labels(facts_: dict, kind: str) -> dict[str, str]:
    return {name: f["label"] for name, f in facts_[kind].items()}


def _write(frame, out: Path, name: str, **kwargs):
    from .render import write_table

    return write_table(frame, out / name, **kwargs)


def _save(fig, out: Path, name: str):
    import matplotlib.pyplot as plt

    from .plots import save_figure

    save_figure(fig, out / name)
    plt.close(fig)


def _skipped_notes(runs) -> list[str]:
    if "skipped" not in runs:
        return []
    skipped = runs[runs["skipped"].fillna("").astype(str) != ""]
    return [f"skipped: {r.dataset} / {r.encoder} / {r.clusterer} (seed {r.seed}): {r.skipped}" for r in skipped.itertuples()]


def _drop_notes(drops) -> list[str]:
    return [
        f"dropped for every encoder: {r.clusterer} on {r.dataset} (missing for {r.encoders}: {r.reason})"
        for r in drops.itertuples()
    ]


@output(
    "main_ami",
    "table",
    "AMI x 100 per encoder (rows, by architecture; [FT] fine-tuned) and dataset (columns, by domain group, with each "
    "group's mean), averaged over the clusterers the study's way (6c-avg): the median over duplicate runs, a clusterer x "
    "dataset cell missing for any encoder dropped for all encoders (listed under the table), then the mean over "
    "clusterers. Best per column bold, second underlined; shading from the column's median to its maximum.",
    "runs",
)
def main_ami(data: Data, out: Path):
    from . import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    notes = _drop_notes(drops) + _skipped_notes(data.runs)
    _write(study.main_table(avg, data.facts), out, "main_ami", notes=notes, caption=OUTPUTS["main_ami"].description)


@output(
    "ami_per_clusterer",
    "table",
    "AMI x 100 per encoder and dataset for each clusterer on its own (median over seeds), one table per clusterer; "
    "best per column bold, second underlined.",
    "runs",
)
def ami_per_clusterer(data: Data, out: Path):
    from . import study

    for clusterer in data.facts["all_clusterers"]:
        runs = data.runs[data.runs["clusterer"] == clusterer]
        table = study.per_clusterer_table(data.runs, data.facts, clusterer)
        _write(table, out, f"ami_{clusterer}", notes=_skipped_notes(runs), caption=f"AMI x 100, {clusterer}")


@output(
    "n_clusters",
    "table",
    "Number of clusters predicted (median over seeds) by each clusterer that finds it itself, per encoder and dataset, "
    "with the true number in the last row; cells coloured by log10(predicted / true): orange too many, purple too few.",
    "a clusterer that finds the number of clusters (AC without C, Affinity Propagation, HDBSCAN)",
    _needs_chooses_k,
)
def n_clusters(data: Data, out: Path):
    import pandas as pd

    from . import study

    for clusterer in data.facts["chooses_k"]:
        pred, true = study.n_clusters_table(data.runs, data.facts, clusterer)
        ratio = study.log_ratio(pred, true)
        table = pd.concat([pred, true.to_frame("true").T])
        colour = pd.concat([ratio, pd.DataFrame(0.0, index=["true"], columns=ratio.columns)])
        _write(
            table, out, f"n_clusters_{clusterer}", best=None, colour=colour, caption=f"Clusters predicted vs true, {clusterer}"
        )


@output(
    "hyperparameters",
    "table",
    "The protocol's pipeline per encoder (rows) and clusterer (columns): the reducer, then the clusterer's settings.",
    "a protocol (params file)",
    _needs_protocol,
)
def hyperparameters(data: Data, out: Path):
    from . import study

    _write(
        study.hyperparameter_table(data.facts),
        out,
        "hyperparameters",
        best=None,
        shade=False,
        caption=OUTPUTS["hyperparameters"].description,
    )


@output(
    "silhouettes",
    "table",
    "Silhouette x 100 (Euclidean) of the predicted labels in the original embedding space (og) and in the shared UMAP-50 "
    "space (umap), averaged over the clusterers, and of the true labels in the UMAP-50 space (umap_true).",
    "metrics.umap_silhouette (on by default)",
    _needs_umap_space,
)
def silhouettes(data: Data, out: Path):
    from . import study

    for space, table in study.silhouette_tables(data.runs, data.facts).items():
        _write(table, out, f"silhouette_{space}", caption=f"Silhouette x 100, {space}")


@output(
    "in9_backgrounds",
    "table",
    "ImageNet-9 Backgrounds Challenge: clusterer-averaged AMI x 100 on each variant present (OG original, FG only "
    "foreground, FG^C no foreground, BG only background, MS mixed-same, MR mixed-rand) and Gap = MS - MR.",
    "two or more ImageNet-9 variants",
    _needs_in9,
)
def in9_backgrounds(data: Data, out: Path):
    from . import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    _write(
        study.in9_table(avg, data.facts),
        out,
        "in9_backgrounds",
        notes=_drop_notes(drops),
        caption=OUTPUTS["in9_backgrounds"].description,
    )


@output(
    "label_levels",
    "table",
    "AMI x 100 of the same predicted clusters against every label level the embeddings carry (taxonomy levels, "
    "attributes, ...), averaged over the clusterers; one table per dataset with extra labels.",
    "a dataset with extra label levels (iNaturalist, BIOSCAN-1M, CelebA, UTKFace, ImageNet-R, Aircraft, BreakHis)",
    _needs_levels,
    reads=("labels",),
)
def label_levels(data: Data, out: Path):
    from . import study

    levels = study.label_levels(data.labels, data.facts)
    order = list(data.facts["encoders"])
    for dataset, rows in levels.groupby("dataset", sort=False):
        table = rows.pivot_table(index="encoder", columns=["level_index", "level"], values="AMI", sort=True)
        table.columns = [level for _, level in table.columns]
        table = table.loc[[e for e in order if e in table.index]]
        table.index = study.encoder_index(data.facts, table.index)
        _write(table, out, f"label_levels_{dataset}", caption=f"AMI x 100 against each label level, {dataset}")


@output("datasets", "table", "The datasets clustered: domain group, classes, samples clustered and source.", "runs")
def datasets(data: Data, out: Path):
    from . import study

    _write(
        study.dataset_table(data.runs, data.facts),
        out,
        "datasets",
        best=None,
        shade=False,
        caption=OUTPUTS["datasets"].description,
    )


@output(
    "delta_vs_supervised",
    "table",
    "Per architecture and domain group: each encoder's clusterer-averaged AMI minus the supervised (X-Ent.) encoder's "
    "of the same architecture, in percentage points over the group's datasets: mean, std, n, and a paired t-test "
    "(scipy.stats.ttest_rel; t and p).",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def delta_vs_supervised(data: Data, out: Path):
    from . import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    table = study.delta_vs_supervised(avg, data.facts)
    _write(
        table,
        out,
        "delta_vs_supervised",
        best=None,
        shade=False,
        digits=3,
        notes=_drop_notes(drops),
        caption=OUTPUTS["delta_vs_supervised"].description,
    )


@output(
    "encoder_ranks",
    "table",
    "Encoder ranks by domain group within each architecture (1 = best clusterer-averaged AMI on a dataset): mean and std "
    "over the group's datasets, n, and the Wilcoxon signed-rank p-value against the supervised encoder.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def encoder_ranks(data: Data, out: Path):
    from . import study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    _write(
        study.encoder_ranks(avg, data.facts),
        out,
        "encoder_ranks",
        best=None,
        shade=False,
        digits=3,
        caption=OUTPUTS["encoder_ranks"].description,
    )


@output(
    "clusterer_ranks",
    "table",
    "Clusterers ranked per (encoder, dataset) pair by AMI (1 = best; supervised and self-supervised encoders, as in "
    "the study): mean and std rank with n, and exact Wilcoxon signed-rank tests between every pair of clusterers.",
    "two clusterers and a supervised or self-supervised encoder",
    _needs_ranked_pairs,
)
def clusterer_ranks(data: Data, out: Path):
    from . import study

    summary, pairs = study.clusterer_ranks(data.runs, data.facts)
    _write(summary, out, "clusterer_ranks", best=None, shade=False, digits=3, caption="Clusterer ranks")
    _write(
        pairs,
        out,
        "clusterer_pairs_wilcoxon",
        best=None,
        shade=False,
        digits=4,
        caption="Wilcoxon signed-rank tests between clusterers",
    )


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
    _write(pd.DataFrame(rows), out, "outputs_index", best=None, shade=False, caption=OUTPUTS["outputs_index"].description)


# Figures


@output(
    "ami_heatmap",
    "figure",
    "The main table as a heat map: clusterer-averaged AMI (%) per encoder (rows, by architecture) and dataset (columns).",
    "runs",
)
def ami_heatmap(data: Data, out: Path):
    from . import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    _save(plots.ami_heatmap(study.main_table(avg, data.facts)), out, "ami_heatmap")


@output(
    "ami_heatmap_per_clusterer",
    "figure",
    "AMI (%) per encoder (rows) and dataset (columns) for each clusterer on its own, one heat map per clusterer.",
    "runs",
)
def ami_heatmap_per_clusterer(data: Data, out: Path):
    from . import plots, study

    for clusterer in data.facts["all_clusterers"]:
        table = study.per_clusterer_table(data.runs, data.facts, clusterer)
        _save(plots.ami_heatmap(table, title=clusterer), out, f"ami_heatmap_{clusterer}")


def _delta_figure(data: Data, out: Path, name: str, keep):
    from . import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    delta = study.delta_vs_supervised(avg, data.facts)
    delta = delta[delta["encoder"].map(lambda e: keep(data.facts["encoders"][e]))]
    order = [e for e in data.facts["encoders"] if e in set(delta["encoder"])]
    _save(plots.delta_by_domain(delta, data.facts["groups"] + ["All"], order, data.facts["encoders"]), out, name)


@output(
    "delta_by_domain",
    "figure",
    "AMI difference (p.p.) of each encoder to the supervised encoder of its architecture, mean ± std over each domain "
    "group's datasets (rows) per architecture (columns); below zero vermillion, above green; * paired t-test p < 0.05. "
    "Fine-tuned encoders left out.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def delta_by_domain(data: Data, out: Path):
    _delta_figure(data, out, "delta_by_domain", lambda e: e["training"] != "fine-tuned")


@output(
    "delta_by_domain_ft",
    "figure",
    "As delta_by_domain, with the fine-tuned encoders interleaved.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def delta_by_domain_ft(data: Data, out: Path):
    _delta_figure(data, out, "delta_by_domain_ft", lambda e: True)


@output(
    "encoder_rank_by_domain",
    "figure",
    "Mean rank (1 = best) ± std of each encoder within its architecture, per domain group.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def encoder_rank_by_domain(data: Data, out: Path):
    from . import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    ranks = study.encoder_ranks(avg, data.facts)
    order = [e for e in data.facts["encoders"] if e in set(ranks["encoder"])]
    _save(
        plots.rank_by_domain(ranks, data.facts["groups"] + ["All"], order, data.facts["encoders"]), out, "encoder_rank_by_domain"
    )


@output(
    "clusterer_ranking",
    "figure",
    "Mean rank ± std of the clusterers over (encoder, dataset) pairs (supervised and self-supervised encoders).",
    "two clusterers and a supervised or self-supervised encoder",
    _needs_ranked_pairs,
)
def clusterer_ranking(data: Data, out: Path):
    from . import plots, study

    summary, _ = study.clusterer_ranks(data.runs, data.facts)
    _save(plots.clusterer_ranking(summary), out, "clusterer_ranking")


@output(
    "silhouette_vs_ami",
    "figure",
    "AMI (%) against the silhouette of the predicted labels, in the original embedding space (top) and the shared "
    "UMAP-50 space (bottom), one panel per clusterer, one point per (encoder, dataset) (random-init encoders left out, "
    "as in the study); Spearman's rho and n in each panel.",
    "a labelled dataset",
    _needs_labels_and_runs,
)
def silhouette_vs_ami(data: Data, out: Path):
    from . import plots

    runs = data.runs[data.runs["encoder"].map(lambda e: data.facts["encoders"][e]["training"] != "random")]
    runs = runs.reindex(
        columns=[*runs.columns.drop("silhouette_umap", errors="ignore"), "silhouette_umap"]
    )  # NaN without the UMAP space
    points = runs.groupby(["encoder", "dataset", "clusterer"], sort=False)[["AMI", "silhouette_og", "silhouette_umap"]].median()
    points = points.reset_index()
    points["AMI"] *= 100
    _save(plots.silhouette_vs_ami(points, data.facts["all_clusterers"], data.facts["encoders"]), out, "silhouette_vs_ami")


@output(
    "clusterer_pairs",
    "figure",
    "AMI (%) of each clusterer against each other on the same (encoder, dataset) pairs; diagonal: AMI histograms.",
    "two clusterers",
    _needs_clusterers(2),
)
def clusterer_pairs(data: Data, out: Path):
    from . import plots, study

    cells = study.cell_ami(data.runs, data.facts["all_clusterers"])
    _save(plots.clusterer_pairs(cells, data.facts["all_clusterers"]), out, "clusterer_pairs")


@output(
    "taxonomy_levels",
    "figure",
    "AMI (%) of the same predicted clusters against each level of the label hierarchy (coarse to fine), averaged over "
    "the clusterers, one line per encoder, one panel per dataset with a hierarchy.",
    "iNaturalist or BIOSCAN-1M (a label hierarchy; FGVC-Aircraft too)",
    _needs_taxonomy,
    reads=("labels",),
)
def taxonomy_levels(data: Data, out: Path):
    from . import plots, study

    levels = study.label_levels(data.labels, data.facts)
    hierarchical = [d for d, f in data.facts["datasets"].items() if len(f["levels"]) > 1]
    levels = levels[
        levels["dataset"].isin(hierarchical)
        & levels["level"].isin({lv for d in hierarchical for lv in data.facts["datasets"][d]["levels"]})
    ]
    _save(plots.taxonomy_levels(levels, data.facts["encoders"]), out, "taxonomy_levels")


@output(
    "example_images",
    "figure",
    "Example images of predicted clusters: the largest clusters (rows) of one run, a few images each, picked evenly "
    "through each cluster (outputs.example_images chooses the runs).",
    "runs (reads the images and one clustering)",
    files=("clusters",),
)
def example_images(data: Data, out: Path):
    from . import plots
    from .datasets import open_split
    from .tables import read

    for choice, clusters_path in zip(data.facts["examples"], data.files["clusters"]):
        clusters, _ = read(clusters_path)
        source = data.facts["sources"][choice["dataset"]]
        images = open_split(source["spec"], Path(source["root"]), download=False)
        grid = _example_grid(
            clusters["label_pred"], clusters["index"], images, data.facts["clusters_shown"], data.facts["images_per_cluster"]
        )
        title = f"{choice['dataset']} / {choice['encoder']} / {choice['reducer']} / {choice['clusterer']}"
        _save(plots.example_images(grid, title), out, f"examples_{choice['dataset']}_{choice['encoder']}_{choice['clusterer']}")


def _example_grid(labels, indices, images, n_clusters: int, per_cluster: int):
    """The `n_clusters` largest clusters (noise last), `per_cluster` members each spread evenly
    through the cluster: [(title, [HxWx3 uint8])]."""
    import numpy as np

    values, counts = np.unique(labels, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (values[i] == -1, -counts[i], values[i]))[:n_clusters]
    grid = []
    for i in order:
        members = indices[labels == values[i]]
        picks = members[np.linspace(0, len(members) - 1, min(per_cluster, len(members))).round().astype(int)]
        title = f"{'noise' if values[i] == -1 else f'cluster {values[i]}'} (n={counts[i]})"
        grid.append((title, [np.asarray(images.image(int(p)).convert("RGB")) for p in picks]))
    return grid


@output(
    "pca_variance",
    "figure",
    "Cumulative variance (%) explained by the principal components of the z-scored embeddings (the study's zPCA), per "
    "encoder, one panel per dataset; dashed lines at 80, 90 and 95%. At most 10,000 points per embeddings (seeded).",
    "runs (reads the embeddings)",
    files=("embeddings",),
)
def pca_variance(data: Data, out: Path):
    import pandas as pd

    from . import plots
    from .tables import read_vectors

    curves = []
    for (dataset, _, encoder), path in zip(data.facts["pairs"], data.files["embeddings"]):
        ratio = explained_variance(read_vectors(path), seed=data.facts["seed"])
        curves.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "encoder": encoder,
                    "n_components": range(1, len(ratio) + 1),
                    "cumulative_variance": 100 * ratio.cumsum(),
                }
            )
        )
    frame = pd.concat(curves, ignore_index=True)
    frame["dataset"] = frame["dataset"].map(_labels(data.facts, "datasets"))
    _save(plots.pca_variance(frame, data.facts["encoders"]), out, "pca_variance")


def explained_variance(X, seed: int, max_samples: int = 10_000):
    """Explained-variance ratios of PCA on the z-scored X (zero-variance dimensions dropped), from
    the eigenvalues of the correlation matrix: O(N d^2), no N x N matrix."""
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    if len(X) > max_samples:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_samples, replace=False))]
    std = X.std(axis=0)
    Z = (X[:, std > 0] - X[:, std > 0].mean(axis=0)) / std[std > 0]
    eig = np.clip(np.linalg.eigvalsh(Z.T @ Z / len(Z))[::-1], 0, None)
    return eig[: min(len(Z), Z.shape[1])] / eig.sum()


@output(
    "embedding_maps",
    "figure",
    "A 2-D UMAP (n_neighbors 30, min_dist 0.1) of each (dataset, encoder)'s embeddings, points coloured by true label.",
    "outputs.embedding_maps (on by default)",
    _needs_maps,
    files=("maps", "embeddings"),
)
def embedding_maps(data: Data, out: Path):
    import pandas as pd

    from . import plots
    from .tables import read

    for (dataset, _, encoder), path, embeddings in zip(data.facts["pairs"], data.files["maps"], data.files["embeddings"]):
        xy = read(path, columns=["embedding"])[0]["embedding"]
        labels = read(embeddings, columns=["label"])[0]["label"]  # the reduction keeps the embeddings' order
        points = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": labels})
        title = f"{data.facts['datasets'][dataset]['label']} / {data.facts['encoders'][encoder]['label']}"
        _save(plots.embedding_map(points, title), out, f"map_{dataset}_{encoder}")


# ---------------------------------------------------------------------------------------------
# Label-free evaluation (zsc.labelfree, zsc.selection): which encoder or checkpoint, without labels


def _needs_labelfree(facts_):
    if not facts_["labelfree"]:
        return "labelfree.enabled is false"
    return None if len(facts_["encoders"]) >= 2 else "needs two or more encoders to choose between"


def _needs_references(facts_):
    why = _needs_labelfree(facts_)
    if why:
        return why
    return None if any(d["labelled"] for d in facts_["datasets"].values()) else "needs a labelled dataset to compare with"


def _needs_series(facts_):
    if not facts_["labelfree"]:
        return "labelfree.enabled is false"
    return (
        None
        if any("series" in e for e in facts_["encoders"].values())
        else "needs a checkpoint series (an encoder with `checkpoints:`)"
    )


def references(data: Data):
    """The labelled references per (dataset, encoder), tidy: AMI (the clusterer average of the main
    table, 0-1), and, where probed, each kNN top-1 and the linear probe's top-1 accuracy."""
    import pandas as pd

    from . import study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    ami = (
        (avg / 100).rename_axis(index="encoder", columns="dataset").stack().rename("value").reset_index().assign(reference="AMI")
    )
    frames = [ami]
    probes = data.probes if data.facts["probes"] else None
    if probes is not None and not probes.empty:
        columns = [c for c in probes.columns if c.startswith("knn_top1_") or c == "linear_probe_top1"]
        frames.append(
            probes.melt(id_vars=["dataset", "encoder"], value_vars=columns, var_name="reference").dropna(subset=["value"])
        )
    return pd.concat(frames, ignore_index=True)[["dataset", "encoder", "reference", "value"]]


@output(
    "encoder_choice",
    "table",
    "Which encoder to use, without labels: per dataset and label-free score, the encoder it ranks first and the runner-up; "
    "where labels exist, whether that pick is the encoder with the best clusterer-averaged AMI, the AMI lost by picking "
    "it (regret) and the score's Spearman correlation with AMI across encoders. On an unlabelled dataset this is the "
    "recommendation.",
    "two or more encoders (labelfree.enabled)",
    _needs_labelfree,
    reads=("runs", "labelfree", "probes"),
)
def encoder_choice(data: Data, out: Path):
    from . import selection

    scores = selection.score_table(data.labelfree)
    choice = selection.encoder_choice(scores, references(data), reference="AMI")
    encoders = _labels(data.facts, "encoders")
    summary = selection.recommendation(choice)
    for column in ("recommended", "runner_up"):
        summary[column] = summary[column].map(lambda e: encoders.get(e, e))
    _write(summary, out, "encoder_choice", best=None, shade=False, digits=3, caption=OUTPUTS["encoder_choice"].description)
    _write(
        choice, out, "encoder_ranking", best=None, shade=False, digits=3, caption="Every encoder ranked by every label-free score"
    )


@output(
    "labelfree_correlations",
    "table",
    "Spearman and Kendall rank correlations, with n and p-values, between each label-free score and each labelled "
    "reference (clusterer-averaged AMI, weighted kNN top-1 for each k, linear-probe top-1): across encoders per dataset, "
    "and pooled over all (dataset, encoder) pairs.",
    "two or more encoders and a labelled dataset",
    _needs_references,
    reads=("runs", "labelfree", "probes"),
)
def labelfree_correlations(data: Data, out: Path):
    from . import selection

    table = selection.correlations(selection.score_table(data.labelfree), references(data))
    _write(
        table,
        out,
        "labelfree_correlations",
        best=None,
        shade=False,
        digits=3,
        caption=OUTPUTS["labelfree_correlations"].description,
    )


def _checkpoints(data: Data):
    from . import selection

    series = {e: f for e, f in data.facts["encoders"].items() if "series" in f}
    series = {
        e: {"series": f["series"], "checkpoint": f["checkpoint"], "step": selection.checkpoint_step(f["checkpoint"])}
        for e, f in series.items()
    }
    scores, refs = selection.score_table(data.labelfree), references(data)
    return selection.checkpoint_table(scores, refs, series), sorted(set(scores["score"])), sorted(set(refs["reference"]))


@output(
    "checkpoints",
    "table",
    "A training run's checkpoints (encoders with `checkpoints:`): every label-free score and labelled reference per "
    "checkpoint, in training order, and each score's rank correlation with each reference over the checkpoints.",
    "a checkpoint series (an encoder with `checkpoints:`)",
    _needs_series,
    reads=("runs", "labelfree", "probes"),
)
def checkpoints(data: Data, out: Path):
    from . import selection

    table, scores, refs = _checkpoints(data)
    _write(table, out, "checkpoints", best="max", digits=3, caption="Scores and references per checkpoint")
    correlations = selection.checkpoint_correlations(table, scores, refs)
    _write(
        correlations,
        out,
        "checkpoint_correlations",
        best=None,
        shade=False,
        digits=3,
        caption="Rank correlations over the checkpoints",
    )


@output(
    "checkpoint_curves",
    "figure",
    "Every label-free score and labelled reference over a training run's checkpoints (x: training step from the "
    "checkpoint label), one panel per score, one line per dataset.",
    "a checkpoint series (an encoder with `checkpoints:`)",
    _needs_series,
    reads=("runs", "labelfree", "probes"),
)
def checkpoint_curves(data: Data, out: Path):
    from . import plots

    table, scores, refs = _checkpoints(data)
    _save(plots.checkpoint_curves(table, scores + refs), out, "checkpoint_curves")
