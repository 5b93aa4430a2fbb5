"""Dataset registry: where each dataset comes from and how its clustered split is read.

A factory takes the dataset's root folder (resources/datasets/<type>, or the config's `root`), the
split, `download` and `mirror`, and returns a `SplitImages`: labels for every sample of the split,
extra label columns (taxonomy levels, attributes, ...), class names and a way to read one image.
torchvision's dataset classes are used wherever they exist, with their own download and checksum
code; datasets that cannot be downloaded (ImageNet and its variants, Stanford Cars, ...) are image
folders whose expected layout the error message spells out. `prepare` fetches and verifies the
files, draws the optional stratified subsample and writes the manifest every later stage reads.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import numpy as np

from .registry import Registry

log = logging.getLogger(__name__)

DATASETS = Registry("datasets")

GROUPS = ["In-domain", "Domain-shift", "Near-OOD", "Fine-grained", "Far-OOD", "Search", "Other"]
SEED = 0  # the study's seed for its own splits (EuroSAT, BreakHis) and for carving val from train


class DatasetError(RuntimeError):
    """A dataset that cannot be read; the message says what to place where."""


@dataclass
class SplitImages:
    """The images of one split: `labels[i]` is the class of `image(i)` (a PIL image)."""

    labels: np.ndarray
    classes: list[str]
    image: Callable[[int], "object"]
    extra_labels: dict[str, np.ndarray] = field(default_factory=dict)
    # Samples found unusable while preparing (index -> reason); they never reach the manifest.
    bad: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> "SplitImages":
        image = self.image
        return SplitImages(
            self.labels[keep], self.classes, lambda i: image(int(keep[i])), {k: v[keep] for k, v in self.extra_labels.items()}
        )


def _options(default_split: str, splits: list[str], **extra) -> dict:
    return {
        "split": {
            "type": "string",
            "enum": splits,
            "default": default_split,
            "description": f"Split to cluster (default '{default_split}': the split the study clusters, if it uses the dataset).",
        },
        "mirror": {
            "type": ["string", "null"],
            "default": None,
            "description": "Base URL of a mirror holding the dataset's download files under their usual names (null: the official source).",
        },
        **extra,
    }


def register(name, description, group, n_classes, split, splits, available, **info):
    """Decorator: a dataset entry; `available` is the file or folder (under the root) that exists once
    the dataset is in place, for `python -m zsc list datasets`."""
    return DATASETS.add(name, description, options=_options(split, splits), group=group, n_classes=n_classes, available=available, **info)


# ---------------------------------------------------------------------------------------------
# Helpers


def carve(labels: np.ndarray, size: int | float, seed: int = SEED, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rest, carved): a seeded split of the indices, stratified by label unless told otherwise;
    `size` is a count or a fraction."""
    from sklearn.model_selection import train_test_split

    rest, carved = train_test_split(np.arange(len(labels)), test_size=size, stratify=labels if stratify else None, random_state=seed)
    return np.sort(rest), np.sort(carved)


def _with_mirror(cls, mirror: str | None, url_attrs: tuple[str, ...]):
    """A subclass of a torchvision dataset class downloading from `mirror` (same file names)."""
    if not mirror:
        return cls
    base = mirror if mirror.endswith("/") else mirror + "/"
    overrides = {}
    for attr in url_attrs:
        value = getattr(cls, attr)
        if isinstance(value, list):  # MNIST-style list of mirror prefixes
            overrides[attr] = [base]
        elif value.endswith("/"):  # a URL prefix
            overrides[attr] = base
        else:
            overrides[attr] = base + Path(urlparse(value).path).name
    return type(f"Mirrored{cls.__name__}", (cls,), overrides)


@contextlib.contextmanager
def _clean_on_failure(root: Path):
    """Delete what a failed download or extraction wrote under `root` (partial or corrupt files),
    so a half-downloaded file never stands where a finished one is expected."""
    root = Path(root)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")} if root.exists() else {}
    try:
        yield
    except BaseException:
        if root.exists():
            touched = [p for p in root.rglob("*") if p.is_file() and before.get(p) != p.stat().st_mtime_ns]
            for path in touched:
                log.warning("removing %s, written by the failed attempt", path)
                path.unlink()
        raise


def _torchvision(cls_name, url_attrs=(), **kwargs):
    def open_dataset(root, download, mirror, **more):
        import torchvision.datasets as tvd

        cls = _with_mirror(getattr(tvd, cls_name), mirror, url_attrs)
        with _clean_on_failure(root) if download else contextlib.nullcontext():
            try:
                return cls(str(root), download=download, **kwargs, **more)
            except (RuntimeError, OSError) as err:
                hint = "" if download else " (run the prepare_dataset rule first)"
                raise DatasetError(f"{cls_name} under {root}: {err}{hint}") from err

    return open_dataset


def _from_torchvision(ds, labels, classes, **extra) -> SplitImages:
    return SplitImages(np.asarray(labels, dtype=np.int64), [str(c) for c in classes], lambda i: ds[i][0], extra)


def _image_folder(path: Path, what: str) -> "object":
    from torchvision.datasets import ImageFolder

    if not path.is_dir():
        raise DatasetError(f"{what}: {path} not found. {DATASETS_WITHOUT_DOWNLOAD.get(what, '')}".strip())
    return ImageFolder(str(path))


def _folder_images(folder) -> SplitImages:
    return SplitImages(np.asarray(folder.targets, dtype=np.int64), list(folder.classes), lambda i: folder.loader(folder.samples[i][0]))


# ---------------------------------------------------------------------------------------------
# Always offline


@register("digits", "scikit-learn's bundled 8x8 handwritten digits (1,797 images); always offline", "Other", 10, "all", ["all"], None)
def digits(root: Path, split: str, download: bool, mirror=None) -> SplitImages:
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; stretch to 0..255 so the images look like any other greyscale image.
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return SplitImages(bunch.target.astype(np.int64), [str(c) for c in bunch.target_names], lambda i: Image.fromarray(pixels[i], mode="L"))


# ---------------------------------------------------------------------------------------------
# torchvision classes with download and checksums


@register("cifar10", "CIFAR-10 (torchvision)", "In-domain", 10, "test", ["test", "train"], "cifar-10-batches-py/test_batch")
def cifar10(root, split, download, mirror=None):
    ds = _torchvision("CIFAR10", ("url",))(root, download, mirror, train=split == "train")
    return _from_torchvision(ds, ds.targets, ds.classes)


@register("cifar100", "CIFAR-100 (torchvision)", "In-domain", 100, "test", ["test", "train"], "cifar-100-python/test")
def cifar100(root, split, download, mirror=None):
    ds = _torchvision("CIFAR100", ("url",))(root, download, mirror, train=split == "train")
    return _from_torchvision(ds, ds.targets, ds.classes)


@register("mnist", "MNIST (torchvision)", "Far-OOD", 10, "test", ["test", "train"], "MNIST/raw/t10k-images-idx3-ubyte")
def mnist(root, split, download, mirror=None):
    ds = _torchvision("MNIST", ("mirrors",))(root, download, mirror, train=split == "train")
    return _from_torchvision(ds, ds.targets.numpy(), ds.classes)


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


@register(
    "fashionmnist",
    "Fashion-MNIST (torchvision; offline from Debian's dataset-fashion-mnist when installed)",
    "Far-OOD",
    10,
    "test",
    ["test", "train", "all"],
    "FashionMNIST/raw/t10k-images-idx3-ubyte",
)
def fashionmnist(root: Path, split: str, download: bool, mirror=None) -> SplitImages:
    from PIL import Image

    cls = fashion_mnist_class(mirrors=[mirror if mirror.endswith("/") else mirror + "/"]) if mirror else fashion_mnist_class()
    raw = Path(root) / "FashionMNIST" / "raw"
    extracted = all((raw / name.removesuffix(".gz")).exists() for name in DEBIAN_FASHION_MNIST_MD5)
    if download and not extracted and not mirror and DEBIAN_FASHION_MNIST.is_dir():
        raw.mkdir(parents=True, exist_ok=True)
        for name in DEBIAN_FASHION_MNIST_MD5:
            shutil.copyfile(DEBIAN_FASHION_MNIST / name, raw / name)
        cls = fashion_mnist_class(md5s=DEBIAN_FASHION_MNIST_MD5)
    try:
        with _clean_on_failure(root) if download else contextlib.nullcontext():
            # 'all': the 70,000 images, train then test (for scaling measurements)
            parts = [cls(str(root), train=(part == "train"), download=download and not extracted) for part in _parts(split)]
    except Exception as err:  # torchvision raises RuntimeError/URLError/OSError depending on the cause
        raise DatasetError(
            f"fashionmnist: could not obtain the files ({err}); install Debian's dataset-fashion-mnist, "
            f"allow network access, or place the four idx files (gunzipped) in {raw}/"
        ) from err
    data = np.concatenate([ds.data.numpy() for ds in parts])
    labels = np.concatenate([ds.targets.numpy() for ds in parts]).astype(np.int64)
    return SplitImages(labels, list(parts[0].classes), lambda i: Image.fromarray(data[i], mode="L"))


def _parts(split: str) -> list[str]:
    return ["train", "test"] if split == "all" else [split]


@register("svhn", "SVHN cropped digits (torchvision; the extra split is unused)", "Far-OOD", 10, "test", ["test", "train"], "test_32x32.mat")
def svhn(root, split, download, mirror=None):
    ds = _torchvision("SVHN")(root, download, mirror, split=split)
    return _from_torchvision(ds, ds.labels, [str(i) for i in range(10)])


@register("flowers102", "Oxford Flowers-102 (torchvision)", "Fine-grained", 102, "test", ["test", "val", "train"], "flowers-102/imagelabels.mat")
def flowers102(root, split, download, mirror=None):
    ds = _torchvision("Flowers102", ("_download_url_prefix",))(root, download, mirror, split=split)
    return _from_torchvision(ds, ds._labels, getattr(ds, "classes", [str(i) for i in range(102)]))


@register("dtd", "Describable Textures, partition 1 (torchvision)", "Far-OOD", 47, "test", ["test", "val", "train"], "dtd/dtd/labels/test1.txt")
def dtd(root, split, download, mirror=None):
    ds = _torchvision("DTD", ("_URL",))(root, download, mirror, split=split, partition=1)
    return _from_torchvision(ds, ds._labels, ds.classes)


AIRCRAFT_LEVELS = ("variant", "family", "manufacturer")


@register(
    "aircraft",
    "FGVC-Aircraft (torchvision), labelled by variant; family and manufacturer as extra labels",
    "Fine-grained",
    100,
    "test",
    ["test", "val", "train", "trainval"],
    "fgvc-aircraft-2013b/data/images_variant_test.txt",
    levels=("label_manufacturer", "label_family"),
)
def aircraft(root, split, download, mirror=None):
    open_level = _torchvision("FGVCAircraft", ("_URL",))
    levels = {level: open_level(root, download and level == "variant", mirror, split=split, annotation_level=level) for level in AIRCRAFT_LEVELS}
    ds = levels["variant"]
    extra = {f"label_{level}": np.asarray(levels[level]._labels, dtype=np.int64) for level in AIRCRAFT_LEVELS[1:]}
    return _from_torchvision(ds, ds._labels, ds.classes, **extra)


@register("places365", "Places365 validation set, small images (torchvision)", "Near-OOD", 365, "val", ["val"], "val_256")
def places365(root, split, download, mirror=None):
    ds = _torchvision("Places365", ("_BASE_URL",))(root, download, mirror, split="val", small=True)
    return _from_torchvision(ds, ds.targets, ds.classes)


@register("lsun", "LSUN scene categories, validation set (torchvision; lmdb files placed by hand)", "Near-OOD", 10, "val", ["val"], ".")
def lsun(root, split, download, mirror=None):
    from torchvision.datasets import LSUN

    try:
        ds = LSUN(str(root), classes="val")
    except Exception as err:
        raise DatasetError(f"lsun: {err}. {DATASETS_WITHOUT_DOWNLOAD['lsun']}") from err
    labels = np.concatenate([np.full(len(d), i) for i, d in enumerate(ds.dbs)])
    return _from_torchvision(ds, labels, [c.removesuffix("_val") for c in ds.classes])


CELEBA_ATTRIBUTES_PREFIX = "attr_"


@register(
    "celeba",
    "CelebA test split by identity (torchvision); the 40 attributes as extra labels",
    "Far-OOD",
    None,
    "test",
    ["test", "valid", "train"],
    "celeba/identity_CelebA.txt",
    extra_labels=True,
)
def celeba(root, split, download, mirror=None):
    ds = _torchvision("CelebA")(root, download, mirror, split=split, target_type="identity")
    identities = ds.identity.numpy().ravel()
    codes, labels = np.unique(identities, return_inverse=True)
    extra = {f"{CELEBA_ATTRIBUTES_PREFIX}{name}": ds.attr[:, j].numpy().astype(np.int64) for j, name in enumerate(ds.attr_names) if name}
    return _from_torchvision(ds, labels, [str(c) for c in codes], **extra)


INATURALIST_LEVELS = ("kingdom", "phylum", "class", "order", "family", "genus")


@register(
    "inaturalist",
    "iNaturalist-2021 validation set by species (torchvision); kingdom..genus as extra labels",
    "Fine-grained",
    10000,
    "val",
    ["val"],
    "2021_valid",
    levels=tuple(f"label_{level}" for level in INATURALIST_LEVELS),
)
def inaturalist(root, split, download, mirror=None):
    ds = _torchvision("INaturalist")(root, download, mirror, version="2021_valid", target_type="full")
    categories = np.asarray([cat for cat, _ in ds.index], dtype=np.int64)
    extra = {}
    for level in INATURALIST_LEVELS:
        # categories_index maps each level's name to an index; all_categories holds "full" names
        # "kingdom_phylum_..._species": the level's label is the prefix up to that level.
        depth = INATURALIST_LEVELS.index(level) + 1
        names = ["_".join(full.split("_")[1 : 1 + depth]) for full in ds.all_categories]
        codes = np.unique(names, return_inverse=True)[1]
        extra[f"label_{level}"] = codes[categories].astype(np.int64)
    return _from_torchvision(ds, categories, ds.all_categories, **extra)


@register(
    "eurosat",
    "EuroSAT RGB (torchvision); the study's own stratified 85/15 split, seed 0",
    "Far-OOD",
    10,
    "test",
    ["test", "train"],
    "eurosat/2750",
)
def eurosat(root, split, download, mirror=None):
    ds = _torchvision("EuroSAT")(root, download, mirror)
    images = _from_torchvision(ds, ds.targets, ds.classes)
    train, test = carve(images.labels, 0.15)
    return images.subset(test if split == "test" else train)


# ---------------------------------------------------------------------------------------------
# Image folders that cannot be downloaded automatically: the message says what to place where.

DATASETS_WITHOUT_DOWNLOAD = {
    "imagenet": "ImageNet needs a licence: place the validation set as resources/datasets/imagenet/val/<wnid>/*.JPEG "
    "(and, for the search split, the training set as .../train/<wnid>/*.JPEG).",
    "imagenetv2": "Place ImageNetV2 matched-frequency as resources/datasets/imagenetv2/imagenetv2-matched-frequency-format-val/<class 0..999>/*.jpeg.",
    "imagenet-r": "Place ImageNet-R (imagenet-r.tar, extracted) as resources/datasets/imagenet-r/imagenet-r/<wnid>/<artform>_<n>.jpg.",
    "imagenet-sketch": "Place ImageNet-Sketch as resources/datasets/imagenet-sketch/sketch/<wnid>/*.JPEG.",
    "imagenet-o": "Place ImageNet-O as resources/datasets/imagenet-o/imagenet-o/<wnid>/*.jpg.",
    "in9": "Place the Backgrounds Challenge data (bg_challenge) as resources/datasets/in9/<variant>/<split>/<class>/*.JPEG "
    "with variant in original, only_fg, mixed_rand, no_fg, only_bg_t, mixed_same.",
    "stanfordcars": "The official Stanford Cars source is offline: place the test set as resources/datasets/stanfordcars/test/<class>/*.jpg.",
    "imagewoof": "Place imagewoof2 as resources/datasets/imagewoof/imagewoof2/{train,val}/<wnid>/*.JPEG.",
    "lsun": "Place the LSUN validation lmdb folders as resources/datasets/lsun/<category>_val_lmdb/ (reading them needs `pip install lmdb`).",
}


def _folder_entry(name, description, group, n_classes, subdirs: dict[str, str], split, **info):
    @register(name, description, group, n_classes, split, list(subdirs), subdirs[split], **info)
    def open_folder(root, split, download, mirror=None):
        return _folder_images(_image_folder(Path(root) / subdirs[split], name))

    return open_folder


_folder_entry("imagenetv2", "ImageNet-V2 matched frequency (image folder)", "In-domain", 1000, {"all": "imagenetv2-matched-frequency-format-val"}, "all")
_folder_entry("imagenet-sketch", "ImageNet-Sketch (image folder)", "Domain-shift", 1000, {"all": "sketch"}, "all")
_folder_entry("imagenet-o", "ImageNet-O (image folder)", "Near-OOD", 200, {"all": "imagenet-o"}, "all")
_folder_entry("stanfordcars", "Stanford Cars test set (image folder)", "Fine-grained", 196, {"test": "test"}, "test")

IN9_VARIANTS = {
    "in9original": ("original", "In-domain"),
    "in9onlyfg": ("only_fg", "Domain-shift"),
    "in9mixedrand": ("mixed_rand", "Domain-shift"),
    "in9nofg": ("no_fg", "Other"),
    "in9onlybgt": ("only_bg_t", "Other"),
    "in9mixedsame": ("mixed_same", "Other"),
}
for _name, (_variant, _group) in IN9_VARIANTS.items():

    def _in9(root, split, download, mirror=None, _variant=_variant):
        return _folder_images(_image_folder(Path(root) / _variant / split, "in9"))

    # All variants share one folder, resources/datasets/in9/.
    register(_name, f"ImageNet-9 Backgrounds Challenge, variant {_variant} (image folder)", _group, 9, "test", ["test", "val", "train"], f"{_variant}/test", root="in9")(_in9)


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
)
def imagenet(root, split, download, mirror=None):
    official = _folder_images(_image_folder(Path(root) / "val", "imagenet"))
    if split == "test":
        return official
    return _with_search_val(_folder_images(_image_folder(Path(root) / "train", "imagenet")), len(official))


@register(
    "imagenette",
    "Imagenette (torchvision, 320 px): 'test' = the official val set; 'val' = carved from train, same size",
    "Search",
    10,
    "test",
    ["test", "val"],
    "imagenette2-320/val",
    search_dataset=True,
)
def imagenette(root, split, download, mirror=None):
    def labelled(ds):
        return _from_torchvision(ds, [label for _, label in ds._samples], [names[0] for names in ds.classes])

    official = labelled(_torchvision("Imagenette")(root, download, mirror, split="val", size="320px"))
    if split == "test":
        return official
    return _with_search_val(labelled(_torchvision("Imagenette")(root, False, mirror, split="train", size="320px")), len(official))


@register(
    "imagewoof",
    "Imagewoof (image folder): 'test' = the official val set; 'val' = carved from train, same size",
    "Search",
    10,
    "test",
    ["test", "val"],
    "imagewoof2/val",
    search_dataset=True,
)
def imagewoof(root, split, download, mirror=None):
    official = _folder_images(_image_folder(Path(root) / "imagewoof2" / "val", "imagewoof"))
    if split == "test":
        return official
    return _with_search_val(_folder_images(_image_folder(Path(root) / "imagewoof2" / "train", "imagewoof")), len(official))


IMAGENET_R_ARTFORMS = "art cartoon deviantart embroidery graffiti graphic misc origami painting sculpture sketch sticker tattoo toy videogame".split()


@register(
    "imagenet-r",
    "ImageNet-R (image folder); the art form (from the file name) as an extra label",
    "Domain-shift",
    200,
    "all",
    ["all"],
    "imagenet-r",
    extra_labels=True,
)
def imagenet_r(root, split, download, mirror=None):
    folder = _image_folder(Path(root) / "imagenet-r", "imagenet-r")
    images = _folder_images(folder)
    forms = [Path(path).name.split("_")[0] for path, _ in folder.samples]
    images.extra_labels["label_artform"] = np.unique(forms, return_inverse=True)[1].astype(np.int64)
    return images


# ---------------------------------------------------------------------------------------------
# Datasets torchvision has no class for: readers of their published layouts, with the study's splits.


def _files_images(paths: list[Path], labels, classes, **extra) -> SplitImages:
    return SplitImages(np.asarray(labels, dtype=np.int64), [str(c) for c in classes], lambda i: _load_image(paths[i]), extra)


def _encode(values) -> tuple[np.ndarray, list]:
    classes, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes.astype(np.int64), list(classes)


DATASETS_WITHOUT_DOWNLOAD.update(
    {
        "utkface": "Place UTKFace's aligned and cropped faces as resources/datasets/utkface/UTKFace/<age>_<gender>_<race>_<date>.jpg.chip.jpg.",
        "breakhis": "Place BreakHis as resources/datasets/breakhis/BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/<type>/<slide>/<40X|100X|200X|400X>/*.png.",
        "nabirds": "Place NABirds as resources/datasets/nabirds/nabirds/ with images/, images.txt, image_class_labels.txt, train_test_split.txt and classes.txt.",
    }
)


def _require(path: Path, name: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{name}: {path} not found. {DATASETS_WITHOUT_DOWNLOAD[name]}")
    return path


UTKFACE_FIELDS = ("age", "gender", "race")


@register(
    "utkface",
    "UTKFace by age; gender and race as extra labels; the study's split: sorted by age, a quarter evenly spaced to test",
    "Far-OOD",
    None,
    "test",
    ["test", "train"],
    "UTKFace",
    extra_labels=True,
)
def utkface(root, split, download, mirror=None):
    folder = _require(Path(root) / "UTKFace", "utkface")
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        fields = path.name.split("_")
        # A few published files lack a field in their name (the study drops them too).
        if len(fields) >= 4 and all(f.isdigit() for f in fields[:3]):
            rows.append((int(fields[0]), int(fields[1]), int(fields[2]), path))
        else:
            log.warning("utkface: %s has no age_gender_race_ name; left out", path.name)
    rows.sort(key=lambda row: (row[0], row[3].name))
    # The study: a quarter of the age-sorted images, evenly spaced from the third to the third-last.
    test = set(np.round(np.linspace(2, len(rows) - 3, int(0.25 * len(rows)))).astype(int).tolist())
    chosen = [row for i, row in enumerate(rows) if (i in test) == (split == "test")]
    ages, genders, races, paths = zip(*chosen) if chosen else ((), (), (), ())
    labels, classes = _encode(ages)
    return _files_images(list(paths), labels, classes, label_gender=np.asarray(genders, dtype=np.int64), label_race=np.asarray(races, dtype=np.int64))


@register(
    "breakhis",
    "BreakHis: 8 tumour types x 4 magnifications = 32 classes; the study's 60/40 split, seed 0",
    "Far-OOD",
    32,
    "test",
    ["test", "train"],
    "BreaKHis_v1",
    extra_labels=True,
)
def breakhis(root, split, download, mirror=None):
    slides = _require(Path(root) / "BreaKHis_v1" / "histology_slides" / "breast", "breakhis")
    paths = sorted(slides.glob("*/SOB/*/*/*/*.png"))
    if not paths:
        raise DatasetError(f"breakhis: no PNG images under {slides}. {DATASETS_WITHOUT_DOWNLOAD['breakhis']}")
    # .../<benign|malignant>/SOB/<type>/<slide>/<magnification>/<file>.png
    tumour = [p.parents[2].name for p in paths]
    magnification = [p.parent.name for p in paths]
    labels, classes = _encode([f"{t}_{m}" for t, m in zip(tumour, magnification)])
    images = _files_images(
        paths,
        labels,
        classes,
        label_tumour=_encode(tumour)[0],
        label_magnification=_encode(magnification)[0],
        label_malignant=np.asarray([p.parents[4].name == "malignant" for p in paths], dtype=np.int64),
    )
    # The study's code split BreakHis without stratification (its dataset class exposes no labels).
    train, test = carve(images.labels, 0.4, stratify=False)
    return images.subset(test if split == "test" else train)


@register(
    "nabirds",
    "NABirds (the published layout and train/test split), labelled by leaf class",
    "Fine-grained",
    555,
    "test",
    ["test", "train"],
    "nabirds/images.txt",
)
def nabirds(root, split, download, mirror=None):
    base = _require(Path(root) / "nabirds", "nabirds")

    def table(name):
        with open(_require(base / name, "nabirds")) as f:
            return dict(line.rstrip("\n").split(" ", 1) for line in f if line.strip())

    paths, class_of, is_train, names = table("images.txt"), table("image_class_labels.txt"), table("train_test_split.txt"), table("classes.txt")
    wanted = "0" if split == "test" else "1"
    ids = sorted((i for i in paths if is_train[i] == wanted), key=lambda i: paths[i])
    labels, class_ids = _encode([int(class_of[i]) for i in ids])
    return _files_images([base / "images" / paths[i] for i in ids], labels, [names[str(c)] for c in class_ids])


BIOSCAN_LEVELS = ("order", "family", "subfamily", "tribe", "genus", "species")
BIOSCAN_SPLIT_FILES = {
    "test": ("seen_keys", "test_seen", "test_unseen", "test_unseen_keys"),
    "val": ("seen_keys", "val_seen", "val_unseen", "val_unseen_keys"),
    "train": ("train_seen",),
}
DATASETS_WITHOUT_DOWNLOAD["bioscan1m"] = (
    "Place BIOSCAN-1M as resources/datasets/bioscan1m/ with BIOSCAN_Insect_Dataset_metadata.tsv, the split files "
    "(seen_keys.txt, test_seen.txt, test_unseen.txt, test_unseen_keys.txt, ...) and the 256-px crops in "
    "bioscan/images/cropped_256/part<chunk_number>/<image_file>."
)


def bioscan_taxonomy(metadata):
    """The study's clean-up of BIOSCAN-1M's taxonomy: 'not_classified' is missing; three genera get
    their tribe; a missing genus comes from the species name; missing tribes and subfamilies get
    'unassigned <parent>' placeholders."""
    import pandas as pd

    df = metadata.mask(metadata == "not_classified", pd.NA)
    for genus, tribe in (("Asteia", "Asteiini"), ("Nemorilla", "Winthemiini"), ("Philaenus", "Philaenini")):
        df.loc[df["genus"] == genus, "tribe"] = tribe
    no_genus = df["genus"].isna() & df["species"].notna()
    df.loc[no_genus, "genus"] = df.loc[no_genus, "species"].str.split(" ").str[0]
    no_tribe = df["tribe"].isna() & df["genus"].notna()
    has_subfamily = df["subfamily"].notna()
    df.loc[no_tribe & has_subfamily, "tribe"] = "unassigned " + df["subfamily"]
    df.loc[no_tribe & ~has_subfamily, "tribe"] = "unassigned " + df["family"]
    no_subfamily = df["subfamily"].isna() & df["tribe"].notna()
    df.loc[no_subfamily, "subfamily"] = "unassigned " + df["family"]
    return df


@register(
    "bioscan1m",
    "BIOSCAN-1M insects (256-px crops) by species; order..genus and BIN as extra labels; the study's test split files",
    "Fine-grained",
    None,
    "test",
    ["test", "val", "train"],
    "BIOSCAN_Insect_Dataset_metadata.tsv",
    levels=tuple(f"label_{level}" for level in BIOSCAN_LEVELS[:-1]),
)
def bioscan1m(root, split, download, mirror=None):
    import pandas as pd

    root = Path(root)
    columns = ["sampleid", "uri", *BIOSCAN_LEVELS, "image_file", "chunk_number"]
    metadata = pd.read_csv(_require(root / "BIOSCAN_Insect_Dataset_metadata.tsv", "bioscan1m"), sep="\t", usecols=columns, dtype=str)
    wanted = set()
    for name in BIOSCAN_SPLIT_FILES[split]:
        wanted.update(line.strip() for line in _require(root / f"{name}.txt", "bioscan1m").read_text().splitlines() if line.strip())
    df = bioscan_taxonomy(metadata[metadata["sampleid"].isin(wanted)]).reset_index(drop=True)
    # Unidentified specimens form one class of their own at each level, as in the study's AMI.
    codes = {level: _encode(df[level].fillna("not_classified"))[0] for level in (*BIOSCAN_LEVELS, "uri")}
    classes = _encode(df["species"].fillna("not_classified"))[1]
    crops = root / "bioscan" / "images" / "cropped_256"
    paths = [crops / f"part{chunk}" / name for chunk, name in zip(df["chunk_number"], df["image_file"])]
    extra = {f"label_{level}": codes[level] for level in BIOSCAN_LEVELS[:-1]}
    return _files_images(paths, codes["species"], classes, **extra, label_bin=codes["uri"])


# ---------------------------------------------------------------------------------------------
# The user's own images

UNLABELLED = -1


@contextlib.contextmanager
def _no_pixel_limit():
    """Pillow's decompression-bomb guard off: image sizes are checked against max_image_pixels
    instead (clip-art collections hold genuine images above Pillow's warning limit)."""
    from PIL import Image

    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _load_image(path):
    from PIL import Image

    with _no_pixel_limit(), Image.open(path) as image:  # sizes were checked when preparing
        image.load()
        return image


def check_image(path: Path, min_image_size: int, max_image_pixels: int) -> str | None:
    """Why an image file cannot be used (None if it can): empty, not an image, unreadable, too small
    or too large. A full decode, so that a truncated file is found here and not mid-embedding."""
    from PIL import Image, UnidentifiedImageError

    if path.stat().st_size == 0:
        return "empty file"
    try:
        with _no_pixel_limit(), Image.open(path) as image:
            width, height = image.size
            if width * height > max_image_pixels:
                return f"{width}x{height} pixels, more than max_image_pixels ({max_image_pixels})"
            if min(width, height) < min_image_size:
                return f"{width}x{height} pixels, smaller than min_image_size ({min_image_size})"
            image.load()
    except UnidentifiedImageError:
        return "not an image"
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        return f"unreadable ({err})"
    return None


@DATASETS.add(
    "imagefolder",
    "Your own images: one sub-folder per class (labels), or a flat folder (no labels: label-free metrics only)",
    options={
        "split": {"type": "string", "enum": ["all"], "default": "all", "description": "Always 'all': every image of the folder."},
        "min_image_size": {
            "type": "integer",
            "minimum": 1,
            "default": 8,
            "description": "Images whose shorter side is smaller are skipped (icons, tracking pixels).",
        },
        "max_image_pixels": {
            "type": "integer",
            "minimum": 1,
            "default": 178956970,
            "description": "Images with more pixels are skipped (default: Pillow's decompression-bomb error limit); "
            "smaller ones above Pillow's warning limit are read without a warning.",
        },
        "bad_images": {
            "type": "string",
            "enum": ["skip", "error"],
            "default": "skip",
            "description": "skip: leave out unusable files with a warning naming each; error: stop before embedding at the first.",
        },
    },
    group="Other",
    n_classes=None,
    available=None,
    schema={"properties": {"root": {"type": "string"}}},  # its folder must be named
)
def imagefolder(root, split, download, min_image_size, max_image_pixels, bad_images, mirror=None):
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"imagefolder: {root} is not a folder")
    visible = lambda p: not any(part.startswith(".") for part in p.relative_to(root).parts)  # noqa: E731
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and visible(d))
    if class_dirs:
        files = [(p, c) for c, d in enumerate(class_dirs) for p in sorted(d.rglob("*")) if p.is_file() and visible(p)]
        stray = [p.name for p in root.iterdir() if p.is_file() and visible(p)]
        if stray:
            log.warning("imagefolder %s: %d files beside the class folders are ignored: %s", root, len(stray), ", ".join(sorted(stray)[:5]))
    else:
        files = [(p, UNLABELLED) for p in sorted(root.iterdir()) if p.is_file() and visible(p)]
    if not files:
        raise DatasetError(f"imagefolder: no files in {root}")
    paths = [p for p, _ in files]
    bad = {}
    if download:  # preparing: check every file once
        for i, path in enumerate(paths):
            reason = check_image(path, min_image_size, max_image_pixels)
            if reason and bad_images == "error":
                raise DatasetError(f"imagefolder: {path}: {reason} (bad_images: skip would leave it out)")
            if reason:
                bad[i] = f"{path}: {reason}"
        if len(bad) == len(paths):
            raise DatasetError(f"imagefolder: no usable images in {root} ({len(paths)} files; first: {bad[0]})")
    return SplitImages(
        np.asarray([c for _, c in files], dtype=np.int64), [d.name for d in class_dirs], lambda i: _load_image(paths[i]), bad=bad
    )


# ---------------------------------------------------------------------------------------------
# The stage


def default_root(dataset_type: str) -> str:
    """Where a dataset's files live unless the config's `root` says otherwise."""
    return f"resources/datasets/{DATASETS[dataset_type].info.get('root', dataset_type)}"


def root_of(spec: dict) -> str:
    return spec.get("root") or default_root(spec["type"])


def open_split(spec: dict, root: Path, download: bool = False) -> SplitImages:
    """Open the split named by a resolved dataset config entry (`download`: the prepare stage,
    which may fetch files and checks every image of an image folder)."""
    return DATASETS.build(spec, root=Path(root), download=download)


def is_available(dataset_type: str, root: Path | None = None) -> bool:
    marker = DATASETS[dataset_type].info["available"]
    return marker is None or (Path(root or default_root(dataset_type)) / marker).exists()


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
    usable = np.setdiff1d(np.arange(len(images)), np.fromiter(images.bad, dtype=np.int64, count=len(images.bad)))
    if images.bad:
        named = "; ".join(list(images.bad.values())[:10])
        log.warning("%s: skipped %d of %d files: %s%s", spec["name"], len(images.bad), len(images), named, " ..." if len(images.bad) > 10 else "")
    labelled = images.labels[usable] != UNLABELLED
    counts = np.bincount(images.labels[usable][labelled], minlength=len(images.classes))
    lonely = [images.classes[c] for c in np.flatnonzero(counts == 1)]
    if lonely:
        log.warning("%s: %d classes have a single image: %s", spec["name"], len(lonely), ", ".join(lonely[:10]))
    indices = usable[stratified_subsample(images.labels[usable], spec["max_samples"], spec["subsample_seed"])]
    log.info("%s/%s: %d of %d samples, %d classes", spec["name"], spec["split"], len(indices), len(images), len(images.classes))
    columns = {"index": indices.astype(np.int64), "label": images.labels[indices]}
    columns.update({name: values[indices] for name, values in sorted(images.extra_labels.items())})
    meta = {
        "dataset": spec["name"],
        "type": spec["type"],
        "split": spec["split"],
        "classes": images.classes,
        "n_source": len(images),
        "n_skipped": len(images.bad),
        "max_samples": spec["max_samples"],
        "subsample_seed": spec["subsample_seed"],
    }
    tables.write(manifest_path, columns, meta)
