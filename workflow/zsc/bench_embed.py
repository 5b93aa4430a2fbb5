"""Benchmark: the embedding stage's images/s against a bare forward pass of the same model.

    python -m zsc.bench_embed [--encoder-type timm --model resnet18] [--dataset fashionmnist] [--n 512]
                              [--batch-size 64] [--device auto] [--precision float32] [--num-workers auto]

Both run in one process on the same machine: first the stage's own path (`encoders.embed_images`:
decoding PIL images, the study's resize/crop/normalise, batching, forward, copy back), then the
model alone on the same images as pre-made tensors. The ratio says how much the input pipeline
costs: 1.0 means data loading is fully hidden.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder-type", default="timm", help="registry entry (timm, torchvision or a study encoder)")
    parser.add_argument("--model", default="resnet18", help="model name for the timm/torchvision types")
    parser.add_argument("--dataset", default="fashionmnist")
    parser.add_argument("--root", default=None, help="dataset root (default resources/datasets/<dataset>)")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--num-workers", default="auto")
    parser.add_argument("--repeats", type=int, default=2, help="timings of each, alternated; the best counts")
    args = parser.parse_args(argv)

    import torch

    from . import config as cfg
    from . import datasets, encoders

    encoder = {"type": args.encoder_type}
    if args.encoder_type in ("timm", "torchvision"):
        encoder["model"] = args.model
    workers = args.num_workers if args.num_workers == "auto" else int(args.num_workers)
    config = cfg.load(
        {
            "datasets": {args.dataset: {}},
            "encoders": {"bench": encoder},
            "reducers": {"none": {}},
            "clusterers": {"kmeans": {}},
            "embedding": {
                "device": args.device,
                "batch_size": args.batch_size,
                "precision": args.precision,
                "num_workers": workers,
            },
        }
    )
    spec = config.entry("datasets", args.dataset)
    root = Path(args.root or f"resources/datasets/{spec['type']}")
    images = datasets.open_split(spec, root, download=True)
    n = min(args.n, len(images))
    indices = np.arange(n)
    model = encoders.load_encoder(config.entry("encoders", "bench"), config["embedding"], datasets.native_size(spec["type"]))

    warm = next(
        iter(
            torch.utils.data.DataLoader(
                encoders._ManifestImages(images, indices[: args.batch_size], model.transform), batch_size=args.batch_size
            )
        )
    )
    model(warm)  # first-call costs (allocations, cuDNN/oneDNN setup) out of both timings
    if model.device.startswith("cuda"):
        torch.cuda.synchronize()

    # The same images, decoded and transformed beforehand: only the forward pass is left to time.
    loader = torch.utils.data.DataLoader(encoders._ManifestImages(images, indices, model.transform), batch_size=args.batch_size)
    batches = list(loader)

    def stage():
        return encoders.embed_images(model, images, indices, config["embedding"], desc="stage")

    def bare():
        for batch in batches:
            model(batch)

    # Alternate the two and keep each one's best time, so neither gains from running second.
    stage_s, bare_s = float("inf"), float("inf")
    for _ in range(args.repeats):
        stage_s = min(stage_s, _timed(stage, model.device))
        bare_s = min(bare_s, _timed(bare, model.device))
    print(f"machine: {torch.get_num_threads()} torch threads, device {model.device}, torch {torch.__version__}")
    print(
        f"encoder {args.encoder_type}:{args.model}  dataset {args.dataset}  n={n}  "
        f"batch={args.batch_size}  input {tuple(warm.shape[1:])}  dim {model(warm).shape[1]}"
    )
    print(f"stage (decode + transform + forward): {n / stage_s:8.1f} images/s  ({stage_s:.1f} s)")
    print(f"bare forward on pre-made tensors:    {n / bare_s:8.1f} images/s  ({bare_s:.1f} s)")
    print(f"ratio stage / bare: {bare_s / stage_s:.3f}")


def _timed(work, device) -> float:
    import torch

    start = time.perf_counter()
    work()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
