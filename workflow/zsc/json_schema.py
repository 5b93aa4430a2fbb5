"""Validation against a JSON schema with a one-line error naming the key (ConfigError).

Below the registries and stages: the config (zsc.config) validates whole configs with it and the
search (zsc.search) the candidate settings of one clusterer against its registry entry's schema.
"""

from __future__ import annotations

import difflib

from .errors import ConfigError


def _path(error, prefix: str = "") -> str:
    return ".".join([prefix] * bool(prefix) + [str(p) for p in error.absolute_path]) or "(top level)"


def close_matches(word, choices, n: int = 3) -> str:
    """' (close: a, b)' for the choices nearest to a misspelt `word`; '' when none is near."""
    near = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)
    return f" (close: {', '.join(near)})" if near else ""


def validate(config, schema: dict, prefix: str = "") -> None:
    """ConfigError (one line: the key, `prefix` first, and what is wrong) unless `config` is valid."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    # A bad value inside a type's options also leaves its key "unevaluated"; name the bad value.
    specific = [e for e in errors if e.validator != "unevaluatedProperties"]
    error = jsonschema.exceptions.best_match(specific or errors)
    if error is not None:
        # Cross-option rules carry their reason as the failing subschema's description.
        why = error.schema.get("description") if error.validator == "const" and isinstance(error.schema, dict) else None
        near = close_matches(error.instance, error.validator_value) if error.validator == "enum" else ""
        raise ConfigError(f"{_path(error, prefix)}: {error.message}" + (f" ({why})" if why else "") + near)
