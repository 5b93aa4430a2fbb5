"""A synthetic results table of the study's full shape, with planted effects, for the table and figure tests.

`study_runs(seed)` gives (runs, labels, facts) as `zsc.study` takes them: the 26 test datasets in their five
groups (docs/study.md#2-datasets) plus the three ImageNet-9 extras in "Other", raw pixels and the 17 RN50 / ViT-B/16
encoders of docs/study.md#1-encoders, the 6 clusterers of the 6c-avg, seed 1. The numbers are made up; what is
planted (and what tests may rely on):

* Every DINO encoder scores DINO_FAR_OOD (+5 p.p.) above its architecture's X-Ent. on Far-OOD datasets and
  1 p.p. below elsewhere; random encoders and raw pixels score far lower (about -25 and -20 p.p.).
* Clusterer offsets CLUSTERER_EFFECT are 2 p.p. apart and the run noise is 0.3 p.p., so every (encoder,
  dataset) pair ranks the clusterers in CLUSTERER_ORDER (mean ranks 1..6).
* Skipped: affinity_propagation on imagenet and inaturalist for every encoder (memory guard), and spectral
  on places365 for vicreg_resnet50 only (SKIPPED_ONE); their metrics are NaN.
* `labels`: the same clusters scored against iNat's taxonomic levels (kingdom .. genus, then "label" =
  species, equal to the run's AMI) and against three CelebA attributes (plus "label").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# name: (group, label, n_classes, N, split)
DATASETS = {
    "imagenet": ("In-domain", "IN1k", 1000, 50000, "val"),
    "imagenetv2": ("In-domain", "INv2", 1000, 10000, "test"),
    "cifar10": ("In-domain", "C10", 10, 10000, "test"),
    "cifar100": ("In-domain", "C100", 100, 10000, "test"),
    "in9original": ("In-domain", "IN9", 9, 4050, "test"),
    "in9onlyfg": ("Domain-shift", "9-FG", 9, 4050, "test"),
    "in9mixedrand": ("Domain-shift", "9-MR", 9, 4050, "test"),
    "imagenet-r": ("Domain-shift", "IN-R", 200, 30000, "test"),
    "imagenet-sketch": ("Domain-shift", "IN-S", 1000, 50889, "test"),
    "imagenet-o": ("Near-OOD", "IN-O", 200, 2000, "test"),
    "lsun": ("Near-OOD", "LSU", 10, 3000, "val"),
    "places365": ("Near-OOD", "P365", 365, 36500, "val"),
    "aircraft": ("Fine-grained", "Air", 100, 3333, "test"),
    "stanfordcars": ("Fine-grained", "Cars", 196, 8041, "test"),
    "flowers102": ("Fine-grained", "F102", 102, 6149, "test"),
    "bioscan1m": ("Fine-grained", "Bio", None, 24600, "test"),  # class count unknown: taken from the runs
    "nabirds": ("Fine-grained", "Birds", 555, 24633, "test"),
    "inaturalist": ("Fine-grained", "iNat", 10000, 100000, "val"),
    "celeba": ("Far-OOD", "CelA", 1000, 19962, "test"),
    "utkface": ("Far-OOD", "UTKF", 104, 5925, "test"),
    "breakhis": ("Far-OOD", "BHis", 32, 3164, "test"),
    "dtd": ("Far-OOD", "DTD", 47, 1880, "test"),
    "eurosat": ("Far-OOD", "ESAT", 10, 4050, "test"),
    "mnist": ("Far-OOD", "MNST", 10, 10000, "test"),
    "fashionmnist": ("Far-OOD", "Fash", 10, 10000, "test"),
    "svhn": ("Far-OOD", "SVHN", 10, 26032, "test"),
    "in9mixedsame": ("Other", "9-MS", 9, 4050, "test"),
    "in9nofg": ("Other", "9-FG^C", 9, 4050, "test"),
    "in9onlybgt": ("Other", "9-BG", 9, 4050, "test"),
}
GROUPS = ["In-domain", "Domain-shift", "Near-OOD", "Fine-grained", "Far-OOD", "Other"]
BIOSCAN_SPECIES = 1200  # synthetic n_clusters_true of bioscan1m (facts leave it None)

INAT_LEVELS = ["label_kingdom", "label_phylum", "label_class", "label_order", "label_family", "label_genus", "label"]
INAT_LEVEL_FACTOR = [0.1, 0.25, 0.45, 0.7, 0.95, 1.1, 1.0]  # AMI against each level, relative to the species'
CELEBA_ATTRIBUTES = {"attr_Eyeglasses": 0.02, "attr_Male": 0.15, "attr_Smiling": 0.05}

# name: (label, architecture, training, offset in AMI (0..1) to the X-Ent. of its architecture)
ENCODERS = {
    "raw": ("Raw image", "raw pixels", "none", -0.20),
    "random_resnet50": ("Rand.", "ResNet-50", "random", -0.25),
    "resnet50": ("X-Ent.", "ResNet-50", "supervised", 0.0),
    "mocov3_resnet50": ("MoCo-v3", "ResNet-50", "self-supervised", -0.01),
    "dino_resnet50": ("DINO", "ResNet-50", "self-supervised", None),  # DINO: see DINO_FAR_OOD
    "vicreg_resnet50": ("VICReg", "ResNet-50", "self-supervised", -0.03),
    "ft_mocov3_resnet50": ("MoCo-v3 [FT]", "ResNet-50", "fine-tuned", 0.01),
    "ft_dino_resnet50": ("DINO [FT]", "ResNet-50", "fine-tuned", 0.015),
    "ft_vicreg_resnet50": ("VICReg [FT]", "ResNet-50", "fine-tuned", 0.005),
    "random_vitb16": ("Rand.", "ViT-B/16", "random", -0.26),
    "vitb16": ("X-Ent.", "ViT-B/16", "supervised", 0.0),
    "mocov3_vit_base": ("MoCo-v3", "ViT-B/16", "self-supervised", -0.02),
    "dino_vitb16": ("DINO", "ViT-B/16", "self-supervised", None),
    "mae_vit_base_cls": ("MAE (CLS)", "ViT-B/16", "self-supervised", -0.12),
    "mae_pretrain_vit_base_global": ("MAE (avg)", "ViT-B/16", "self-supervised", -0.10),
    "ft_mocov3_vit_base": ("MoCo-v3 [FT]", "ViT-B/16", "fine-tuned", 0.01),
    "ft_dino_vitb16": ("DINO [FT]", "ViT-B/16", "fine-tuned", 0.02),
    "mae_finetuned_vit_base_global": ("MAE (avg) [FT]", "ViT-B/16", "fine-tuned", 0.0),
}
DINO_FAR_OOD, DINO_ELSEWHERE = 0.05, -0.01

CLUSTERERS = ["kmeans", "spectral", "ac_with_c", "ac_without_c", "affinity_propagation", "hdbscan"]
CHOOSES_K = ["ac_without_c", "affinity_propagation", "hdbscan"]
CLUSTERER_EFFECT = {
    "ac_with_c": 0.04,
    "kmeans": 0.02,
    "spectral": 0.0,
    "affinity_propagation": -0.02,
    "ac_without_c": -0.04,
    "hdbscan": -0.06,
}
CLUSTERER_ORDER = sorted(CLUSTERER_EFFECT, key=CLUSTERER_EFFECT.get, reverse=True)  # best first

AP_REASON = "memory guard: affinity_propagation needs {gib} GiB, the limit is 64 GiB"
SKIPPED_ONE = ("places365", "spectral", "vicreg_resnet50", "memory guard: spectral needs 70.1 GiB, the limit is 64 GiB")
SEED = 1

# The tuned settings (after docs/study.md#34-tuned-settings-v50): a default for the U50 encoders and the encoders that differ.
U50 = {
    "kmeans": ("umap50", {}),
    "spectral": ("none", {"n_neighbors": 20}),
    "ac_with_c": ("umap50", {"metric": "euclidean", "linkage": "ward"}),
    "ac_without_c": ("umap50", {"metric": "euclidean", "linkage": "ward", "distance_threshold": 2}),
    "affinity_propagation": ("umap50", {"damping": 0.9}),
    "hdbscan": ("umap50", {"metric": "euclidean"}),
}
PROTOCOL_OVERRIDES = {
    "raw": {
        "kmeans": ("zpca90", {}),
        "spectral": ("none", {"n_neighbors": 10}),
        "ac_with_c": ("zpca200d", {"metric": "cosine", "linkage": "average"}),
        "ac_without_c": ("zpca200d", {"metric": "cosine", "linkage": "average", "distance_threshold": 0.71}),
        "affinity_propagation": ("zpca80", {"damping": 0.85}),
    },
    "random_resnet50": {
        "kmeans": ("zpca95", {}),
        "affinity_propagation": ("zpca90", {"damping": 0.9}),
        "hdbscan": ("umap50", {"metric": "l1"}),
    },
    "random_vitb16": {
        "kmeans": ("zpca100d", {}),
        "affinity_propagation": ("zpca90", {"damping": 0.95}),
        "hdbscan": ("umap50", {"metric": "l1"}),
    },
    "dino_resnet50": {"ac_without_c": ("umap50", {"metric": "euclidean", "linkage": "average", "distance_threshold": 0.5})},
    "dino_vitb16": {"hdbscan": ("umap50", {"metric": "l1"})},
    "mae_vit_base_cls": {"kmeans": ("zpca95", {}), "affinity_propagation": ("zpca200d", {"damping": 0.6})},
}


# How the outputs show the protocol's reducers (zsc.outputs facts["reducers"]).
REDUCER_FACTS = {
    "none": {"label": "no reduction", "family": "no reduction", "dims": None},
    "umap50": {"label": "UMAP-50", "family": "UMAP", "dims": 50},
    **{f"zpca{p}": {"label": f"zPCA {p}%", "family": "PCA", "dims": None} for p in (80, 90, 95)},
    **{f"zpca{d}d": {"label": f"zPCA-{d}", "family": "PCA", "dims": d} for d in (100, 200)},
}


def study_facts() -> dict:
    """The facts dict of the synthetic study (see `zsc.study`)."""
    datasets = {
        name: {
            "group": group,
            "n_classes": n_classes,
            "description": f"synthetic stand-in for {name} ({split} split)",
            "label": label,
            "name": _full_name(name),
            "levels": INAT_LEVELS if name == "inaturalist" else ["label"],
        }
        for name, (group, label, n_classes, _, split) in DATASETS.items()
    }
    encoders = {
        name: {"label": label, "architecture": arch, "training": training}
        for name, (label, arch, training, _) in ENCODERS.items()
    }
    protocol = {
        encoder: {c: {"reducer": r, "options": dict(o)} for c, (r, o) in (U50 | PROTOCOL_OVERRIDES.get(encoder, {})).items()}
        for encoder in ENCODERS
    }
    reducers = sorted({r for settings in protocol.values() for r in (s["reducer"] for s in settings.values())})
    return {
        "datasets": datasets,
        "groups": GROUPS,
        "encoders": encoders,
        "clusterers": CLUSTERERS,
        "all_clusterers": CLUSTERERS,
        "clusterer_labels": {name: _clusterer_label(name) for name in CLUSTERERS},
        "chooses_k": CHOOSES_K,
        "reducers": {r: REDUCER_FACTS[r] for r in reducers},
        "reducer_of": None,
        "protocol": protocol,
    }


def _full_name(name: str) -> str:
    """The full name of one of the study's datasets in figures: its registry entry's."""
    from zsc.datasets import DATASETS as REGISTRY

    return REGISTRY[name].info["full_name"]


def _clusterer_label(name: str) -> str:
    """The display label of one of the study's clusterers: its registry entry's (by the study's name of it)."""
    from zsc.clusterers import CLUSTERERS as REGISTRY

    return next(e.info["label"] for e in REGISTRY if name in (e.name, e.info.get("study_name")))


def _encoder_offset(encoder: str, group: str) -> float:
    offset = ENCODERS[encoder][3]
    if offset is None:  # DINO
        return DINO_FAR_OOD if group == "Far-OOD" else DINO_ELSEWHERE
    return offset


def _skip_reason(dataset: str, clusterer: str, encoder: str) -> str:
    if clusterer == "affinity_propagation" and dataset in ("imagenet", "inaturalist"):
        n = DATASETS[dataset][3]
        return AP_REASON.format(gib=round(3 * 8 * n * n / 2**30, 1))  # a few dense N x N float64 copies
    if (dataset, clusterer, encoder) == SKIPPED_ONE[:3]:
        return SKIPPED_ONE[3]
    return ""


def study_runs(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs, labels, facts): the synthetic study, deterministic for a given seed (module docstring)."""
    rng = np.random.default_rng(seed)
    facts = study_facts()
    base = {d: rng.uniform(0.3, 0.65) for d in DATASETS}  # each dataset's X-Ent. level
    rows = []
    for dataset, (group, _, n_classes, n_samples, split) in DATASETS.items():
        n_true = n_classes or BIOSCAN_SPECIES
        for encoder in ENCODERS:
            level = base[dataset] + _encoder_offset(encoder, group) + rng.normal(0, 0.01)  # encoder x dataset noise
            s_true = rng.uniform(-0.05, 0.3)  # the true labels' UMAP silhouette: one per embeddings
            for clusterer in CLUSTERERS:
                ami = float(np.clip(level + CLUSTERER_EFFECT[clusterer] + rng.normal(0, 0.003), 0.0, 1.0))
                n_pred = n_true if clusterer not in CHOOSES_K else max(1, round(n_true * np.exp(rng.normal(0.3, 0.5))))
                row = {
                    "dataset": dataset,
                    "group": group,
                    "split": split,
                    "encoder": encoder,
                    "reducer": facts["protocol"][encoder][clusterer]["reducer"],
                    "clusterer": clusterer,
                    "seed": SEED,
                    "skipped": _skip_reason(dataset, clusterer, encoder),
                    "AMI": ami,
                    "ARI": 0.8 * ami,
                    "n_clusters_true": float(n_true),
                    "n_clusters_pred": float(n_pred),
                    "n_samples": float(n_samples),
                    "silhouette_og": 0.05 + 0.2 * ami + rng.normal(0, 0.02),
                    "silhouette_umap": 0.1 + 0.6 * ami + rng.normal(0, 0.02),
                    "silhouette_umap_true": s_true,
                }
                if row["skipped"]:
                    for key in ("AMI", "ARI", "n_clusters_pred", "silhouette_og", "silhouette_umap", "silhouette_umap_true"):
                        row[key] = np.nan
                rows.append(row)
    runs = pd.DataFrame(rows)
    return runs, _labels(runs, rng), facts


def _labels(runs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The AMI of the runs that ran on iNat and CelebA against their other label levels."""
    keys = ["dataset", "split", "encoder", "reducer", "clusterer", "seed"]
    rows = []
    for run in runs[runs["dataset"].isin(["inaturalist", "celeba"]) & (runs["skipped"] == "")].itertuples(index=False):
        if run.dataset == "inaturalist":
            factors = dict(zip(INAT_LEVELS, INAT_LEVEL_FACTOR))
            levels = {lv: 1.0 if lv == "label" else f * (1 + rng.normal(0, 0.02)) for lv, f in factors.items()}
            values = {lv: run.AMI * f for lv, f in levels.items()}
        else:
            values = {lv: max(0.0, a + rng.normal(0, 0.005)) for lv, a in CELEBA_ATTRIBUTES.items()} | {"label": run.AMI}
        rows += [{k: getattr(run, k) for k in keys} | {"level": lv, "AMI": float(a)} for lv, a in values.items()]
    return pd.DataFrame(rows, columns=[*keys, "level", "AMI"])


# ---------------------------------------------------------------------------------------------------------
# A grid config's runs (no protocol: every reducer x clusterer), for any facts of zsc.outputs.facts shape.

# AMI (0..1) added by a reducer, by its kind and the encoder's training: UMAP helps trained encoders (the
# study's finding), PCA keeps about the level of no reduction, and raw pixels and random-init encoders
# gain little from either; PCA to few dimensions loses some.
REDUCER_EFFECT = {"UMAP": 0.08, "PCA": 0.0, "no reduction": -0.01}
UNTRAINED_REDUCER_EFFECT = {"UMAP": 0.01, "PCA": 0.02, "no reduction": 0.0}
FEW_DIMS, FEW_DIMS_LOSS = 20, 0.03  # PCA below this many dimensions loses this much
TRAINING_OFFSET = {
    "supervised": 0.0,
    "self-supervised": -0.02,
    "fine-tuned": 0.01,
    "random": -0.25,
    "none": -0.2,
    "unknown": -0.1,
}


def _reducer_offset(reducer: dict, training: str) -> float:
    effects = UNTRAINED_REDUCER_EFFECT if training in ("random", "none") else REDUCER_EFFECT
    loss = FEW_DIMS_LOSS if reducer["family"] == "PCA" and reducer["dims"] and reducer["dims"] < FEW_DIMS else 0.0
    return effects.get(reducer["family"], 0.0) - loss


def grid_failures(facts: dict) -> dict:
    """The cells a grid run plants as failed, (dataset, encoder, reducer) -> reason: the PCA reducer of
    most dimensions on the first dataset for the first encoder without training (raw pixels), as a
    reduction to more dimensions than the data has fails."""
    pca = [r for r, f in facts["reducers"].items() if f["family"] == "PCA" and f["dims"]]
    untrained = [e for e, f in facts["encoders"].items() if f["training"] in ("none", "random")]
    if not pca or not untrained:
        return {}
    reducer = max(pca, key=lambda r: facts["reducers"][r]["dims"])
    return {
        (next(iter(facts["datasets"])), untrained[0], reducer): f"failed: reducers.{reducer}.n_components: more than the data has"
    }


def grid_runs(facts: dict, seed: int = 0, n_samples: int = 1000) -> pd.DataFrame:
    """A runs table of a grid config for `facts` (zsc.outputs.facts): every dataset x encoder x reducer x
    clusterer of the facts at facts["seed"] (default 1); AMI = the dataset's level + the encoder's
    (TRAINING_OFFSET, or ENCODERS' offset for the study's) + the reducer's (`_reducer_offset`) + the
    clusterer's (CLUSTERER_EFFECT, 0 for others) + noise; the cells of `grid_failures` failed."""
    rng = np.random.default_rng(seed)
    failures = grid_failures(facts)
    rows = []
    for dataset, info in facts["datasets"].items():
        level = rng.uniform(0.3, 0.65)
        n_true = float(info["n_classes"] or BIOSCAN_SPECIES)
        for encoder, enc in facts["encoders"].items():
            offset = _encoder_offset(encoder, info["group"]) if encoder in ENCODERS else TRAINING_OFFSET[enc["training"]]
            s_true = rng.uniform(-0.05, 0.3)
            for reducer, red in facts["reducers"].items():
                for clusterer in facts["all_clusterers"]:
                    ami = level + offset + _reducer_offset(red, enc["training"]) + CLUSTERER_EFFECT.get(clusterer, 0.0)
                    ami = float(np.clip(ami + rng.normal(0, 0.01), 0.0, 1.0))
                    chooses = clusterer in facts["chooses_k"]
                    skipped = failures.get((dataset, encoder, reducer), "")
                    row = {
                        "dataset": dataset, "group": info["group"], "split": "test", "encoder": encoder, "reducer": reducer,
                        "clusterer": clusterer, "seed": facts.get("seed", SEED), "skipped": skipped, "AMI": ami, "ARI": 0.8 * ami,
                        "n_clusters_true": n_true, "n_samples": float(n_samples),
                        "n_clusters_pred": max(1.0, round(n_true * np.exp(rng.normal(0.3, 0.5)))) if chooses else n_true,
                        "silhouette_og": 0.05 + 0.2 * ami + rng.normal(0, 0.02),
                        "silhouette_umap": 0.1 + 0.6 * ami + rng.normal(0, 0.02), "silhouette_umap_true": s_true,
                    }  # fmt: skip
                    if skipped:
                        for key in ("AMI", "ARI", "n_clusters_pred", "silhouette_og", "silhouette_umap", "silhouette_umap_true"):
                            row[key] = np.nan
                    rows.append(row)
    return pd.DataFrame(rows)


# The study-sized grid: the synthetic study's datasets and encoders on a sweep of PCA and UMAP dimensions.
GRID_REDUCERS = {
    "none": {"label": "no reduction", "family": "no reduction", "dims": None},
    **{f"zpca{d}": {"label": f"zPCA-{d}", "family": "PCA", "dims": d} for d in (10, 50, 200)},
    **{f"umap{d}": {"label": f"UMAP-{d}", "family": "UMAP", "dims": d} for d in (10, 50, 200)},
}


def study_grid() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs, labels, facts) of the study's datasets and encoders as a grid without a protocol: GRID_REDUCERS
    x the six clusterers, each clusterer shown on UMAP-50 (facts["reducer_of"])."""
    facts = study_facts() | {"protocol": None, "reducers": GRID_REDUCERS, "reducer_of": {c: "umap50" for c in CLUSTERERS}}
    runs = grid_runs(facts)
    return runs, _labels(runs, np.random.default_rng(0)), facts


# ---------------------------------------------------------------------------------------------------------
# The default config's run, with every file its outputs read (embeddings, 2-D maps, clusterings) made up.


def default_run(folder, config_path, n_samples: int = 300, seed: int = 0):
    """(tables, facts, files) of config/config.yaml's run as the render jobs see it, written under
    `folder`: results/tables/{runs,labels}.parquet from `grid_runs`, and for every (dataset, encoder)
    embeddings, a 2-D map and the clusterings of every run, `n_samples` samples each. The example images open the datasets' real
    images: digits is bundled; Fashion-MNIST is prepared under `folder` from Debian's package
    (DEBIAN_FASHION_MNIST must exist)."""
    from pathlib import Path

    import yaml

    from zsc import config as cfg
    from zsc import datasets, outputs, tables

    folder = Path(folder)
    config = cfg.load(yaml.safe_load(Path(config_path).read_text()))
    facts = outputs.facts(config)
    facts["files"] = {kind: [str(folder / path) for path in paths] for kind, paths in facts["files"].items()}
    facts["patterns"] = {kind: str(folder / pattern) for kind, pattern in facts["patterns"].items()}
    runs = grid_runs(facts, seed)
    rng = np.random.default_rng(seed)
    keys = ["dataset", "split", "encoder", "reducer", "clusterer", "seed"]
    runs["split"] = runs["dataset"].map(lambda d: config.entry("datasets", d)["split"])
    tables_ = {"runs": str(folder / "results/tables/runs.parquet"), "labels": str(folder / "results/tables/labels.parquet")}
    Path(tables_["runs"]).parent.mkdir(parents=True, exist_ok=True)
    runs.to_parquet(tables_["runs"])
    labels = runs.loc[runs["skipped"] == "", keys + ["AMI"]].assign(level="label")[[*keys, "level", "AMI"]]
    labels.to_parquet(tables_["labels"])
    for dataset in facts["datasets"]:
        spec = config.entry("datasets", dataset)
        manifest = Path(facts["patterns"]["manifest"].format(dataset=dataset, split=spec["split"]))
        root = manifest.parent
        datasets.prepare(spec, root, manifest)
        facts["sources"][dataset] = {"spec": dict(spec), "root": str(root)}
        images = datasets.open_split(spec, root)
        rows, meta = tables.read(manifest)  # the samples prepare kept (max_samples); the clustered ones among them
        index = np.sort(rng.choice(rows["index"], n_samples, replace=False))
        kept = np.isin(rows["index"], index)  # the manifest lists the samples clustered
        tables.write(manifest, {name: values[kept] for name, values in rows.items()}, meta)
        truth = images.labels[index]
        for (d, _, _), path in zip(facts["pairs"], facts["files"]["embeddings"]):
            if d != dataset:
                continue
            X = rng.normal(size=(n_samples, 16)) + 3 * np.eye(16)[truth % 16]
            tables.write(path, {"index": index, "label": truth, "embedding": X}, {"classes": list(images.classes), "dim": 16})
        for (d, _, _), path in zip(facts["pairs"], facts["files"].get("maps", [])):
            if d == dataset:
                tables.write(path, {"index": index, "embedding": rng.normal(size=(n_samples, 2)) + truth[:, None] % 5})
        for path in facts["files"]["all_clusters"]:  # every run's clusters (the example images read some)
            if f"/results/clusters/{dataset}/" in path:
                predicted = np.where(rng.random(n_samples) < 0.8, truth, rng.integers(0, 10, n_samples))
                tables.write(path, {"index": index, "label_pred": predicted})
    return tables_, facts, facts["files"]


def plant_chosen_k(
    runs: pd.DataFrame, facts: dict, datasets=("cifar10", "dtd"), clusterers=("kmeans", "spectral", "ac_with_c"), seed: int = 0
):
    """Runs that chose their k without labels (zsc.choose_k), as runs.parquet records them: on
    `datasets`, every run of `clusterers` that ran gets a silhouette curve over k = 2..20 peaking
    near the true number of classes (capped at 20), and facts say those clusterers choose k there.
    Changes `runs` and `facts` in place."""
    import json

    rng = np.random.default_rng(seed)
    runs["k_chosen"], runs["k_criterion"], runs["k_curve"] = pd.array([pd.NA] * len(runs), dtype="Int64"), "", ""
    ks = np.arange(2, 21)
    chose = runs["dataset"].isin(datasets) & runs["clusterer"].isin(clusterers) & (runs["skipped"] == "")
    for i in runs.index[chose]:
        peak = min(20, int(runs.at[i, "n_clusters_true"])) + int(rng.integers(-2, 3))
        scores = 0.5 - 0.02 * np.abs(ks - peak) + rng.normal(0, 0.005, len(ks))
        runs.at[i, "k_chosen"] = int(ks[np.argmax(scores)])
        runs.at[i, "k_criterion"] = "silhouette_umap"
        runs.at[i, "k_curve"] = json.dumps({str(k): float(s) for k, s in zip(ks, scores)})
    for name in datasets:
        facts["datasets"][name]["k_chosen_by"] = list(clusterers)


def planted_labelfree(runs: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label-free scores and probe accuracies that follow each (dataset, encoder)'s mean AMI, with
    noise (entropy_gaussian_per_dim against it)."""
    rng = np.random.default_rng(seed)
    ami = runs.groupby(["dataset", "split", "encoder"], sort=False)["AMI"].mean().reset_index()
    rows, probes = [], []
    for r in ami.itertuples():
        for score, scale in (
            ("silhouette_umap_kmeans", 0.5),
            ("agreement_umap_ami_mean", 1.0),
            ("entropy_gaussian_per_dim", -0.3),
        ):
            rows.append(
                {"dataset": r.dataset, "split": r.split, "encoder": r.encoder, "seed": 1, "score": score}
                | {"value": scale * r.AMI + rng.normal(0, 0.05)}
            )
        probe = {f"knn_top1_k{k}": min(1.0, r.AMI + 0.2 + rng.normal(0, 0.03)) for k in (1, 10, 20, 100, 200)}
        probes.append(
            {"dataset": r.dataset, "split": r.split, "encoder": r.encoder, "skipped": ""}
            | probe
            | {"linear_probe_top1": min(1.0, r.AMI + 0.3)}
        )
    return pd.DataFrame(rows), pd.DataFrame(probes)


# A training run's checkpoints, scored on one dataset (for the checkpoint outputs): label -> its score level.
CHECKPOINTS = {"ep1": 0.2, "ep5": 0.5, "ep10": 0.6, "last": 0.65}
# The (dataset, split, encoder) embeddings whose files the file-reading outputs read (PCA spectra, 2-D maps).
FILE_PAIRS = [("cifar10", "test", "dino_vitb16"), ("mnist", "test", "resnet50")]


def write_study(folder: Path, complete: bool = False, grid: bool = False) -> tuple[dict[str, str], dict, dict[str, list[str]]]:
    """(tables, facts, files) of the synthetic study, the result tables written to `folder` as the
    aggregate rule writes them, facts as zsc.outputs.facts gives them; the runs of cifar10 and dtd chose
    their k (plant_chosen_k). With `complete`, also a training
    run's checkpoints (scores and probes on cifar10) and the files of the outputs that read more than
    tables (embeddings and 2-D maps of FILE_PAIRS, one clustering of digits, whose images are always
    there), so that every output of the registry but the reducer grid's is produced. With `grid`, the
    study as a grid of reducers without a protocol (`study_grid`), which the reducer grid's outputs need."""
    from zsc import config, tables as data_files
    from zsc.outputs import OUTPUTS

    runs, labels, facts = study_grid() if grid else study_runs()
    plant_chosen_k(runs, facts)  # k_chosen and k_selection
    labelfree, probes = planted_labelfree(runs)
    for name, dataset in facts["datasets"].items():
        dataset.update(extra_labels=name in set(labels["dataset"]), labelled=True)
    facts.update(
        all_clusterers=facts["clusterers"], umap_silhouette=True, labelfree=True, probes=True, examples=[], maps=False,
        files={}, seed=1, clusters_shown=6, images_per_cluster=8, pairs=[], sources={}, left_out=[],
    )  # fmt: skip
    files = {}
    if complete:
        labelfree, probes = _with_checkpoints(labelfree, probes, facts)
        files = _data_files(folder, facts, config, data_files)
    written = {}
    for name, frame in {"runs": runs, "labels": labels, "labelfree": labelfree, "probes": probes}.items():
        written[name] = str(folder / f"{name}.parquet")
        frame.to_parquet(written[name])
    facts["not_produced"] = {e.name: why for e in OUTPUTS if (why := e.info["missing"](facts))}
    return written, facts, files


def _with_checkpoints(labelfree: pd.DataFrame, probes: pd.DataFrame, facts: dict):
    rng = np.random.default_rng(1)
    rows, probe_rows = [], []
    for label, level in CHECKPOINTS.items():
        encoder = f"run@{label}"
        facts["encoders"][encoder] = {"label": encoder, "architecture": "ViT-B/16", "training": "self-supervised"}
        facts["encoders"][encoder] |= {"series": "run", "checkpoint": label}
        keys = {"dataset": "cifar10", "split": "test", "encoder": encoder}
        for score in ("agreement_og_ami_mean", "effective_rank", "entropy_knn"):
            rows.append(keys | {"seed": 1, "score": score, "value": level + rng.normal(0, 0.02)})
        probe_rows.append(keys | {"skipped": "", "knn_top1_k20": level + 0.2, "linear_probe_top1": level + 0.25})
    return pd.concat([labelfree, pd.DataFrame(rows)], ignore_index=True), pd.concat(
        [probes, pd.DataFrame(probe_rows)], ignore_index=True
    )


def _data_files(folder: Path, facts: dict, config, data_files) -> dict[str, list[str]]:
    rng = np.random.default_rng(2)
    files = {"embeddings": [], "maps": [], "clusters": []}
    for dataset, split, encoder in FILE_PAIRS:
        y = np.repeat(np.arange(10), 30)
        X = rng.normal(size=(10, 32))[y] + rng.normal(0, 0.5, (len(y), 32))
        for kind, vectors in (("embeddings", X), ("maps", X[:, :2])):
            path = folder / kind / f"{dataset}-{encoder}.parquet"
            path.parent.mkdir(exist_ok=True)
            data_files.write(path, {"index": np.arange(len(y)), "label": y, data_files.VECTOR: vectors.astype(np.float32)})
            files[kind].append(str(path))
    digits = config.load(
        {"datasets": {"digits": {}}, "encoders": {"raw": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    )
    choice = {"dataset": "digits", "split": "all", "encoder": "raw", "reducer": "none", "clusterer": "kmeans", "seed": 1}
    files["clusters"].append(str(folder / "clusters-digits.parquet"))
    data_files.write(files["clusters"][0], {"index": np.arange(200), "label_pred": np.arange(200) % 7})
    facts.update(
        maps=True,
        pairs=[list(pair) for pair in FILE_PAIRS],
        examples=[choice],
        sources={"digits": {"spec": dict(digits.entry("datasets", "digits")), "root": str(folder / "digits")}},
        files=files,
    )
    return files


# The outputs that read every run's clusters and the images (the per-image tables and contact sheets): the
# study-sized grid has neither, so they render on IMAGE_STUDY's runs of digits (whose images are always there).
IMAGE_STUDY = {"datasets": {"digits": {"max_samples": 60}}, "encoders": {"raw": {}}, "reducers": {"none": {}}}
IMAGE_STUDY_CLUSTERS = {"kmeans": 3, "ac_ward": 4}  # clusterer -> clusters its made-up labels have


def reads_images(entry) -> bool:
    """Whether an output reads every run's clusters (and the images): it renders on the image study."""
    return "all_clusters" in entry.info["files"]


def output_suffixes(entry) -> set[str]:
    """The file suffixes an output writes: a table's four formats, a figure's PNG and PDF; the per-image
    tables add parquet files, the contact sheets are PNG only."""
    suffixes = {".csv", ".md", ".tex", ".html"} if entry.info["kind"] == "table" else {".png", ".pdf"}
    return {"assignments": suffixes | {".parquet"}, "cluster_sheets": {".png"}}.get(entry.name, suffixes)


def write_image_study(folder: Path) -> tuple[dict[str, str], dict, dict[str, list[str]]]:
    """(tables, facts, files) of a small run on 60 digits (one encoder, two clusterers, made-up clusters
    and scores), as the outputs that read images see it: facts of the loaded config (zsc.outputs.facts),
    with the manifest (prepared) and the clusters written under `folder`."""
    from zsc import config, datasets, outputs
    from zsc import tables as data_files

    clusterers = {name: {} if name == "kmeans" else {"type": "agglomerative"} for name in IMAGE_STUDY_CLUSTERS}
    loaded = config.load({**IMAGE_STUDY, "clusterers": clusterers})
    facts = outputs.facts(loaded)
    spec = loaded.entry("datasets", "digits")
    root = folder / "digits"
    patterns = {"clusters": str(folder / "clusters" / "{encoder}-{reducer}-{clusterer}-{seed}.parquet")}
    patterns["manifest"] = str(folder / "manifest-{dataset}-{split}.parquet")
    manifest = patterns["manifest"].format(dataset="digits", split=spec["split"])
    datasets.prepare(dict(spec), root, manifest)
    index = data_files.read(manifest)[0]["index"]
    rng = np.random.default_rng(4)
    rows, files = [], {"manifests": [manifest], "all_clusters": []}
    for run in loaded.runs():
        k = IMAGE_STUDY_CLUSTERS[run["clusterer"]]
        path = patterns["clusters"].format(**run)
        Path(path).parent.mkdir(exist_ok=True)
        data_files.write(path, {"index": index, "label_pred": np.arange(len(index)) % k})
        files["all_clusters"].append(path)
        ami = rng.uniform(0.3, 0.8)
        rows.append(
            run
            | {"group": "Other", "skipped": "", "AMI": ami, "n_clusters_true": 10.0, "n_clusters_pred": float(k)}
            | {"silhouette_og": 0.2 * ami, "silhouette_umap": 0.6 * ami, "silhouette_reduced": 0.2 * ami}
        )
    written = {"runs": str(folder / "runs.parquet")}
    pd.DataFrame(rows).to_parquet(written["runs"])
    facts.update(patterns=patterns, files=files, sources={"digits": {"spec": dict(spec), "root": str(root)}})
    return written, facts, files
