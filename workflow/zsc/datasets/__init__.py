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

from .base import (
    DATASETS,
    DATASETS_WITHOUT_DOWNLOAD,
    GROUPS,
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
from .torchvision_sets import (  # noqa: F401  (registers the entries, in this order)
    CELEBA_ATTRIBUTES_PREFIX,
    DEBIAN_FASHION_MNIST,
    DEBIAN_FASHION_MNIST_MD5,
    digits,
    fashion_mnist_class,
)
from . import folders  # noqa: F401,E402
from .study_sets import BIOSCAN_LEVELS, bioscan_taxonomy  # noqa: F401,E402
from . import imagefolder  # noqa: F401,E402
from .stage import bad_files_path, default_root, is_available, open_split, prepare, root_of, stratified_subsample  # noqa: E402

__all__ = [
    "DATASETS",
    "DATASETS_WITHOUT_DOWNLOAD",
    "GROUPS",
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
    "is_available",
    "native_size",
    "open_split",
    "prepare",
    "read_image",
    "register",
    "root_of",
    "stratified_subsample",
    "to_rgb_or_grey",
]
