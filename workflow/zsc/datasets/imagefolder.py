"""The user's own images: one sub-folder per class, or a flat folder (unlabelled).

Preparing checks every file once (images.check_image) and says, in the log, what a user would
otherwise never learn: files left out and why, broken symbolic links, class folders without files
(not counted as classes), files with several frames (only the first is used)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from .base import DATASETS, UNLABELLED, BadFile, DatasetError, SplitImages
from .images import BACKGROUND_OPTION, IMAGE_EXTENSIONS, check_image, display_name, read_image

log = logging.getLogger(__name__)

NAMED_IN_LOG = 5  # names a log line lists before "..."


def _some(names: list[str]) -> str:
    return ", ".join(names[:NAMED_IN_LOG]) + (", ..." if len(names) > NAMED_IN_LOG else "")


def root_problem(spec: dict) -> str | None:
    """Why an imagefolder entry's `root` holds no images (None: it may), checked before any job,
    without Pillow and without reading a file: the folder exists and holds a file with an image
    extension (IMAGE_EXTENSIONS) or with none (Pillow may read it), where the images lie (in the
    class sub-folders, else in the folder itself). Stops at the first such file."""
    root = Path(spec["root"])
    if not root.is_dir():
        return f"root: {display_name(root)} {'is not a folder' if root.exists() else 'does not exist'}"
    visible = lambda p: not any(part.startswith(".") for part in p.relative_to(root).parts)  # noqa: E731
    folders = sorted(d for d in root.iterdir() if d.is_dir() and visible(d))
    candidates = (p for d in folders for p in d.rglob("*")) if folders else root.iterdir()
    first = None
    for path in candidates:
        if visible(path) and path.is_file():
            if path.suffix.lower() in IMAGE_EXTENSIONS or not path.suffix:
                return None
            first = first or path
    if first is None:
        return f"root: {display_name(root)} holds no files{' in its class sub-folders' if folders else ''}"
    why = f"none has an image extension such as .jpg or .png: e.g. {display_name(first.name)}"
    return f"root: {display_name(root)} holds no image files ({why})"


@functools.cache
def _has_class_folders(root: str) -> bool:
    path = Path(root)
    return not path.is_dir() or any(child.is_dir() and not child.name.startswith(".") for child in path.iterdir())


def has_class_folders(spec: dict) -> bool:
    """Whether an image folder is labelled (visible sub-folders, one per class), before any job: its
    runs then get the classes present as their number of clusters (zsc.choose_k). A folder that
    does not exist counts as labelled: its prepare job says what is wrong."""
    return _has_class_folders(str(spec["root"]))


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
            "description": "skip: leave out unusable files, listed in bad-files-<split>.tsv beside the manifest; "
            "error: stop before embedding at the first, naming it.",
        },
        **BACKGROUND_OPTION,
    },
    group="Other",
    n_classes=None,
    available=None,
    labelled=has_class_folders,
    label=None,
    full_name=None,
    sizes={},  # the folder's own: unknown before it is prepared
    native_size=None,
    schema={"properties": {"root": {"type": "string"}}},  # its folder must be named
    check=root_problem,  # before any job (zsc.config.check_config)
)
def imagefolder(root, split, download, min_image_size, max_image_pixels, bad_images, background, mirror=None):
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"imagefolder: {display_name(root)} is not a folder")
    visible = lambda p: not any(part.startswith(".") for part in p.relative_to(root).parts)  # noqa: E731
    broken = lambda p: p.is_symlink() and not p.exists()  # noqa: E731
    folders = sorted(d for d in root.iterdir() if d.is_dir() and visible(d))
    if folders:
        listed = {d: sorted(p for p in d.rglob("*") if visible(p) and (p.is_file() or broken(p))) for d in folders}
        class_dirs = [d for d in folders if any(p.is_file() for p in listed[d])]
        empty = [display_name(d.name) for d in folders if d not in class_dirs]
        entries = [(p, c) for c, d in enumerate(class_dirs) for p in listed[d]]
        stray = [display_name(p.name) for p in root.iterdir() if p.is_file() and visible(p)]
        if stray and download:
            log.warning(
                "imagefolder %s: %d files beside the class folders are ignored: %s",
                display_name(root),
                len(stray),
                _some(sorted(stray)),
            )
        if empty and download:
            log.warning(
                "imagefolder %s: %d class folders hold no files and are not classes: %s",
                display_name(root),
                len(empty),
                _some(empty),
            )
    else:
        class_dirs = []
        entries = [(p, UNLABELLED) for p in sorted(root.iterdir()) if visible(p) and (p.is_file() or broken(p))]
    links = [display_name(p.relative_to(root)) for p, _ in entries if broken(p)]
    if links and download:
        log.warning(
            "imagefolder %s: %d broken symbolic links (their targets are gone) are left out: %s",
            display_name(root),
            len(links),
            _some(links),
        )
    files = [(p, c) for p, c in entries if not broken(p)]
    if not files:
        raise DatasetError(f"imagefolder: no files in {display_name(root)}")
    paths = [p for p, _ in files]
    bad = {}
    if download:  # preparing: check every file once
        several_frames = []
        for i, path in enumerate(paths):
            reason, frames = check_image(path, min_image_size, max_image_pixels, background)
            if reason and bad_images == "error":
                raise DatasetError(f"imagefolder: {display_name(path)}: {reason} (bad_images: skip would leave it out)")
            if reason:
                bad[i] = BadFile(display_name(path), reason)
            elif frames > 1:
                several_frames.append(display_name(path.relative_to(root)))
        if len(bad) == len(paths):
            raise DatasetError(f"imagefolder: no usable images in {display_name(root)} ({len(paths)} files; first: {bad[0]})")
        if several_frames:
            log.warning(
                "imagefolder %s: %d files have several frames (animated GIF, multi-page TIFF, ...); only the "
                "first frame is used: %s",
                display_name(root),
                len(several_frames),
                _some(several_frames),
            )
    read = functools.partial(read_image, background=background)
    return SplitImages(
        np.asarray([c for _, c in files], dtype=np.int64),
        [display_name(d.name) for d in class_dirs],
        lambda i: read(paths[i]),
        bad=bad,
        paths=[display_name(p.relative_to(root).as_posix()) for p in paths],
    )
