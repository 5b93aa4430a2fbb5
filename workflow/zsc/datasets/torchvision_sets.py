"""Datasets torchvision has a class for, with their own download and checksum code (and scikit-learn's
bundled digits). Those stored as arrays (digits, MNIST, Fashion-MNIST, CIFAR, SVHN, LSUN's lmdb)
keep torchvision's images; those stored as image files are read by images.read_image (torchvision's
`loader` argument), so their transparency, orientation and bit depth are handled as in an image folder."""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .base import DATASETS_WITHOUT_DOWNLOAD, DatasetError, SplitImages, carve, register
from .images import read_image, to_rgb_or_grey

log = logging.getLogger(__name__)

DATASETS_WITHOUT_DOWNLOAD["lsun"] = (
    "Place the LSUN validation lmdb folders as resources/datasets/lsun/<category>_val_lmdb/ "
    "(reading them needs `pip install lmdb`)."
)


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


def torchvision_dataset(cls_name, url_attrs=(), **kwargs):
    """An opener of torchvision's `cls_name`: (root, download, mirror, background=None, **more); with a
    `background`, the class reads its image files through images.read_image."""

    def open_dataset(root, download, mirror, background=None, **more):
        import torchvision.datasets as tvd

        cls = _with_mirror(getattr(tvd, cls_name), mirror, url_attrs)
        if background is not None:
            more["loader"] = functools.partial(read_image, background=background)
        with _clean_on_failure(root) if download else contextlib.nullcontext():
            try:
                return cls(str(root), download=download, **kwargs, **more)
            except (RuntimeError, OSError) as err:
                hint = "" if download else " (run the prepare_dataset rule first)"
                raise DatasetError(f"{cls_name} under {root}: {err}{hint}") from err

    return open_dataset


def from_torchvision(ds, labels, classes, convert=None, **extra) -> SplitImages:
    """The split of a torchvision dataset object; `convert` (if any) applied to each image."""
    image = (lambda i: ds[i][0]) if convert is None else (lambda i: convert(ds[i][0]))
    return SplitImages(np.asarray(labels, dtype=np.int64), [str(c) for c in classes], image, extra)


# ---------------------------------------------------------------------------------------------
# Always offline


@register(
    "digits",
    "scikit-learn's bundled 8x8 handwritten digits (1,797 images); always offline",
    "Other",
    10,
    "all",
    ["all"],
    None,
    files=False,
    native_size=8,
    label="Digits",
    sizes={"all": 1797},
)
def digits(root: Path, split: str, download: bool, mirror=None) -> SplitImages:
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; stretch to 0..255 so the images look like any other greyscale image.
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return SplitImages(
        bunch.target.astype(np.int64), [str(c) for c in bunch.target_names], lambda i: Image.fromarray(pixels[i], mode="L")
    )


# ---------------------------------------------------------------------------------------------
# torchvision classes with download and checksums


@register(
    "cifar10",
    "CIFAR-10 (torchvision)",
    "In-domain",
    10,
    "test",
    ["test", "train"],
    "cifar-10-batches-py/test_batch",
    files=False,
    native_size=32,
    label="C10",
    sizes={"test": 10000, "train": 50000},
)
def cifar10(root, split, download, mirror=None):
    ds = torchvision_dataset("CIFAR10", ("url",))(root, download, mirror, train=split == "train")
    return from_torchvision(ds, ds.targets, ds.classes)


@register(
    "cifar100",
    "CIFAR-100 (torchvision)",
    "In-domain",
    100,
    "test",
    ["test", "train"],
    "cifar-100-python/test",
    files=False,
    native_size=32,
    label="C100",
    sizes={"test": 10000, "train": 50000},
)
def cifar100(root, split, download, mirror=None):
    ds = torchvision_dataset("CIFAR100", ("url",))(root, download, mirror, train=split == "train")
    return from_torchvision(ds, ds.targets, ds.classes)


@register(
    "mnist",
    "MNIST (torchvision)",
    "Far-OOD",
    10,
    "test",
    ["test", "train"],
    "MNIST/raw/t10k-images-idx3-ubyte",
    files=False,
    native_size=28,
    label="MNST",
    sizes={"test": 10000, "train": 60000},
)
def mnist(root, split, download, mirror=None):
    ds = torchvision_dataset("MNIST", ("mirrors",))(root, download, mirror, train=split == "train")
    return from_torchvision(ds, ds.targets.numpy(), ds.classes)


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
    files=False,
    native_size=28,
    label="Fash",
    sizes={"test": 10000, "train": 60000, "all": 70000},
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


@register(
    "svhn",
    "SVHN cropped digits (torchvision; the extra split is unused)",
    "Far-OOD",
    10,
    "test",
    ["test", "train"],
    "test_32x32.mat",
    files=False,
    native_size=32,
    label="SVHN",
    sizes={"test": 26032, "train": 73257},
)
def svhn(root, split, download, mirror=None):
    ds = torchvision_dataset("SVHN")(root, download, mirror, split=split)
    return from_torchvision(ds, ds.labels, [str(i) for i in range(10)])


@register(
    "flowers102",
    "Oxford Flowers-102 (torchvision)",
    "Fine-grained",
    102,
    "test",
    ["test", "val", "train"],
    "flowers-102/imagelabels.mat",
    label="F102",
    sizes={"test": 6149, "val": 1020, "train": 1020},
)
def flowers102(root, split, download, background, mirror=None):
    ds = torchvision_dataset("Flowers102", ("_download_url_prefix",))(root, download, mirror, background, split=split)
    return from_torchvision(ds, ds._labels, getattr(ds, "classes", [str(i) for i in range(102)]))


@register(
    "dtd",
    "Describable Textures, partition 1 (torchvision)",
    "Far-OOD",
    47,
    "test",
    ["test", "val", "train"],
    "dtd/dtd/labels/test1.txt",
    label="DTD",
    sizes={"test": 1880, "val": 1880, "train": 1880},
)
def dtd(root, split, download, background, mirror=None):
    ds = torchvision_dataset("DTD", ("_URL",))(root, download, mirror, background, split=split, partition=1)
    return from_torchvision(ds, ds._labels, ds.classes)


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
    label="Air",
    sizes={"test": 3333, "val": 3333, "train": 3334, "trainval": 6667},
)
def aircraft(root, split, download, background, mirror=None):
    open_level = torchvision_dataset("FGVCAircraft", ("_URL",))
    levels = {
        level: open_level(root, download and level == "variant", mirror, background, split=split, annotation_level=level)
        for level in AIRCRAFT_LEVELS
    }
    ds = levels["variant"]
    extra = {f"label_{level}": np.asarray(levels[level]._labels, dtype=np.int64) for level in AIRCRAFT_LEVELS[1:]}
    return from_torchvision(ds, ds._labels, ds.classes, **extra)


@register(
    "places365",
    "Places365 validation set, small images (torchvision)",
    "Near-OOD",
    365,
    "val",
    ["val"],
    "val_256",
    label="P365",
    sizes={"val": 36500},
)
def places365(root, split, download, background, mirror=None):
    ds = torchvision_dataset("Places365", ("_BASE_URL",))(root, download, mirror, background, split="val", small=True)
    return from_torchvision(ds, ds.targets, ds.classes)


@register(
    "lsun",
    "LSUN scene categories, validation set (torchvision; lmdb files placed by hand)",
    "Near-OOD",
    10,
    "val",
    ["val"],
    ".",
    files=False,
    label="LSU",
    sizes={"val": 3000},
)
def lsun(root, split, download, mirror=None):
    from torchvision.datasets import LSUN

    try:
        ds = LSUN(str(root), classes="val")
    except Exception as err:
        raise DatasetError(f"lsun: {err}. {DATASETS_WITHOUT_DOWNLOAD['lsun']}") from err
    labels = np.concatenate([np.full(len(d), i) for i, d in enumerate(ds.dbs)])
    return from_torchvision(ds, labels, [c.removesuffix("_val") for c in ds.classes])


CELEBA_ATTRIBUTES_PREFIX = "attr_"


def _upright(background):
    """What images.read_image does after opening, for a class that opens its files itself (CelebA)."""

    def convert(image):
        from PIL import ImageOps

        return to_rgb_or_grey(ImageOps.exif_transpose(image), background)

    return convert


@register(
    "celeba",
    "CelebA test split by identity (torchvision); the 40 attributes as extra labels",
    "Far-OOD",
    None,
    "test",
    ["test", "valid", "train"],
    "celeba/identity_CelebA.txt",
    extra_labels=True,
    label="CelA",
    sizes={"test": 19962, "valid": 19867, "train": 162770},
)
def celeba(root, split, download, background, mirror=None):
    ds = torchvision_dataset("CelebA")(root, download, mirror, split=split, target_type="identity")  # no loader argument
    identities = ds.identity.numpy().ravel()
    codes, labels = np.unique(identities, return_inverse=True)
    extra = {
        f"{CELEBA_ATTRIBUTES_PREFIX}{name}": ds.attr[:, j].numpy().astype(np.int64)
        for j, name in enumerate(ds.attr_names)
        if name
    }
    return from_torchvision(ds, labels, [str(c) for c in codes], convert=_upright(background), **extra)


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
    label="iNat",
    sizes={"val": 100000},
)
def inaturalist(root, split, download, background, mirror=None):
    ds = torchvision_dataset("INaturalist")(root, download, mirror, background, version="2021_valid", target_type="full")
    categories = np.asarray([cat for cat, _ in ds.index], dtype=np.int64)
    extra = {}
    for level in INATURALIST_LEVELS:
        # categories_index maps each level's name to an index; all_categories holds "full" names
        # "kingdom_phylum_..._species": the level's label is the prefix up to that level.
        depth = INATURALIST_LEVELS.index(level) + 1
        names = ["_".join(full.split("_")[1 : 1 + depth]) for full in ds.all_categories]
        codes = np.unique(names, return_inverse=True)[1]
        extra[f"label_{level}"] = codes[categories].astype(np.int64)
    return from_torchvision(ds, categories, ds.all_categories, **extra)


@register(
    "eurosat",
    "EuroSAT RGB (torchvision); the study's own stratified 85/15 split, seed 0",
    "Far-OOD",
    10,
    "test",
    ["test", "train"],
    "eurosat/2750",
    label="ESAT",
    sizes={"test": 4050, "train": 22950},
)
def eurosat(root, split, download, background, mirror=None):
    ds = torchvision_dataset("EuroSAT")(root, download, mirror, background)
    images = from_torchvision(ds, ds.targets, ds.classes)
    train, test = carve(images.labels, 0.15)
    return images.subset(test if split == "test" else train)
