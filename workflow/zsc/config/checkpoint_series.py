"""Checkpoint series: an encoder with `checkpoints: {label: file}` is one encoder per file.

`checkpoints: {folder: ckpt/, pattern: "ep*.pth"}` names the files of a training run by a glob: the
folder is listed when the config is read (the one place the config looks into a folder, so that a
rerun after new checkpoints appear picks them up), each file labelled by its name without the
checkpoint suffixes and ordered by the numbers in its name (natural order: ep2 before ep10).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ConfigError
from ..weights import natural_key
from .config_schema import NAME_PATTERN

# Suffixes a checkpoint file's label leaves out ("ep010.pth.tar" is labelled "ep010").
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".tar", ".safetensors", ".ckpt", ".bin")


def checkpoint_label(file_name: str) -> str:
    """A checkpoint file's label: its name without the checkpoint suffixes ("ep010.pth" -> "ep010")."""
    label = file_name
    while (suffix := os.path.splitext(label)[1]) in CHECKPOINT_SUFFIXES and len(label) > len(suffix):
        label = label[: -len(suffix)]
    return label


class MissingCheckpoints(ConfigError):
    """A checkpoint folder that is not there or holds no matching file (left out with `if_missing: skip`)."""


def listed_checkpoints(name: str, series: dict, workdir: str | os.PathLike = ".") -> dict[str, str]:
    """label -> file of a `{folder, pattern}` series, in natural order of the file names; each file as
    the folder was given joined with its name (relative folders are read from `workdir`)."""
    folder, pattern = series["folder"], series.get("pattern", "*")
    where = f"encoders.{name}.checkpoints"
    root = Path(workdir, folder)
    if not root.is_dir():
        raise MissingCheckpoints(f"{where}.folder: {folder} is not a folder")
    files = sorted((p for p in root.glob(pattern) if p.is_file()), key=lambda p: natural_key(p.relative_to(root).as_posix()))
    if not files:
        raise MissingCheckpoints(f"{where}: no file in {folder} matches {pattern!r}")
    listed = {}
    for path in files:
        label = checkpoint_label(path.name)
        if not re.fullmatch(NAME_PATTERN, label):
            raise ConfigError(f"{where}: {path.name}: its label {label!r} must match {NAME_PATTERN} (rename the file)")
        if label in listed:
            raise ConfigError(f"{where}: {listed[label]} and {path.name} have the same label {label!r}")
        listed[label] = os.path.join(folder, path.relative_to(root).as_posix())
    return listed


def expand_checkpoint_series(encoders: dict, workdir: str | os.PathLike = ".") -> tuple[dict, dict[str, str]]:
    """(encoders, left out): an encoder with `checkpoints` becomes one encoder per file, <name>@<label>.
    A folder series whose folder is missing or holds no match stops the config (ConfigError), or with
    `if_missing: skip` is left out: encoder name -> the reason."""
    out, left_out = {}, {}
    for name, entry in encoders.items():
        series = entry.get("checkpoints") or {}
        if "folder" in series:
            try:
                series = listed_checkpoints(name, series, workdir)
            except MissingCheckpoints as missing:
                if entry.get("if_missing") != "skip":
                    raise
                left_out[name] = f"{missing} (if_missing: skip)"
                continue
        if not series:
            out[name] = entry
        for label, path in series.items():
            out[f"{name}@{label}"] = {**entry, "checkpoints": {}, "weights_file": path}
    return out, left_out


def series_base(encoder: str) -> str:
    """The configured encoder behind an encoder of a series (`run@ep10` -> `run`)."""
    return encoder.split("@")[0]
