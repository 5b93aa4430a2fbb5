"""Benchmark: the labelled references (kNN and linear probes) against the rest of a labelled folder's run.

    python -m zsc.bench_probes [--folder DIR] [--n 1719] [--image-size PX] [--cores 2] [--workdir DIR]

Builds a labelled image folder like a user's clip-art collection (or takes one, `--folder`): `--n`
PNGs of 48 x 48 pixels in 12 classes, four shapes in three colours, each on white or a pale
background with a disc of another colour beside it, flat colours without noise; seeded, so the
same files every time. It runs the whole workflow on it from empty (raw pixels, 3,072-d at 32 px,
and a random-init ResNet-18 at `--image-size`, default the encoder's 224; none, z-scored PCA-50 and
UMAP-50; K-Means, ward and HDBSCAN: 18 clustering jobs) and reads every job's seconds from
results/tables/stage_times.csv.

On the workflow's embeddings it then times the probes' computation (the carve, the kNN and the
linear probe) both ways, in this process:

- old: `reference_probes`, the code path before the probes ran on one thread, on the two BLAS and
  OpenMP threads its rule gave it;
- new: `zsc.probes.probe_embeddings`, on the one thread its rule now gives it,

and prints old and new seconds, chosen C, validation and test accuracy and the kNN accuracies,
whether the workflow's probes.parquet rows equal the new ones, and the probes' share of the run's
job time after (measured) and before (the probes jobs' seconds with the old computation's time in
place of the new one's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from .bench_cluster import REPO, _snakemake

OLD_THREADS = 2  # the probes rule's threads before the linear probe ran on one
SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {"red": (220, 60, 40), "green": (50, 170, 60), "blue": (40, 80, 210)}
IMAGE_PX = 48


def _clipart(shape: str, colour: tuple, rng: np.random.Generator):
    """One image: `shape` in a jittered `colour`, at a random place and size, beside a disc of a random colour."""
    from PIL import Image, ImageDraw

    background = (255, 255, 255) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(150, 256, 3))
    image = Image.new("RGB", (IMAGE_PX, IMAGE_PX), background)
    draw = ImageDraw.Draw(image)
    r = rng.uniform(4, 9)
    x, y = rng.uniform(r, IMAGE_PX - r, 2)
    draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    r = rng.uniform(9, 18)
    x, y = rng.uniform(r, IMAGE_PX - r, 2)
    fill = tuple(int(v) for v in np.clip(np.array(colour) + rng.normal(0, 30, 3), 0, 255))
    if shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    elif shape == "square":
        draw.rectangle([x - r, y - r, x + r, y + r], fill=fill)
    elif shape == "triangle":
        draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
    else:  # cross
        draw.rectangle([x - r, y - r / 3, x + r, y + r / 3], fill=fill)
        draw.rectangle([x - r / 3, y - r, x + r / 3, y + r], fill=fill)
    return image


def clipart_images(n: int, seed: int = 0) -> tuple[list, list[str]]:
    """`n` generated clip-art images (PIL, IMAGE_PX square) and their class names (`circle_red`, ...),
    the 12 classes taking turns; the same images for the same n and seed."""
    rng = np.random.default_rng(seed)
    classes = [(shape, colour) for shape in SHAPES for colour in COLOURS]
    picked = [classes[i % len(classes)] for i in range(n)]
    return [_clipart(shape, COLOURS[colour], rng) for shape, colour in picked], [f"{shape}_{colour}" for shape, colour in picked]


def write_clipart_folder(root: Path, n: int = 1719, seed: int = 0) -> Path:
    """A labelled folder of clipart_images(n, seed): one sub-folder per class, PNGs named by their number."""
    images, names = clipart_images(n, seed)
    for i, (image, name) in enumerate(zip(images, names)):
        (Path(root) / name).mkdir(parents=True, exist_ok=True)
        image.save(Path(root) / name / f"{i:05d}.png")
    return Path(root)


def reference_linear_probe_accuracy(
    train_X, train_y, test_X, test_y, Cs, val_fraction: float, seed: int, max_iter: int = 1000
) -> dict:
    """The linear probe as computed before its fits ran on one thread (the reference of tests and of
    this benchmark): the same cold lbfgs fits, on whatever threads the caller allows."""
    from . import probes

    train_X, train_y = np.asarray(train_X), np.asarray(train_y)
    if len(np.unique(train_y)) < 2:
        return dict.fromkeys(["linear_probe_top1", "linear_probe_C", "linear_probe_val_top1"], float("nan"))
    fit, val = probes._split(train_y, 1 - val_fraction, seed)
    best_C, best_val = None, -1.0
    for C in sorted(Cs):
        accuracy = probes._probe(C, max_iter).fit(train_X[fit], train_y[fit]).score(train_X[val], train_y[val])
        if accuracy > best_val:
            best_C, best_val = C, accuracy
    test_accuracy = probes._probe(best_C, max_iter).fit(train_X, train_y).score(np.asarray(test_X), np.asarray(test_y))
    return {"linear_probe_top1": float(test_accuracy), "linear_probe_C": float(best_C), "linear_probe_val_top1": float(best_val)}


def reference_probes(X: np.ndarray, y: np.ndarray, settings: dict) -> dict:
    """The old probes job's numbers for a dataset without a train split (a carve), on OLD_THREADS threads."""
    from threadpoolctl import threadpool_limits

    from . import probes

    train, rest = probes.probe_split(y, settings["carve_fraction"], settings["seed"])
    sets = (X[train], y[train], X[rest], y[rest])
    with threadpool_limits(limits=OLD_THREADS):
        knn = probes.weighted_knn_accuracy(*sets, ks=settings["knn_k"], temperature=settings["temperature"])
        probe = reference_linear_probe_accuracy(
            *sets, Cs=settings["Cs"], val_fraction=settings["val_fraction"], seed=settings["seed"]
        )
    return {"n_train": len(train), "n_test": len(rest), **knn, **probe}


def folder_config(root: Path, image_size: int | None) -> dict:
    resnet = {"type": "timm", "model": "resnet18", "pretrained": False}
    if image_size:
        resnet["image_size"] = image_size
    return {
        "seeds": [1],
        "datasets": {"clipart": {"type": "imagefolder", "root": str(root)}},
        "encoders": {"raw": {}, "random_resnet18": resnet},
        "reducers": {"none": {}, "zpca50": {"type": "pca", "n_components": 50}, "umap50": {"type": "umap"}},
        "clusterers": {"kmeans": {}, "ac_ward": {"type": "agglomerative", "linkage": "ward"}, "hdbscan": {}},
    }


def _timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def compare(run: Path, config: dict, workdir: Path) -> tuple[float, float]:
    """Prints old and new probes per encoder of the finished run's embeddings; returns their total seconds (old, new)."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    import zsc.config

    from . import probes, tables

    settings = zsc.config.load(config)["probes"]
    workflow_rows = pd.read_parquet(run / "results/tables/probes.parquet").set_index("encoder")
    knn = [f"knn_top1_k{k}" for k in settings["knn_k"]]
    print(
        "\n| encoder | d | train / queries | seconds old / new | C old / new | val top-1 old / new | linear top-1 old / new "
        f"| kNN top-1 (k = {', '.join(map(str, settings['knn_k']))}) old / new | workflow's row = new |"
        "\n|---|---|---|---|---|---|---|---|---|"
    )
    old_total = new_total = 0.0
    for encoder in config["encoders"]:
        path = run / f"results/embeddings/clipart/all/{encoder}.parquet"
        columns, _ = tables.read(path, columns=["label", tables.VECTOR])
        X, y = columns[tables.VECTOR], columns["label"]
        old, old_s = _timed(reference_probes, X, y, settings)
        out = workdir / f"probes-{encoder}.parquet"
        keys = {"dataset": "clipart", "split": "all", "encoder": encoder}
        with threadpool_limits(limits=1):  # the new rule's one thread
            _, new_s = _timed(probes.probe_embeddings, path, None, out, keys, {"mode": "carve"}, settings)
        new = pd.read_parquet(out).iloc[0]
        old_total, new_total = old_total + old_s, new_total + new_s
        same_row = workflow_rows.loc[encoder].to_dict() == new.drop("encoder").to_dict()
        print(
            f"| {encoder} | {X.shape[1]} | {old['n_train']} / {old['n_test']} | {old_s:.1f} / {new_s:.1f} "
            f"| {old['linear_probe_C']:g} / {new['linear_probe_C']:g} "
            f"| {old['linear_probe_val_top1']:.4f} / {new['linear_probe_val_top1']:.4f} "
            f"| {old['linear_probe_top1']:.4f} / {new['linear_probe_top1']:.4f} "
            f"| {', '.join(f'{old[k]:.4f}' for k in knn)} / {', '.join(f'{new[k]:.4f}' for k in knn)} "
            f"| {'yes' if same_row else 'NO'} |",
            flush=True,
        )
    return old_total, new_total


def bench(args) -> None:
    import pandas as pd

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_probes_"))
    root = Path(args.folder) if args.folder else workdir / "folder"
    if not args.folder and not root.exists():
        write_clipart_folder(root, args.n)
    run = workdir / "run"
    shutil.rmtree(run, ignore_errors=True)  # the whole run from empty, every time
    run.mkdir(parents=True)
    config = folder_config(root.resolve(), args.image_size)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "HF_HUB_OFFLINE": "1"}
    _, wall = _timed(lambda: _snakemake(run, "--cores", str(args.cores), env=env))
    times = pd.read_csv(run / "results/tables/stage_times.csv")
    by_stage = times.groupby("stage", sort=False)["seconds"].agg(["count", "sum"])
    total = float(times["seconds"].sum())
    print(
        f"\n## {root} ({sum(1 for _ in root.rglob('*.png'))} PNGs), {args.cores} cores: "
        f"the workflow from empty in {wall:.0f} s wall"
    )
    print("\n| stage | jobs | job seconds |\n|---|---|---|")
    for stage, row in by_stage.iterrows():
        print(f"| {stage} | {int(row['count'])} | {row['sum']:.1f} |")
    print(f"| all | {len(times)} | {total:.1f} |")

    old_total, new_total = compare(run, config, workdir)
    probes_after = float(times.loc[times["stage"] == "probes", "seconds"].sum())
    probes_before = probes_after - new_total + old_total
    total_before = total - probes_after + probes_before
    print(
        f"\nprobes' share of the run's job time: after {probes_after:.1f} of {total:.1f} s "
        f"= {100 * probes_after / total:.1f}% (measured)"
    )
    print(
        f"before: {probes_before:.1f} of {total_before:.1f} s = {100 * probes_before / total_before:.1f}% "
        f"(the probes jobs' {probes_after:.1f} s with the old computation's {old_total:.1f} s "
        f"in place of the new one's {new_total:.1f} s)"
    )
    print(f"work folder (kept): {workdir}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--folder", default=None, help="a labelled image folder (one sub-folder per class) instead of the generated one"
    )
    parser.add_argument("--n", type=int, default=1719, help="images of the generated folder")
    parser.add_argument("--image-size", type=int, default=None, help="the random ResNet-18's input size (default its 224)")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--workdir", default=None, help="kept; its generated folder is reused, the run redone from empty")
    bench(parser.parse_args(argv))


if __name__ == "__main__":
    main()
