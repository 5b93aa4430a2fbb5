"""Entry types and defaults of a config, and the checks across options (the schema checks each alone;
zsc.json_schema validates against it)."""

from __future__ import annotations

import copy

from ..errors import ConfigError
from .config_schema import COMMON_OPTIONS, KINDS, TOP_LEVEL, registries


def with_types(config: dict) -> dict:
    """A deep copy of `config` in which every entry names its registry `type` (default: its name)."""
    config = copy.deepcopy(config)
    for kind in KINDS:
        entries = config.get(kind)
        if isinstance(entries, dict):
            for name, entry in list(entries.items()):
                entries[name] = {"type": name, **(entry or {})} if isinstance(entry, (dict, type(None))) else entry
    return config


def fill_defaults(config: dict) -> dict:
    """`config` (a copy of the user's, validated) with every default filled in, in place."""
    for key, prop in TOP_LEVEL.items():
        value = config.setdefault(key, copy.deepcopy(prop["default"]))
        if prop["type"] == "object":
            for sub, subprop in prop["properties"].items():
                value.setdefault(sub, copy.deepcopy(subprop["default"]))
    for kind, registry in registries().items():
        common = {k: p["default"] for k, p in COMMON_OPTIONS[kind].items()}
        for name, entry in config[kind].items():
            config[kind][name] = {**common, **registry[entry["type"]].defaults(), **entry}
    return config


def check_sizes(settings: dict) -> None:
    """Numbers that contradict each other across options (the schema checks each alone)."""
    for name, entry in settings["datasets"].items():
        if entry["n_clusters"] and entry["max_samples"] and entry["n_clusters"] > entry["max_samples"]:
            raise ConfigError(
                f"datasets.{name}.n_clusters: {entry['n_clusters']} clusters of at most max_samples "
                f"{entry['max_samples']} samples"
            )
