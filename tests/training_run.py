"""A real, small training run made offline: a checkpoint series for the workflow to embed.

`train_checkpoints` trains a timm network from random init with a supervised cross-entropy loss on
scikit-learn's bundled digits and saves the backbone's state dict at epoch 0 (before any training)
and after selected epochs. Each file is the state dict of `timm.create_model(model, num_classes=0)`
(no classifier keys), so it loads through the workflow's own path for a timm encoder with a
`weights_file` (`timm.create_model(model, pretrained=True, pretrained_cfg_overlay={"file": path},
num_classes=0)`) and through `weights.load_into` with no missing or unexpected keys.

The data are the images the workflow itself clusters as its `digits` dataset (all 1,797 images),
preprocessed exactly as its embed stage sees them: the dataset's own 8x8 greyscale PIL images,
resized to `image_size`, greyscale repeated to 3 channels, ImageNet mean/std (zsc.encoders'
`study_transform` and `normalise`). Training on the images that will later be clustered is
deliberate: this is a fixture whose point is that later checkpoints separate the classes better
(a linear probe's accuracy rises over the series), not a benchmark. The network trains on
`train_indices()` (three quarters of the images, stratified, seeded); `held_out_indices()` is the
rest, for a probe that measures the representation on images the network never saw. Clustering
scores of the later checkpoints on the whole dataset are therefore optimistic.

Deterministic: seeded init, a seeded permutation per epoch, no augmentation, no data-loader workers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

HELD_OUT = 0.25  # fraction of digits kept out of training (stratified), for the probe
SPLIT_SEED = 0


def digits_pixels(image_size: int):
    """(images, labels): all 1,797 digits as a float NCHW tensor, exactly as the embed stage sees them."""
    import torch

    from zsc import datasets
    from zsc.encoders import normalise, study_transform

    images = datasets.digits(None, "all", False)  # the workflow's `digits` dataset: PIL "L" images
    transform = study_transform(image_size)
    pixels = torch.stack([transform(images.image(i)) for i in range(len(images))])  # uint8, 3 channels
    return normalise(pixels), torch.from_numpy(images.labels)


def _split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    labels = load_digits().target
    return train_test_split(np.arange(len(labels)), test_size=HELD_OUT, stratify=labels, random_state=SPLIT_SEED)


def train_indices() -> np.ndarray:
    """Sorted indices (into the digits dataset) the network trains on."""
    return np.sort(_split()[0])


def held_out_indices() -> np.ndarray:
    """Sorted indices (into the digits dataset) the network never sees."""
    return np.sort(_split()[1])


def train_checkpoints(
    out_dir: Path,
    model: str = "resnet10t",
    epochs: int = 4,
    image_size: int = 32,
    seed: int = 0,
    save_epochs=None,
    batch_size: int = 64,
    lr: float = 2e-3,
) -> dict[str, Path]:
    """Train `model` (timm, random init) on digits; return {label: checkpoint path} in training order.

    Saves `out_dir/ep{epoch:03d}.pth` (label `ep{epoch:03d}`) at epoch 0, before any training, and
    after each epoch in `save_epochs` (default: the first and the last). Each file is the backbone's
    state dict only; the linear head of the cross-entropy loss is not saved.
    """
    import timm
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save = {0, *(save_epochs if save_epochs is not None else (1, epochs))}
    x, y = digits_pixels(image_size)
    train = torch.from_numpy(train_indices())
    x, y = x[train], y[train]

    torch.manual_seed(seed)
    backbone = timm.create_model(model, num_classes=0)
    head = torch.nn.Linear(backbone.num_features, 10)
    params = [*backbone.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    order = torch.Generator().manual_seed(seed)

    checkpoints = {}

    def checkpoint(epoch):
        label = f"ep{epoch:03d}"
        checkpoints[label] = out_dir / f"{label}.pth"
        torch.save(backbone.state_dict(), checkpoints[label])

    start = time.perf_counter()
    checkpoint(0)
    for epoch in range(1, epochs + 1):
        backbone.train()
        total = 0.0
        for batch in torch.randperm(len(x), generator=order).split(batch_size):
            loss = torch.nn.functional.cross_entropy(head(backbone(x[batch])), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"{model} epoch {epoch}/{epochs}: loss {total / len(x):.3f} ({time.perf_counter() - start:.1f} s)")
        if epoch in save:
            checkpoint(epoch)
    return checkpoints


if __name__ == "__main__":
    import sys
    import tempfile

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    for label, path in train_checkpoints(out).items():
        print(label, path)
