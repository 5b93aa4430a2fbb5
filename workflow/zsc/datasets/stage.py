"""The prepare_dataset stage: open a split, fetch and verify its files, draw the optional stratified
subsample and write the manifest every later stage reads (and, beside it, the list of files left out)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

from .base import DATASETS, UNLABELLED, SplitImages

log = logging.getLogger(__name__)

NAMED_IN_LOG = 10  # bad files named in the log line; all of them are in the bad-files list


def default_root(dataset_type: str) -> str:
    """Where a dataset's files live unless the config's `root` says otherwise."""
    return f"resources/datasets/{DATASETS[dataset_type].info.get('root', dataset_type)}"


def root_of(spec: dict) -> str:
    return spec.get("root") or default_root(spec["type"])


def open_split(spec: dict, root: Path, download: bool = False) -> SplitImages:
    """Open the split named by a resolved dataset config entry (`download`: the prepare stage,
    which may fetch files and checks every image of an image folder)."""
    if not download:
        return DATASETS.build(spec, root=Path(root), download=False)
    with root_lock(root):
        return DATASETS.build(spec, root=Path(root), download=True)


@contextlib.contextmanager
def root_lock(root: Path):
    """Hold the dataset root's lock while its files are fetched and extracted: the prepare jobs of
    two splits (a test split and its probe's train split) run side by side and share one root, and
    one's download, extraction or clean-up after a failure must not meet the other's."""
    import fcntl
    import hashlib
    import tempfile

    # in the temporary directory, not in the root (an image folder is the user's, maybe read-only),
    # named by the root's absolute path: every workflow on this machine fetching into it waits
    name = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "zsc-dataset-locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the job is killed
        yield


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


def bad_files_path(manifest_path: Path, split: str) -> Path:
    """The list of the files a prepare left out, beside its manifest."""
    return Path(manifest_path).with_name(f"bad-files-{split}.tsv")


def write_bad_files(path: Path, images: SplitImages) -> None:
    """A tab-separated list (path, reason) of every file left out; names printable (images.display_name)."""
    from .. import tables

    lines = ["path\treason"] + [f"{bad.path}\t{bad.reason}".replace("\n", " ") for _, bad in sorted(images.bad.items())]
    with tables.atomic(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def prepare(spec: dict, root: Path, manifest_path: Path) -> None:
    """Fetch and verify the dataset, then write the manifest of the samples to cluster."""
    from .. import tables

    images = open_split(spec, root, download=True)
    usable = np.setdiff1d(np.arange(len(images)), np.fromiter(images.bad, dtype=np.int64, count=len(images.bad)))
    listing = bad_files_path(manifest_path, spec["split"])
    if images.bad:
        write_bad_files(listing, images)
        named = "; ".join(str(bad) for bad in list(images.bad.values())[:NAMED_IN_LOG])
        more = f"; ... ({len(images.bad) - NAMED_IN_LOG} more)" if len(images.bad) > NAMED_IN_LOG else ""
        log.warning(
            "%s: skipped %d of %d files: %s%s; every one, with its reason, in %s",
            spec["name"],
            len(images.bad),
            len(images),
            named,
            more,
            listing,
        )
    else:
        listing.unlink(missing_ok=True)  # a previous prepare's list no longer applies
    labelled = images.labels[usable] != UNLABELLED
    counts = np.bincount(images.labels[usable][labelled], minlength=len(images.classes))
    lonely = [images.classes[c] for c in np.flatnonzero(counts == 1)]
    if lonely:
        log.warning("%s: %d classes have a single image: %s", spec["name"], len(lonely), ", ".join(lonely[:10]))
    emptied = [images.classes[c] for c in np.flatnonzero(counts == 0)]
    if emptied:
        log.warning(
            "%s: %d classes have no usable image (every file skipped) and are not counted: %s",
            spec["name"],
            len(emptied),
            ", ".join(emptied[:10]),
        )
    indices = usable[stratified_subsample(images.labels[usable], spec["max_samples"], spec["subsample_seed"])]
    n_classes = int(np.count_nonzero(counts))
    log.info("%s/%s: %d of %d samples, %d classes", spec["name"], spec["split"], len(indices), len(images), n_classes)
    columns = {"index": indices.astype(np.int64), "label": images.labels[indices]}
    if images.paths is not None:  # the user's image files: which file each sample is (the per-image tables show it)
        columns["path"] = np.asarray(images.paths, dtype=object)[indices]
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
