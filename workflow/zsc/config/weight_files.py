"""Encoders whose local weights file is missing: with `if_missing: skip` their runs are left out of the
config, each with its reason (config/paper.yaml: the fine-tuned checkpoints the authors never released),
instead of stopping it. Without it the missing file stops the config (zsc.config.check_config)."""

from __future__ import annotations

import os
from pathlib import Path

from .checks import _encoder_key


def missing_weights(encoders: dict, workdir: str | os.PathLike = ".") -> dict[str, str]:
    """Encoder name -> why it is left out, for the encoders with `if_missing: skip` whose weights_file
    is not a file (relative paths are read from `workdir`)."""
    left_out = {}
    for name, entry in encoders.items():
        path = entry.get("weights_file")
        if entry.get("if_missing") == "skip" and path and not Path(workdir, path).is_file():
            left_out[name] = f"{_encoder_key(name, 'weights_file')}: {path} does not exist (if_missing: skip)"
    return left_out
