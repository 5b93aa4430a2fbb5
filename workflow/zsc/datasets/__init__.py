"""Dataset registry: where each dataset comes from and how its clustered split is read.

A factory takes the dataset's root folder (resources/datasets/<type>, or the config's `root`), the
split, `download` and `mirror` (and, for datasets of image files, `background`), and returns a
`SplitImages`: labels for every sample of the split, extra label columns (taxonomy levels,
attributes, ...), class names and a way to read one image. One module per kind of source:

- images: reading image files as the user sees them (docs/images.md), names printed safely;
- torchvision_sets: torchvision's dataset classes (own download and checksum code) and digits;
- folders: image folders that cannot be downloaded (ImageNet and its variants, Stanford Cars, ...),
  whose expected layout the error message spells out, and the search datasets;
- study_sets: readers of the published layouts torchvision has no class for (UTKFace, BreakHis, ...);
- imagefolder: the user's own folder of images;
- stage: `prepare`, which fetches and verifies the files, draws the optional stratified subsample and
  writes the manifest every later stage reads.
"""

from . import torchvision_sets, folders, study_sets, imagefolder  # the entry modules, in the registry's order
from .base import (
    DATASETS,
    DATASETS_WITHOUT_DOWNLOAD,
    SEED,
    UNLABELLED,
    BadFile,
    DatasetError,
    SplitImages,
    carve,
    native_size,
    register,
)
from .images import ImageRefused, display_name, read_image, to_rgb_or_grey
from .stage import bad_files_path, default_root, is_available, open_split, prepare, root_of, stratified_subsample
from .study_sets import BIOSCAN_LEVELS, bioscan_taxonomy
from .torchvision_sets import (
    CELEBA_ATTRIBUTES_PREFIX,
    DEBIAN_FASHION_MNIST,
    DEBIAN_FASHION_MNIST_MD5,
    digits,
    fashion_mnist_class,
)

__all__ = [
    "BIOSCAN_LEVELS",
    "CELEBA_ATTRIBUTES_PREFIX",
    "DATASETS",
    "DATASETS_WITHOUT_DOWNLOAD",
    "DEBIAN_FASHION_MNIST",
    "DEBIAN_FASHION_MNIST_MD5",
    "SEED",
    "UNLABELLED",
    "BadFile",
    "DatasetError",
    "ImageRefused",
    "SplitImages",
    "bad_files_path",
    "bioscan_taxonomy",
    "carve",
    "default_root",
    "digits",
    "display_name",
    "fashion_mnist_class",
    "folders",
    "imagefolder",
    "is_available",
    "native_size",
    "open_split",
    "prepare",
    "read_image",
    "register",
    "root_of",
    "stratified_subsample",
    "study_sets",
    "to_rgb_or_grey",
    "torchvision_sets",
]
