"""What every dataset module shares: the registry, the split's images (`SplitImages`), the error, and
the helpers of the readers (seeded carving, label encoding, the layouts a user must place by hand)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..registry import Registry
from .images import BACKGROUND_OPTION

# Every entry declares its domain group (zsc.vocabulary.STUDY_GROUPS, "Search" or "Other"), its
# number of classes (None: known from the data), its short label in tables and figures (the study's,
# e.g. "C10"; None: the config's name), its full name where figures have room (e.g. "CIFAR-10"; None:
# the short label, else the config's name), the file or folder under its root that exists once it is in
# place (None: always available, or the user's folder), its images per split before any max_samples
# (the study's clustered split sizes, docs/study.md#2-datasets, and the official sizes of the other
# splits: `python -m zsc plan` predicts from them before a dataset is prepared) and the one side in
# pixels of all its images where they have one (None: image files of any size). An entry whose
# samples may carry no label also declares labelled(spec), whether they do, known before any job
# (an image folder: class sub-folders; zsc.choose_k); without it, every sample has a label.
DATASETS = Registry("datasets", required=("group", "n_classes", "label", "full_name", "available", "sizes", "native_size"))

SEED = 0  # the study's seed for its own splits (EuroSAT, BreakHis) and for carving val from train
UNLABELLED = -1  # the label of every image of a flat image folder

# Datasets that cannot be downloaded: where their files must be placed (each module adds its own).
DATASETS_WITHOUT_DOWNLOAD: dict[str, str] = {}


class DatasetError(RuntimeError):
    """A dataset that cannot be read; the message says what to place where."""


@dataclass(frozen=True)
class BadFile:
    """A file found unusable while preparing: its name (printable, see images.display_name) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class SplitImages:
    """The images of one split: `labels[i]` is the class of `image(i)` (a PIL image)."""

    labels: np.ndarray
    classes: list[str]
    image: Callable[[int], "object"]
    extra_labels: dict[str, np.ndarray] = field(default_factory=dict)
    # Samples found unusable while preparing (index -> BadFile); they never reach the manifest.
    bad: dict[int, BadFile] = field(default_factory=dict)
    # For image files the user gave (an image folder): each sample's path relative to the folder, as
    # printable text (images.display_name); the manifest keeps it beside the index. None otherwise.
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> "SplitImages":
        image = self.image
        return SplitImages(
            self.labels[keep],
            self.classes,
            lambda i: image(int(keep[i])),
            {k: v[keep] for k, v in self.extra_labels.items()},
            paths=None if self.paths is None else [self.paths[int(i)] for i in keep],
        )


def _options(default_split: str, splits: list[str], files: bool) -> dict:
    options = {
        "split": {
            "type": "string",
            "enum": splits,
            "default": default_split,
            "description": f"Split to cluster (default '{default_split}': the split the study clusters, if it uses the dataset).",
        },
        "mirror": {
            "type": ["string", "null"],
            "default": None,
            "description": "Base URL of a mirror holding the dataset's download files under their usual names (null: the "
            "official source).",
        },
    }
    return {**options, **BACKGROUND_OPTION} if files else options


def register(
    name,
    description,
    group,
    n_classes,
    split,
    splits,
    available,
    *,
    label,
    sizes,
    full_name=None,
    files=True,
    native_size=None,
    **info,
):
    """Decorator: a dataset entry (see DATASETS for what it declares); `split` is the default split of
    `splits`. `files`: its images are image files (read by images.read_image, with the `background`
    option); datasets stored as arrays set it False and `native_size`, the side of all their images
    (raw pixels never upsample it)."""
    return DATASETS.add(
        name,
        description,
        options=_options(split, splits, files),
        group=group,
        n_classes=n_classes,
        label=label,
        full_name=full_name,
        available=available,
        sizes=sizes,
        native_size=native_size,
        **info,
    )


def native_size(dataset_type: str) -> int | None:
    """The one pixel size of all images of a dataset stored at a fixed size (MNIST 28, CIFAR 32, ...);
    None for datasets of image files, whose sizes vary."""
    return DATASETS[dataset_type].info["native_size"]


def carve(labels: np.ndarray, size: int | float, seed: int = SEED, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rest, carved): a seeded split of the indices, stratified by label unless told otherwise;
    `size` is a count or a fraction."""
    from sklearn.model_selection import train_test_split

    rest, carved = train_test_split(
        np.arange(len(labels)), test_size=size, stratify=labels if stratify else None, random_state=seed
    )
    return np.sort(rest), np.sort(carved)


def encode(values) -> tuple[np.ndarray, list]:
    """(codes, classes): each value's index in the sorted distinct values."""
    classes, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes.astype(np.int64), list(classes)


def require(path: Path, name: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{name}: {path} not found. {DATASETS_WITHOUT_DOWNLOAD[name]}")
    return path
