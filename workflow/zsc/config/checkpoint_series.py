"""Checkpoint series: an encoder with `checkpoints: {label: file}` is one encoder per file."""

from __future__ import annotations


def expand_checkpoint_series(encoders: dict) -> dict:
    """An encoder with `checkpoints: {label: file}` becomes one encoder per file, <name>@<label>."""
    out = {}
    for name, entry in encoders.items():
        series = entry.get("checkpoints") or {}
        if not series:
            out[name] = entry
        for label, path in series.items():
            out[f"{name}@{label}"] = {**entry, "checkpoints": {}, "weights_file": path}
    return out


def series_base(encoder: str) -> str:
    """The configured encoder behind an encoder of a series (`run@ep10` -> `run`)."""
    return encoder.split("@")[0]
