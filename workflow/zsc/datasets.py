"""Dataset registry: where each dataset comes from and how its clustered split is read.

A factory takes the dataset's root folder (resources/datasets/<type>), the split and
`download` and returns a `SplitImages`: labels for every sample of the split, class names and a
way to read one image. Preparation (`prepare`) fetches and verifies the files, draws the optional
stratified subsample and writes the manifest that every later stage reads.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .registry import Registry

log = logging.getLogger(__name__)

DATASETS = Registry("datasets")

GROUPS = ["In-domain", "Domain-shift", "Near-OOD", "Fine-grained", "Far-OOD", "Other"]


@dataclass
class SplitImages:
    """The images of one split: `labels[i]` is the class of `image(i)` (a PIL image)."""

    labels: np.ndarray
    classes: list[str]
    image: Callable[[int], "object"]

    def __len__(self) -> int:
        return len(self.labels)


def _split_option(default: str, allowed: list[str]) -> dict:
    return {
        "split": {
            "type": "string",
            "enum": allowed,
            "default": default,
            "description": f"Split to cluster (default '{default}': the split the study clusters, if it uses the dataset).",
        }
    }


@DATASETS.add(
    "digits",
    "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes); always offline",
    options=_split_option("all", ["all"]),
    group="Other",
    n_classes=10,
)
def digits(root: Path, split: str, download: bool) -> SplitImages:
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; stretch to 0..255 so the images look like any other greyscale image.
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return SplitImages(
        labels=bunch.target.astype(np.int64),
        classes=[str(c) for c in bunch.target_names],
        image=lambda i: Image.fromarray(pixels[i], mode="L"),
    )


# Debian's dataset-fashion-mnist package ships the real files, recompressed (so with other MD5s
# than torchvision's table). Copied into the raw folder as already-downloaded archives of a class
# carrying Debian's MD5s, they go through torchvision's own checksum and extraction code.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
    "train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9",
    "t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
    "t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
}


def fashion_mnist_class(md5s: dict[str, str] | None = None, mirrors: list[str] | None = None):
    """torchvision's FashionMNIST; with `md5s`/`mirrors`, a subclass for another copy of the files."""
    from torchvision.datasets import FashionMNIST

    if md5s is None and mirrors is None:
        return FashionMNIST

    class MirroredFashionMNIST(FashionMNIST):
        @property
        def raw_folder(self) -> str:  # the stock class names the folder after the class
            return str(Path(self.root) / "FashionMNIST" / "raw")

    MirroredFashionMNIST.resources = list((md5s or dict(FashionMNIST.resources)).items())
    MirroredFashionMNIST.mirrors = mirrors or FashionMNIST.mirrors
    return MirroredFashionMNIST


@DATASETS.add(
    "fashionmnist",
    "Fashion-MNIST (torchvision; offline from Debian's dataset-fashion-mnist when installed)",
    options=_split_option("test", ["test", "train"]),
    group="Far-OOD",
    n_classes=10,
)
def fashionmnist(root: Path, split: str, download: bool) -> SplitImages:
    from PIL import Image

    cls = fashion_mnist_class()
    raw = Path(root) / "FashionMNIST" / "raw"
    extracted = all((raw / name.removesuffix(".gz")).exists() for name in DEBIAN_FASHION_MNIST_MD5)
    if download and not extracted and DEBIAN_FASHION_MNIST.is_dir():
        raw.mkdir(parents=True, exist_ok=True)
        for name in DEBIAN_FASHION_MNIST_MD5:
            shutil.copyfile(DEBIAN_FASHION_MNIST / name, raw / name)
        cls = fashion_mnist_class(md5s=DEBIAN_FASHION_MNIST_MD5)
    try:
        ds = cls(str(root), train=(split == "train"), download=download and not extracted)
    except Exception as err:  # torchvision raises RuntimeError/URLError/OSError depending on the cause
        raise RuntimeError(
            f"fashionmnist: could not obtain the files ({err}); install Debian's dataset-fashion-mnist, "
            f"allow network access, or place the four idx files (gunzipped) in {raw}/"
        ) from err
    data = ds.data.numpy()
    return SplitImages(
        labels=ds.targets.numpy().astype(np.int64),
        classes=list(ds.classes),
        image=lambda i: Image.fromarray(data[i], mode="L"),
    )


def open_split(spec: dict, root: Path, download: bool = False) -> SplitImages:
    """Open the split named by a resolved dataset config entry."""
    return DATASETS.build(spec, root=Path(root), download=download)


def stratified_subsample(labels: np.ndarray, max_samples: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subsample keeping class proportions (all indices if small enough)."""
    n = len(labels)
    if max_samples is None or max_samples >= n:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    counts = np.bincount(np.unique(labels, return_inverse=True)[1])
    stratify = labels if counts.min() >= 2 and max_samples >= len(counts) else None
    keep, _ = train_test_split(np.arange(n), train_size=max_samples, stratify=stratify, random_state=seed)
    return np.sort(keep)


def prepare(spec: dict, root: Path, manifest_path: Path) -> None:
    """Fetch and verify the dataset, then write the manifest of the samples to cluster."""
    from . import tables

    images = open_split(spec, root, download=True)
    indices = stratified_subsample(images.labels, spec["max_samples"], spec["subsample_seed"])
    log.info(
        "%s/%s: %d of %d samples, %d classes", spec["name"], spec["split"], len(indices), len(images), len(images.classes)
    )
    columns = {"index": indices.astype(np.int64), "label": images.labels[indices]}
    meta = {
        "dataset": spec["name"],
        "type": spec["type"],
        "split": spec["split"],
        "classes": images.classes,
        "n_source": len(images),
        "max_samples": spec["max_samples"],
        "subsample_seed": spec["subsample_seed"],
    }
    tables.write(manifest_path, columns, meta)

