"""Benchmark: how well choose_k's label-free criterion picks the number of clusters, on labelled data.

    python -m zsc.bench_choose_k [--workdir DIR] [--fashion-n 2000] [--per-kind 40] [--image-size 64] [--cores 2]

Runs the workflow (snakemake, to results/tables/runs.parquet) on the labelled datasets it can run
offline: scikit-learn's digits (1,797), a stratified Fashion-MNIST subsample (`--fashion-n`) and an
image folder of generated images (four kinds, each a shape in a hue of its own, at random places
and sizes on noisy grey backgrounds: `generated_folder`), each embedded by raw pixels and a random-init ResNet-18
(`--image-size`), reduced by none and the study's UMAP-50. Every clusterer that is given a number
(K-Means, agglomerative ward, spectral) runs three times per cell: given the true number of
classes (choose_k.when: never), and choosing k on the labelled data (when: always) by each criterion
(silhouette_umap, the default; silhouette_reduced). It prints, per clusterer and criterion over the
(dataset, encoder, reducer) cells: the hit rate (chosen k == the number of classes), the mean |k -
true| and the mean AMI lost against the run given the true k; then every cell.

The embeddings and reductions stay in the work folder (default: a new temporary one), so a second
run with --workdir clusters again only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CLUSTERERS = {
    "kmeans": {"type": "kmeans"},
    "ac_ward": {"type": "agglomerative", "linkage": "ward"},
    "spectral": {"type": "spectral"},
}
CRITERIA = {"": None, "_umap": "silhouette_umap", "_reduced": "silhouette_reduced"}  # entry suffix: criterion (None: the true k)
KINDS = ("disc", "square", "stripes", "ring")


# Each kind: a shape and a hue of its own (jittered), so that pixels carry the kind; places, sizes,
# backgrounds and noise vary within a kind.
HUES = {"disc": (220, 60, 50), "square": (50, 170, 70), "stripes": (60, 90, 220), "ring": (230, 190, 40)}


def shape_image(kind: str, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """One size x size RGB image of a shape `kind` (KINDS) in its hue (jittered), at a random place
    and size on a random grey background with noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    cy, cx = rng.uniform(0.35, 0.65, 2) * size
    r = rng.uniform(0.2, 0.32) * size
    if kind == "disc":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    elif kind == "square":
        mask = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    elif kind == "stripes":
        mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r) & ((xx // max(2, r / 3)) % 2 == 0)
    else:  # ring
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        mask = (d <= r) & (d >= 0.6 * r)
    image = np.full((size, size, 3), rng.uniform(100, 160)) + rng.normal(0, 12, (size, size, 3))
    image[mask] = np.asarray(HUES[kind]) + rng.normal(0, 25, 3) + rng.normal(0, 12, (int(mask.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def generated_folder(root: Path, per_kind: int = 40, kinds=KINDS, seed: int = 0, labelled: bool = True) -> Path:
    """An image folder of `per_kind` generated PNG images of each kind: one sub-folder per kind
    (labelled) or all in `root` (flat, unlabelled)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for kind in kinds:
        folder = root / kind if labelled else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_kind):
            Image.fromarray(shape_image(kind, rng)).save(folder / f"{kind}_{i:03d}.png")
    return root


def config(args, folder: Path) -> dict:
    clusterers = {}
    for name, entry in CLUSTERERS.items():
        for suffix, criterion in CRITERIA.items():
            choice = {"when": "never"} if criterion is None else {"when": "always", "criterion": criterion}
            clusterers[name + suffix] = {**entry, "choose_k": choice}
    return {
        "seeds": [1],
        "datasets": {
            "digits": {"probe_split": "none"},
            "fashionmnist": {"max_samples": args.fashion_n, "probe_split": "none"},
            "shapes": {"type": "imagefolder", "root": str(folder), "probe_split": "none"},
        },
        "encoders": {
            "raw": {},
            "random_resnet18": {"type": "timm", "model": "resnet18", "pretrained": False, "image_size": args.image_size},
        },
        "reducers": {"none": {}, "umap50": {"type": "umap"}},
        "clusterers": clusterers,
        "labelfree": {"enabled": False},
        "probes": {"enabled": False},
        "outputs": {"embedding_maps": False},
    }


def summarise(runs):
    """(per clusterer and criterion: cells, hit rate, mean |k - true|, mean AMI lost; every cell)."""
    import pandas as pd

    runs = runs[runs["status"] == "ran"].copy()
    runs["method"] = runs["clusterer"].str.replace(r"_(umap|reduced)$", "", regex=True)
    cell = ["dataset", "encoder", "reducer", "method"]
    given = runs[runs["k_curve"] == ""].set_index(cell)[["AMI"]].rename(columns={"AMI": "AMI_true_k"})
    chose = runs[runs["k_curve"] != ""].join(given, on=cell)
    chose["hit"] = chose["k_chosen"] == chose["n_clusters_true"]
    chose["abs_error"] = (chose["k_chosen"] - chose["n_clusters_true"]).abs()
    chose["AMI_lost"] = chose["AMI_true_k"] - chose["AMI"]
    summary = (
        chose.groupby(["method", "k_criterion"], sort=False)
        .agg(
            cells=("hit", "size"),
            hit_rate=("hit", "mean"),
            mean_abs_k_error=("abs_error", "mean"),
            mean_AMI_lost=("AMI_lost", "mean"),
        )
        .reset_index()
    )
    cells = chose[[*cell, "k_criterion", "n_clusters_true", "k_chosen", "AMI_true_k", "AMI", "AMI_lost"]]
    return summary, pd.DataFrame(cells).reset_index(drop=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zsc.bench_choose_k", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="work folder (kept; default: a new temporary folder)")
    parser.add_argument("--fashion-n", type=int, default=2000, help="Fashion-MNIST images (stratified subsample)")
    parser.add_argument("--per-kind", type=int, default=40, help="generated images per kind of the image folder")
    parser.add_argument("--image-size", type=int, default=64, help="input size of the random ResNet-18")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)

    import pandas as pd
    import yaml

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_choose_k_"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "shapes"
    if not folder.exists():
        generated_folder(folder, args.per_kind)
    (work / "config.yaml").write_text(yaml.safe_dump(config(args, folder), sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "results/tables/runs.parquet", "-s", str(REPO / "Snakefile"), "-d", str(work)]
    # the table again from whatever runs are missing (snakemake would not remake deleted intermediates)
    cmd += ["--configfile", "config.yaml", "--cores", str(args.cores), "--forcerun", "aggregate", "-q"]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"snakemake failed in {work}:\n{done.stderr[-3000:]}")
    print(f"workflow: {time.perf_counter() - started:.0f} s in {work}")
    summary, cells = summarise(pd.read_parquet(work / "results/tables/runs.parquet"))
    print(summary.to_markdown(index=False, floatfmt=".3f"))
    print()
    by_dataset = cells.assign(hit=cells["k_chosen"] == cells["n_clusters_true"]).groupby(
        ["dataset", "method", "k_criterion"], sort=False
    )
    print(
        by_dataset.agg(
            hits=("hit", "sum"),
            k_chosen=("k_chosen", lambda k: " ".join(str(int(v)) for v in k)),
            mean_AMI_lost=("AMI_lost", "mean"),
        )
        .reset_index()
        .to_markdown(index=False, floatfmt=".3f")
    )
    print()
    print(cells.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
