"""Which image went to which cluster, and what the clusters look like: entries of the output registry
(zsc.outputs) that read, beside the result tables, each dataset's manifest, every run's clusters and
the images.

- `assignments`: per dataset one row per image (its index, its file path for an image folder, its
  true label where there is one), the cluster of the recommended pipeline and of every run;
- `cluster_sheets`: a contact sheet per cluster of each dataset's recommended pipeline.

The recommended pipeline is encoder_choice's (zsc.outputs.labelfree.recommendations), at the first
seed that ran. docs/outputs.md describes the files.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .registry import Data, output, save, write

log = logging.getLogger(__name__)

NOISE = -1  # the label of noise points (HDBSCAN)
SHEET_COLUMNS = 8  # thumbnails per row of a contact sheet
THUMBNAIL = 96  # pixels: each image is shrunk to fit this square before it is drawn


def run_column(run) -> str:
    """The per-image table's column of a run: <encoder>/<reducer>/<clusterer>/seed<seed>."""
    return f"{run['encoder']}/{run['reducer']}/{run['clusterer']}/seed{run['seed']}"


def recommended_runs(data: Data) -> dict:
    """Dataset -> the run (keys, with split and seed) of its recommended pipeline: the first seed at which
    that pipeline ran."""
    from .labelfree import recommendations

    _, recommended = recommendations(data)
    runs = data.runs[data.runs["status"] == "ran"] if "status" in data.runs else data.runs
    chosen = {}
    for row in recommended.itertuples():
        same = runs[(runs["dataset"] == row.dataset) & (runs["encoder"] == row.encoder) & (runs["reducer"] == row.reducer)]
        same = same[same["clusterer"] == row.clusterer].sort_values("seed", kind="mergesort")
        chosen[row.dataset] = same.iloc[0][["dataset", "split", "encoder", "reducer", "clusterer", "seed"]].to_dict()
    return chosen


def _clusters_file(data: Data, run: dict) -> str:
    path = data.facts["patterns"]["clusters"].format(**run)
    if path not in data.files["all_clusters"]:  # a file the render job did not declare: a bug, not a user's error
        raise ValueError(f"{path}: not an input of this output")
    return path


def _manifest(data: Data, dataset: str, split: str):
    from .. import tables

    return tables.read(data.facts["patterns"]["manifest"].format(dataset=dataset, split=split))


def _images(data: Data, dataset: str, manifest: dict):
    """The dataset's images, checked against the manifest: an image folder whose files changed since it
    was prepared would show other images than those clustered."""
    from ..datasets import open_split

    source = data.facts["sources"][dataset]
    images = open_split(source["spec"], Path(source["root"]), download=False)
    if "path" in manifest and images.paths is not None:
        indices = manifest["index"]
        now = [images.paths[i] if i < len(images.paths) else None for i in indices]
        changed = [(was, is_) for was, is_ in zip(manifest["path"], now) if was != is_]
        if changed:
            raise ValueError(
                f"{source['root']}: the folder changed since it was prepared ({changed[0][0]} is now {changed[0][1]}); "
                f"rerun from its prepare_dataset job: snakemake --cores all --forcerun prepare_dataset"
            )
    return images


def assignment_table(data: Data, dataset: str, recommended: dict | None):
    """One row per image of `dataset`: index, path (image folders), label (class name, where labelled),
    cluster (the recommended run's), then one column per run that ran (run_column), in runs.parquet's order."""
    import numpy as np
    import pandas as pd

    from .. import tables

    runs = data.runs[data.runs["dataset"] == dataset]
    ran = runs[runs["status"] == "ran"] if "status" in runs else runs
    split = runs["split"].iloc[0]
    manifest, meta = _manifest(data, dataset, split)
    index = manifest["index"]
    table = {"index": index}
    if "path" in manifest:
        table["path"] = manifest["path"].astype(str)
    labels = manifest["label"]
    if np.any(labels != NOISE):
        classes = np.asarray(meta["classes"], dtype=object)
        table["label"] = np.where(labels >= 0, classes[np.clip(labels, 0, None)], None)
    per_run = {}
    for run in ran[["dataset", "split", "encoder", "reducer", "clusterer", "seed"]].to_dict("records"):
        clusters, _ = tables.read(_clusters_file(data, run))
        if not np.array_equal(clusters["index"], index):
            raise ValueError(f"{_clusters_file(data, run)}: its samples are not those of the manifest of {dataset}/{split}")
        per_run[run_column(run)] = clusters["label_pred"].astype(np.int64)
    if recommended is not None:
        table["cluster"] = per_run[run_column(recommended)]
    table.update(per_run)
    return pd.DataFrame(table)


@output(
    "assignments",
    "table",
    "Which image went to which cluster: per dataset one row per image (its index in the dataset; for an image folder "
    "its file path relative to the folder; its true label where there is one), the cluster of the recommended pipeline "
    "(encoder_choice; -1: noise) and, in the parquet file, the cluster of every run (columns "
    "<encoder>/<reducer>/<clusterer>/seed<seed>). assignments_<dataset>.parquet for every dataset; "
    "assignments_<dataset>.csv (path, label, cluster) for image folders; clusters_<dataset>: the recommended pipeline's "
    "clusters with their size and, where labelled, majority class and purity.",
    "runs (reads the manifests and every run's clusters)",
    files=("manifests", "all_clusters"),
    category="Clusters",
)
def assignments(data: Data, out: Path):
    from .. import tables

    recommended = recommended_runs(data)
    for dataset in data.runs["dataset"].unique():
        table = assignment_table(data, dataset, recommended.get(dataset))
        run = recommended.get(dataset)
        meta = {"dataset": dataset, "recommended": run and run_column(run)}
        tables.write_frame(out / f"assignments_{dataset}.parquet", table, meta)
        if "path" in table:  # an image folder: file path -> cluster, for a person or a spreadsheet
            columns = [c for c in ("path", "label", "cluster") if c in table]
            (out / f"assignments_{dataset}.csv").write_text(
                table[columns].to_csv(index=False, lineterminator="\n"), encoding="utf-8"
            )
        if run is not None:
            caption = f"Clusters of {dataset} by its recommended pipeline ({run_column(run)}): size and, where labelled, "
            caption += "majority class and purity"
            write(cluster_summary(table), out, f"clusters_{dataset}", best=None, shade=False, digits=1, caption=caption)


def cluster_summary(table):
    """The recommended pipeline's clusters (`cluster` of assignment_table): cluster, size and, with
    labels, the majority class and purity (% of the cluster in it); largest first, noise last."""
    import pandas as pd

    rows = []
    for cluster, members in table.groupby("cluster", sort=True):
        row = {"cluster": int(cluster), "size": len(members)}
        if "label" in members:
            counts = members["label"].value_counts(sort=False).sort_index(kind="mergesort")
            row.update({"majority class": counts.idxmax(), "purity (%)": 100 * counts.max() / len(members)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = sorted(
        range(len(frame)), key=lambda i: (frame["cluster"].iloc[i] == NOISE, -frame["size"].iloc[i], frame["cluster"].iloc[i])
    )
    return frame.iloc[order].reset_index(drop=True)


def sheet_members(labels, indices, cluster: int, n_images: int, seed: int):
    """The dataset indices a cluster's contact sheet shows: all of them for a small cluster, else a
    random sample of `n_images` seeded by (seed, cluster), in index order."""
    import numpy as np

    members = np.sort(indices[labels == cluster])
    if len(members) <= n_images:
        return members
    rng = np.random.default_rng([seed, int(cluster) - NOISE])
    return np.sort(rng.choice(members, size=n_images, replace=False))


def sheet_title(data: Data, dataset: str, run: dict, cluster: int, size: int, n_clusters: int, true_labels) -> str:
    """The sheet's title: dataset, pipeline, cluster and size; for labelled data the majority class and its share."""
    import numpy as np

    from .labelfree import names

    shown = names(data.facts)
    encoder = shown["encoder"].get(run["encoder"], run["encoder"])
    clusterer = shown["clusterer"].get(run["clusterer"], run["clusterer"])
    pipeline = f"{encoder} / {shown['reducer'].get(run['reducer'], run['reducer'])} / {clusterer}"
    which = "noise (not clustered)" if cluster == NOISE else f"cluster {cluster} of {n_clusters}"
    name = data.facts["datasets"].get(dataset, {}).get("name") or shown["dataset"].get(dataset, dataset)  # full name
    lines = [f"{name}: {which}, {size:,} images", pipeline]
    if true_labels is not None and len(true_labels):
        values, counts = np.unique(true_labels, return_counts=True)
        top = int(np.argmax(counts))  # ties: the first class name in sorted order
        lines.append(f"majority class: {values[top]}, purity {100 * counts[top] / size:.0f}%")
    return "\n".join(lines)


@output(
    "cluster_sheets",
    "figure",
    "A contact sheet per cluster of each dataset's recommended pipeline (encoder_choice): a grid of the cluster's "
    "images (outputs.contact_sheet_images at most, a random sample seeded by the run's seed and the cluster), the "
    "cluster's size and, for labelled data, its majority class and purity; the largest clusters first "
    "(outputs.contact_sheets at most per dataset, noise last). Files sheet_<dataset>_cluster<N>.png (PNG only).",
    "runs (reads the images, the manifests and the recommended run's clusters)",
    files=("manifests", "all_clusters"),
    category="Clusters",
)
def cluster_sheets(data: Data, out: Path):
    import numpy as np

    from .. import plots, tables

    limits = data.facts["sheets"]
    for dataset, run in recommended_runs(data).items():
        manifest, meta = _manifest(data, dataset, run["split"])
        images = _images(data, dataset, manifest)
        clusters, _ = tables.read(_clusters_file(data, run))
        labels, indices = clusters["label_pred"], clusters["index"]
        if not np.array_equal(indices, manifest["index"]):
            raise ValueError(
                f"{_clusters_file(data, run)}: its samples are not those of the manifest of {dataset}/{run['split']}"
            )
        true = manifest["label"] if np.any(manifest["label"] != NOISE) else None
        classes = np.asarray(meta["classes"], dtype=object)
        values, counts = np.unique(labels, return_counts=True)
        order = sorted(range(len(values)), key=lambda i: (values[i] == NOISE, -counts[i], values[i]))
        shown = order if limits["clusters"] is None else order[: limits["clusters"]]
        if len(shown) < len(order):
            log.info(
                "%s: contact sheets of the %d largest of %d clusters (outputs.contact_sheets)", dataset, len(shown), len(order)
            )
        width = len(str(int(values.max())))
        for i in shown:
            cluster, size = int(values[i]), int(counts[i])
            picks = sheet_members(labels, indices, cluster, limits["images"], int(run["seed"]))
            members = true[labels == cluster] if true is not None else None
            title = sheet_title(
                data, dataset, run, cluster, size, int(np.sum(values != NOISE)), None if members is None else classes[members]
            )
            thumbnails = [_thumbnail(images.image(int(p))) for p in picks]
            name = "noise" if cluster == NOISE else f"cluster{cluster:0{width}d}"
            # PNG only: sheets are for looking at (in the report), and a PDF of each costs as much again
            save(plots.contact_sheet(thumbnails, title, SHEET_COLUMNS), out, f"sheet_{dataset}_{name}", pdf=False)


def _thumbnail(image):
    """An image shrunk to fit THUMBNAIL x THUMBNAIL pixels (never enlarged), as an RGB array."""
    import numpy as np

    image = image.convert("RGB")
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    return np.asarray(image)
