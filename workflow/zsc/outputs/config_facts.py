"""What the outputs know of a config: `facts(config)`, computed at parse time from the validated
config alone (dataset groups, labels and names, encoder architectures and training, display names of
clusterers and reducers, the clusterers averaged, the protocol or else the reducer each clusterer is
shown on, the files the file-reading outputs need) and handed to the render jobs as params, so that a
render job never loads the config."""

from __future__ import annotations

from ..choose_k import labelled, may_choose
from ..config import ConfigError, registries
from ..dag import CLUSTERS, EMBEDDINGS, MANIFEST, REDUCED, shown_seed
from ..vocabulary import ARCHITECTURES, MAP_REDUCER, STUDY_GROUPS, UMAP_SPACE
from .registry import OUTPUTS

# How the outputs name the encoder type `raw` (its config name is the type's).
RAW_LABEL = "Raw image"


def _architecture(spec: dict, info: dict) -> str:
    if "study" in info:
        model = info["study"]["arch"].split(":", 1)[1].split(".")[0]
        return ARCHITECTURES.get(model, model)
    if spec["type"] == "raw":
        return "raw pixels"
    model = spec.get("model", "").split(".")[0]
    return ARCHITECTURES.get(model) or _model_name(model) or spec["type"]


def _model_name(model: str) -> str:
    """A timm or torchvision model name as papers write it: resnet18 -> ResNet-18, vit_small_patch16_224
    -> ViT-S/16; other names as they are."""
    import re

    if match := re.fullmatch(r"resnet(\d+)([a-z]*)", model):
        return f"ResNet-{match[1]}{match[2]}"
    if match := re.fullmatch(r"vit_(tiny|small|base|large|huge)_patch(\d+)(_\d+)?", model):
        return f"ViT-{match[1][0].upper()}/{match[2]}"
    return model


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
    label = info["label"] or (RAW_LABEL if spec["type"] == "raw" == base else base)
    own = config["outputs"]["encoders"].get(base, {})
    facts = {"label": own.get("label", label), "architecture": own.get("architecture", _architecture(spec, info))}
    facts["training"] = own.get("training", _training(spec, info))
    if "@" in name:
        facts.update(label=f"{facts['label']}@{name.split('@', 1)[1]}", series=base, checkpoint=name.split("@", 1)[1])
    return facts


def clusterer_label(config, name: str) -> str:
    """How tables and figures name a clusterer of the config: its registry entry's label (the
    study's name of the method, e.g. "AC w/ C"), whatever the config calls the entry (`ac_ward` of
    type agglomerative is "AC w/ C"); facts() appends the config's name where two entries share a
    label ("K-Means (kmeans10)")."""
    return registries()["clusterers"][config.entry("clusterers", name)["type"]].info["label"]


def facts(config) -> dict:
    """What the outputs know of a validated config (zsc.config.Config): everything in plain data,
    so it can travel to a job as params, including the files (zsc.dag's) of the outputs that read
    more than tables."""
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
        "clusterer_labels": _unique_labels({name: clusterer_label(config, name) for name in clusterers}),
        "chooses_k": [c for c in clusterers if not config.info("clusterers", c)["uses_n_clusters"]],
        "reducers": {r: _reducer_facts(config.entry("reducers", r)) for r in dict.fromkeys(run["reducer"] for run in runs)},
        "reducer_of": _reducer_of(config, clusterers),
        "protocol": protocol and {e: protocol["encoders"][e] for e in encoders},
        "umap_silhouette": bool(config.umap_reducer),
        "labelfree": config["labelfree"]["enabled"],
        "probes": config["probes"]["enabled"],
        "seed": shown_seed(config),
    }
    for name in datasets:
        spec, info = config.entry("datasets", name), config.info("datasets", name)
        levels = info.get("levels")
        out["datasets"][name] = {
            "group": info["group"],
            "n_classes": info["n_classes"],
            "description": registries()["datasets"][spec["type"]].description,
            "label": info["label"] if spec["type"] == name and info["label"] else name,
            "name": (info["full_name"] or info["label"] or name) if spec["type"] == name else name,
            "levels": [*levels, "label"] if levels else ["label"],
            "extra_labels": bool(info.get("levels") or info.get("extra_labels")),
            "labelled": labelled(config, name),
            # the clusterers that choose their k on it without labels (zsc.choose_k)
            "k_chosen_by": list(dict.fromkeys(r["clusterer"] for r in runs if r["dataset"] == name and may_choose(config, r))),
        }
    present = {d["group"] for d in out["datasets"].values()}
    out["groups"] = [g for g in STUDY_GROUPS if g in present] + sorted(present - set(STUDY_GROUPS))
    configured = [*config["encoders"], *(config.left_out or {})]
    unknown = sorted(set(config["outputs"]["encoders"]) - {name.split("@")[0] for name in configured})
    if unknown:
        raise ConfigError(f"outputs.encoders.{unknown[0]}: not an encoder of this config ({', '.join(config['encoders'])})")
    labels = _unique_labels({r: f["label"] for r, f in out["reducers"].items()})
    for reducer, label in labels.items():
        out["reducers"][reducer]["label"] = label
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
    out["files"] = _files(out)
    # every run's clusters (the per-image tables and contact sheets pick theirs by pattern)
    out["files"]["all_clusters"] = list(dict.fromkeys(CLUSTERS.format(**run) for run in runs))
    out["patterns"] = {"clusters": CLUSTERS, "manifest": MANIFEST}
    out["not_produced"] = {entry.name: why for entry in OUTPUTS if (why := entry.info["missing"](out))}
    return out


def _example_choices(config, runs: list[dict]) -> list[dict]:
    """The runs whose clusters the example-images figure may show, each of the seed the outputs show
    (zsc.dag.shown_seed): the config's choices (each marked "given"), or, by default, every run of
    that seed (the figure shows each dataset's best-AMI run among them, read from the runs table when
    it renders)."""
    wanted = config["outputs"]["example_images"]
    shown = [r for r in runs if r["seed"] == shown_seed(config)]
    if not wanted:
        return [dict(run) for run in shown]
    choices = []
    for i, want in enumerate(wanted):
        match = [r for r in shown if all(r[k] == want[k] for k in ("dataset", "encoder", "clusterer"))]
        if not match:
            grid = sorted({(r["dataset"], r["encoder"], r["clusterer"]) for r in runs})
            listed = f"{grid[:6]}{' ...' if len(grid) > 6 else ''}"
            raise ConfigError(
                f"outputs.example_images.{i}: {want} is not a run of this config (runs: dataset, encoder, clusterer in {listed})"
            )
        choices.append(match[0] | {"given": True})
    return choices


def _unique_labels(labels: dict[str, str]) -> dict[str, str]:
    """Display labels made unique: a label shared by several entries gets each entry's name appended."""
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {name: label if counts[label] == 1 else f"{label} ({name})" for name, label in labels.items()}


def _reducer_facts(spec: dict) -> dict:
    """How the outputs show a reducer: its label (UMAP-50, zPCA-50, zPCA 95%, no reduction, ...), its
    family (its registry entry's label: PCA, UMAP, ..., no reduction) and its dimensions (None for a
    variance fraction or none)."""
    type_, n = spec["type"], spec.get("n_components")
    family = registries()["reducers"][type_].info["label"]
    dims = int(n) if isinstance(n, int) or (isinstance(n, float) and n >= 1) else None
    if type_ == "pca":
        prefix = "zPCA" if spec.get("zscore", True) else "PCA"
        label = f"{prefix}-{dims}" if dims else f"{prefix} {100 * float(n):g}%"
    elif dims:
        label = f"{family}-{dims}"
    else:
        label = family
    return {"label": label, "family": family, "dims": dims}


def _reducer_of(config, clusterers: list[str]) -> dict[str, str] | None:
    """Without a protocol, the one reducer each clusterer is shown on wherever outputs average over
    clusterers or plot one point per pipeline: `outputs.reducer` (one name, or clusterer -> name),
    by default the config's UMAP-50 reducer (the study's U50) where it has one, else its first
    reducer. With a protocol: None (each clusterer uses its tuned reducer per encoder)."""
    given = config["outputs"]["reducer"]
    if config.protocol:
        if given:
            raise ConfigError("outputs.reducer: a protocol names each clusterer's reducer per encoder; remove outputs.reducer")
        return None
    reducers = list(config["reducers"])
    u50 = [r for r, e in config["reducers"].items() if {k: v for k, v in e.items() if k != "name"} == UMAP_SPACE]
    default = (u50 or reducers)[0] if reducers else None
    chosen = {c: given for c in clusterers} if isinstance(given, str) else dict(given or {})
    for clusterer, reducer in chosen.items():
        key = "outputs.reducer" if isinstance(given, str) else f"outputs.reducer.{clusterer}"
        if clusterer not in clusterers:
            raise ConfigError(f"{key}: {clusterer!r} is not a clusterer of this config ({', '.join(clusterers)})")
        if reducer not in reducers:
            raise ConfigError(f"{key}: {reducer!r} is not a reducer of this config ({', '.join(reducers)})")
    return {c: chosen.get(c, default) for c in clusterers}


def _files(facts_: dict) -> dict[str, list[str]]:
    """The non-table files some outputs read, by kind, in a fixed order."""
    pairs = [dict(zip(("dataset", "split", "encoder"), pair)) for pair in facts_["pairs"]]
    files = {
        "embeddings": [EMBEDDINGS.format(**pair) for pair in pairs],
        "clusters": [CLUSTERS.format(**choice) for choice in facts_["examples"]],
    }
    if facts_["maps"]:
        files["maps"] = [REDUCED.format(**pair, seed=facts_["seed"], reducer=MAP_REDUCER) for pair in pairs]
    splits = dict.fromkeys((pair["dataset"], pair["split"]) for pair in pairs)
    files["manifests"] = [MANIFEST.format(dataset=dataset, split=split) for dataset, split in splits]
    return files


def _source(config, dataset: str) -> dict:
    from ..datasets import root_of

    spec = config.entry("datasets", dataset)
    return {"spec": dict(spec), "root": str(root_of(spec))}
