"""What the outputs know of a config: `facts(config)`, computed at parse time from the validated
config alone (dataset groups and labels, encoder architectures and training, clusterer labels, the
clusterers averaged, the protocol, the files the file-reading outputs need) and handed to the
render jobs as params, so that a render job never loads the config."""

from __future__ import annotations

from ..config import ConfigError, registries
from ..dag import CLUSTERS, EMBEDDINGS, MANIFEST, REDUCED, shown_seed
from ..vocabulary import ARCHITECTURES, MAP_REDUCER, STUDY_GROUPS
from .registry import OUTPUTS


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
    label = info["label"] or base
    own = config["outputs"]["encoders"].get(base, {})
    facts = {"label": own.get("label", label), "architecture": own.get("architecture", _architecture(spec, info))}
    facts["training"] = own.get("training", _training(spec, info))
    if "@" in name:
        facts.update(label=f"{facts['label']}@{name.split('@', 1)[1]}", series=base, checkpoint=name.split("@", 1)[1])
    return facts


def clusterer_label(config, name: str) -> str:
    """How tables and figures name a clusterer of the config: its registry entry's label (the
    study's name of the method, e.g. "AC w/ C") when the entry is named after its type or after the
    name the study's params give it (`study_name`), else the config's own name for it."""
    entry = registries()["clusterers"][config.entry("clusterers", name)["type"]]
    return entry.info["label"] if name in (entry.name, entry.info.get("study_name")) else name


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
        "clusterer_labels": {name: clusterer_label(config, name) for name in clusterers},
        "chooses_k": [c for c in clusterers if not config.info("clusterers", c)["uses_n_clusters"]],
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
    out["files"] = _files(out)
    # every run's clusters (the per-image tables and contact sheets pick theirs by pattern)
    out["files"]["all_clusters"] = list(dict.fromkeys(CLUSTERS.format(**run) for run in runs))
    out["patterns"] = {"clusters": CLUSTERS, "manifest": MANIFEST}
    out["not_produced"] = {entry.name: why for entry in OUTPUTS if (why := entry.info["missing"](out))}
    return out


def _example_choices(config, runs: list[dict]) -> list[dict]:
    """The runs whose clusters the example-images figure shows: the config's choices, or the first
    run of the first neural encoder (else the first encoder) on the first dataset, each of the
    seed the outputs show (zsc.dag.shown_seed)."""
    wanted = config["outputs"]["example_images"]
    shown = [r for r in runs if r["seed"] == shown_seed(config)]
    if not wanted and runs:
        neural = [r for r in runs if config.info("encoders", r["encoder"])["neural"]]
        first = (neural or runs)[0]
        wanted = [{"dataset": first["dataset"], "encoder": first["encoder"], "clusterer": first["clusterer"]}]
    choices = []
    for i, want in enumerate(wanted):
        match = [r for r in shown if all(r[k] == want[k] for k in ("dataset", "encoder", "clusterer"))]
        if not match:
            grid = sorted({(r["dataset"], r["encoder"], r["clusterer"]) for r in runs})
            listed = f"{grid[:6]}{' ...' if len(grid) > 6 else ''}"
            raise ConfigError(
                f"outputs.example_images.{i}: {want} is not a run of this config (runs: dataset, encoder, clusterer in {listed})"
            )
        choices.append(match[0])
    return choices


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
