"""Datasets torchvision has no class for: readers of their published layouts, with the study's splits.
Their files are read by images.read_image."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from .base import DATASETS_WITHOUT_DOWNLOAD, DatasetError, SplitImages, carve, encode, register, require
from .images import display_name, read_image

log = logging.getLogger(__name__)


def files_images(paths: list[Path], labels, classes, background: str, **extra) -> SplitImages:
    read = functools.partial(read_image, background=background)
    return SplitImages(np.asarray(labels, dtype=np.int64), [str(c) for c in classes], lambda i: read(paths[i]), extra)


DATASETS_WITHOUT_DOWNLOAD.update(
    {
        "utkface": "Place UTKFace's aligned and cropped faces as "
        "resources/datasets/utkface/UTKFace/<age>_<gender>_<race>_<date>.jpg.chip.jpg.",
        "breakhis": "Place BreakHis as "
        "resources/datasets/breakhis/BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/<type>/<slide>/"
        "<40X|100X|200X|400X>/*.png.",
        "nabirds": "Place NABirds as resources/datasets/nabirds/nabirds/ with images/, images.txt, "
        "image_class_labels.txt, train_test_split.txt and classes.txt.",
    }
)


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
    label="UTKF",
    sizes={"test": 5926, "train": 17776},
)
def utkface(root, split, download, background, mirror=None):
    folder = require(Path(root) / "UTKFace", "utkface")
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        fields = path.name.split("_")
        # A few published files lack a field in their name (the study drops them too).
        if len(fields) >= 4 and all(f.isdigit() for f in fields[:3]):
            rows.append((int(fields[0]), int(fields[1]), int(fields[2]), path))
        else:
            log.warning("utkface: %s has no age_gender_race_ name; left out", display_name(path.name))
    rows.sort(key=lambda row: (row[0], row[3].name))
    # The study: a quarter of the age-sorted images, evenly spaced from the third to the third-last.
    test = set(np.round(np.linspace(2, len(rows) - 3, int(0.25 * len(rows)))).astype(int).tolist())
    chosen = [row for i, row in enumerate(rows) if (i in test) == (split == "test")]
    ages, genders, races, paths = zip(*chosen) if chosen else ((), (), (), ())
    labels, classes = encode(ages)
    return files_images(
        list(paths),
        labels,
        classes,
        background,
        label_gender=np.asarray(genders, dtype=np.int64),
        label_race=np.asarray(races, dtype=np.int64),
    )


@register(
    "breakhis",
    "BreakHis: 8 tumour types x 4 magnifications = 32 classes; the study's 60/40 split, seed 0",
    "Far-OOD",
    32,
    "test",
    ["test", "train"],
    "BreaKHis_v1",
    extra_labels=True,
    label="BHis",
    sizes={"test": 3164, "train": 4745},
)
def breakhis(root, split, download, background, mirror=None):
    slides = require(Path(root) / "BreaKHis_v1" / "histology_slides" / "breast", "breakhis")
    paths = sorted(slides.glob("*/SOB/*/*/*/*.png"))
    if not paths:
        raise DatasetError(f"breakhis: no PNG images under {slides}. {DATASETS_WITHOUT_DOWNLOAD['breakhis']}")
    # .../<benign|malignant>/SOB/<type>/<slide>/<magnification>/<file>.png
    tumour = [p.parents[2].name for p in paths]
    magnification = [p.parent.name for p in paths]
    labels, classes = encode([f"{t}_{m}" for t, m in zip(tumour, magnification)])
    images = files_images(
        paths,
        labels,
        classes,
        background,
        label_tumour=encode(tumour)[0],
        label_magnification=encode(magnification)[0],
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
    label="Birds",
    sizes={"test": 24633, "train": 23929},
)
def nabirds(root, split, download, background, mirror=None):
    base = require(Path(root) / "nabirds", "nabirds")

    def table(name):
        with open(require(base / name, "nabirds")) as f:
            return dict(line.rstrip("\n").split(" ", 1) for line in f if line.strip())

    paths, class_of, is_train, names = (
        table("images.txt"),
        table("image_class_labels.txt"),
        table("train_test_split.txt"),
        table("classes.txt"),
    )
    wanted = "0" if split == "test" else "1"
    ids = sorted((i for i in paths if is_train[i] == wanted), key=lambda i: paths[i])
    labels, class_ids = encode([int(class_of[i]) for i in ids])
    return files_images([base / "images" / paths[i] for i in ids], labels, [names[str(c)] for c in class_ids], background)


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
    label="Bio",
    sizes={"test": 24600},
)
def bioscan1m(root, split, download, background, mirror=None):
    import pandas as pd

    root = Path(root)
    columns = ["sampleid", "uri", *BIOSCAN_LEVELS, "image_file", "chunk_number"]
    metadata = pd.read_csv(
        require(root / "BIOSCAN_Insect_Dataset_metadata.tsv", "bioscan1m"), sep="\t", usecols=columns, dtype=str
    )
    wanted = set()
    for name in BIOSCAN_SPLIT_FILES[split]:
        wanted.update(
            line.strip() for line in require(root / f"{name}.txt", "bioscan1m").read_text().splitlines() if line.strip()
        )
    df = bioscan_taxonomy(metadata[metadata["sampleid"].isin(wanted)]).reset_index(drop=True)
    # Unidentified specimens form one class of their own at each level, as in the study's AMI.
    codes = {level: encode(df[level].fillna("not_classified"))[0] for level in (*BIOSCAN_LEVELS, "uri")}
    classes = encode(df["species"].fillna("not_classified"))[1]
    crops = root / "bioscan" / "images" / "cropped_256"
    paths = [crops / f"part{chunk}" / name for chunk, name in zip(df["chunk_number"], df["image_file"])]
    extra = {f"label_{level}": codes[level] for level in BIOSCAN_LEVELS[:-1]}
    return files_images(paths, codes["species"], classes, background, **extra, label_bin=codes["uri"])
