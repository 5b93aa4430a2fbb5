"""Validation against the JSON schema (one line naming the key), entry types and defaults."""

from __future__ import annotations

import copy
import difflib

from .config_schema import COMMON_OPTIONS, KINDS, TOP_LEVEL, registries, schema
from .errors import ConfigError


def _path(error, prefix: str = "") -> str:
    return ".".join([prefix] * bool(prefix) + [str(p) for p in error.absolute_path]) or "(top level)"


def close_matches(word, choices, n: int = 3) -> str:
    """' (close: a, b)' for the choices nearest to a misspelt `word`; '' when none is near."""
    near = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)
    return f" (close: {', '.join(near)})" if near else ""


def validate(config: dict, schema_: dict | None = None, prefix: str = "") -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema_ or schema())
    errors = list(validator.iter_errors(config))
    # A bad value inside a type's options also leaves its key "unevaluated"; name the bad value.
    specific = [e for e in errors if e.validator != "unevaluatedProperties"]
    error = jsonschema.exceptions.best_match(specific or errors)
    if error is not None:
        # Cross-option rules carry their reason as the failing subschema's description.
        why = error.schema.get("description") if error.validator == "const" and isinstance(error.schema, dict) else None
        near = close_matches(error.instance, error.validator_value) if error.validator == "enum" else ""
        raise ConfigError(f"{_path(error, prefix)}: {error.message}" + (f" ({why})" if why else "") + near)


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
                f"datasets.{name}.n_clusters: {entry['n_clusters']} clusters of at most max_samples {entry['max_samples']} samples"
            )
