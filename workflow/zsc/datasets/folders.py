"""Image folders that cannot be downloaded automatically (the message says what to place where), and
the hyper-parameter search datasets. Their files are read by images.read_image."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .base import DATASETS_WITHOUT_DOWNLOAD, DatasetError, SplitImages, carve, register
from .images import read_image
from .torchvision_sets import from_torchvision, torchvision_dataset

DATASETS_WITHOUT_DOWNLOAD.update(
    {
        "imagenet": "ImageNet needs a licence: place the validation set as resources/datasets/imagenet/val/<wnid>/*.JPEG "
        "(and, for the search split, the training set as .../train/<wnid>/*.JPEG).",
        "imagenetv2": "Place ImageNetV2 matched-frequency as "
        "resources/datasets/imagenetv2/imagenetv2-matched-frequency-format-val/<class 0..999>/*.jpeg.",
        "imagenet-r": "Place ImageNet-R (imagenet-r.tar, extracted) as "
        "resources/datasets/imagenet-r/imagenet-r/<wnid>/<artform>_<n>.jpg.",
        "imagenet-sketch": "Place ImageNet-Sketch as resources/datasets/imagenet-sketch/sketch/<wnid>/*.JPEG.",
        "imagenet-o": "Place ImageNet-O as resources/datasets/imagenet-o/imagenet-o/<wnid>/*.jpg.",
        "in9": "Place the Backgrounds Challenge data (bg_challenge) as resources/datasets/in9/<variant>/<split>/<class>/*.JPEG "
        "with variant in original, only_fg, mixed_rand, no_fg, only_bg_t, mixed_same.",
        "stanfordcars": "The official Stanford Cars source is offline: place the test set as "
        "resources/datasets/stanfordcars/test/<class>/*.jpg.",
        "imagewoof": "Place imagewoof2 as resources/datasets/imagewoof/imagewoof2/{train,val}/<wnid>/*.JPEG.",
    }
)


def image_folder(path: Path, what: str, background: str) -> "object":
    """torchvision's ImageFolder of `path`, reading its files with images.read_image."""
    from torchvision.datasets import ImageFolder

    if not path.is_dir():
        raise DatasetError(f"{what}: {path} not found. {DATASETS_WITHOUT_DOWNLOAD.get(what, '')}".strip())
    return ImageFolder(str(path), loader=functools.partial(read_image, background=background))


def folder_images(folder) -> SplitImages:
    return SplitImages(
        np.asarray(folder.targets, dtype=np.int64), list(folder.classes), lambda i: folder.loader(folder.samples[i][0])
    )


def _folder_entry(name, description, group, n_classes, subdirs: dict[str, str], split, **info):
    @register(name, description, group, n_classes, split, list(subdirs), subdirs[split], **info)
    def open_folder(root, split, download, background, mirror=None):
        return folder_images(image_folder(Path(root) / subdirs[split], name, background))

    return open_folder


_folder_entry(
    "imagenetv2",
    "ImageNet-V2 matched frequency (image folder)",
    "In-domain",
    1000,
    {"all": "imagenetv2-matched-frequency-format-val"},
    "all",
    label="INv2",
    sizes={"all": 10000},
)
_folder_entry(
    "imagenet-sketch",
    "ImageNet-Sketch (image folder)",
    "Domain-shift",
    1000,
    {"all": "sketch"},
    "all",
    label="IN-S",
    sizes={"all": 50889},
)
_folder_entry(
    "imagenet-o", "ImageNet-O (image folder)", "Near-OOD", 200, {"all": "imagenet-o"}, "all", label="IN-O", sizes={"all": 2000}
)
_folder_entry(
    "stanfordcars",
    "Stanford Cars test set (image folder)",
    "Fine-grained",
    196,
    {"test": "test"},
    "test",
    label="Cars",
    sizes={"test": 8041},
)

# name: (variant folder, group, short label)
IN9_VARIANTS = {
    "in9original": ("original", "In-domain", "IN9"),
    "in9onlyfg": ("only_fg", "Domain-shift", "9-FG"),
    "in9mixedrand": ("mixed_rand", "Domain-shift", "9-MR"),
    "in9nofg": ("no_fg", "Other", "9-FGc"),
    "in9onlybgt": ("only_bg_t", "Other", "9-BG"),
    "in9mixedsame": ("mixed_same", "Other", "9-MS"),
}
IN9_SIZES = {"test": 4050, "val": 4050, "train": 45405}
for _name, (_variant, _group, _label) in IN9_VARIANTS.items():

    def _in9(root, split, download, background, mirror=None, _variant=_variant):
        return folder_images(image_folder(Path(root) / _variant / split, "in9", background))

    # All variants share one folder, resources/datasets/in9/.
    register(
        _name,
        f"ImageNet-9 Backgrounds Challenge, variant {_variant} (image folder)",
        _group,
        9,
        "test",
        ["test", "val", "train"],
        f"{_variant}/test",
        label=_label,
        sizes=IN9_SIZES,
        root="in9",
    )(_in9)


def _with_search_val(images: SplitImages, size: int) -> SplitImages:
    return images.subset(carve(images.labels, size)[1])


# The hyper-parameter search datasets. As in the study, "test" is the official validation set and
# "val" a stratified subset of the training set of the same size (seed 0).


@register(
    "imagenet",
    "ImageNet-1k: 'test' = the official val set; 'val' = 50,000 carved from train (search)",
    "In-domain",
    1000,
    "test",
    ["test", "val"],
    "val",
    search_dataset=True,
    label="IN1k",
    sizes={"test": 50000, "val": 50000},
)
def imagenet(root, split, download, background, mirror=None):
    official = folder_images(image_folder(Path(root) / "val", "imagenet", background))
    if split == "test":
        return official
    return _with_search_val(folder_images(image_folder(Path(root) / "train", "imagenet", background)), len(official))


@register(
    "imagenette",
    "Imagenette (torchvision, 320 px): 'test' = the official val set; 'val' = carved from train, same size",
    "Search",
    10,
    "test",
    ["test", "val"],
    "imagenette2-320/val",
    search_dataset=True,
    label=None,
    sizes={"test": 3925, "val": 3925},
)
def imagenette(root, split, download, background, mirror=None):
    def labelled(ds):
        return from_torchvision(ds, [label for _, label in ds._samples], [names[0] for names in ds.classes])

    official = labelled(torchvision_dataset("Imagenette")(root, download, mirror, background, split="val", size="320px"))
    if split == "test":
        return official
    return _with_search_val(
        labelled(torchvision_dataset("Imagenette")(root, False, mirror, background, split="train", size="320px")), len(official)
    )


@register(
    "imagewoof",
    "Imagewoof (image folder): 'test' = the official val set; 'val' = carved from train, same size",
    "Search",
    10,
    "test",
    ["test", "val"],
    "imagewoof2/val",
    search_dataset=True,
    label=None,
    sizes={"test": 3929, "val": 3929},
)
def imagewoof(root, split, download, background, mirror=None):
    official = folder_images(image_folder(Path(root) / "imagewoof2" / "val", "imagewoof", background))
    if split == "test":
        return official
    return _with_search_val(
        folder_images(image_folder(Path(root) / "imagewoof2" / "train", "imagewoof", background)), len(official)
    )


IMAGENET_R_ARTFORMS = (
    "art cartoon deviantart embroidery graffiti graphic misc origami painting sculpture sketch " "sticker tattoo toy videogame"
).split()


@register(
    "imagenet-r",
    "ImageNet-R (image folder); the art form (from the file name) as an extra label",
    "Domain-shift",
    200,
    "all",
    ["all"],
    "imagenet-r",
    extra_labels=True,
    label="IN-R",
    sizes={"all": 30000},
)
def imagenet_r(root, split, download, background, mirror=None):
    folder = image_folder(Path(root) / "imagenet-r", "imagenet-r", background)
    images = folder_images(folder)
    forms = [Path(path).name.split("_")[0] for path, _ in folder.samples]
    images.extra_labels["label_artform"] = np.unique(forms, return_inverse=True)[1].astype(np.int64)
    return images
