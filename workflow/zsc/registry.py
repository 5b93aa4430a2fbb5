"""One registry shape for datasets, encoders, reducers, clusterers, label-free scores and outputs.

An entry is a name, a one-line description, the JSON-schema properties of the options a config
entry of this type may set (each with a default and a description), a factory, and the facts every
other part of the workflow needs about it (`info`: a dataset's group and sizes, a clusterer's memory
and time estimates, a score's direction, ...). A registry names the info keys every entry must
declare and refuses an entry without them, so nothing about a method is kept in a side table.
Adding a method is adding an entry; the config schema, `python -m zsc list`, config/README.md, the
plan's estimates and the registry-driven tests (tests/test_registries.py) are derived from the
entries, so nothing else needs editing.

This module must stay cheap to import: the Snakefile imports it at parse time, and every SLURM job
parses the Snakefile again. Factories import heavy libraries (torch, sklearn, umap) when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    factory: Callable[..., Any]
    options: dict[str, dict] = field(default_factory=dict)
    # Free-form facts about the entry (a dataset's group, whether an encoder is neural, ...).
    info: dict[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {key: prop["default"] for key, prop in self.options.items() if "default" in prop}

    def required(self) -> list[str]:
        return [key for key, prop in self.options.items() if "default" not in prop]


class Registry:
    """Named entries of one kind (e.g. "clusterers"), in registration order; every entry declares
    the info keys in `required`."""

    def __init__(self, kind: str, required: tuple[str, ...] = ()):
        self.kind = kind
        self.required = tuple(required)
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, description: str, options: dict | None = None, **info):
        """Decorator registering `factory` under `name`; ValueError if the name is taken or the
        entry lacks one of the registry's required info keys."""
        missing = [key for key in self.required if key not in info]
        if missing:
            raise ValueError(f"{self.kind}: {name!r} does not declare {', '.join(missing)} (every entry must)")

        def register(factory):
            if name in self._entries:
                raise ValueError(f"{self.kind}: {name!r} is registered twice")
            self._entries[name] = Entry(name, description, factory, dict(options or {}), info)
            return factory

        return register

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind[:-1]} type {name!r}; known: {', '.join(self.names())}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def schema(self, common: dict | None = None) -> dict:
        """The JSON schema of a config entry of this kind: its `type` (one of the names), the options
        `common` to every entry, and each type's own options and cross-option rules (info "schema")."""
        branches = []
        for entry in self:
            then = {"properties": entry.options, "required": entry.required()}
            if "schema" in entry.info:  # cross-option rules, e.g. ward linkage needs euclidean
                then = {"allOf": [then, entry.info["schema"]]}
            branches.append({"if": {"properties": {"type": {"const": entry.name}}}, "then": then})
        return {
            "type": "object",
            "properties": {
                "type": {"enum": self.names(), "description": f"Registry entry ({'; '.join(self.names())})."},
                **(common or {}),
            },
            "required": ["type"],
            "allOf": branches,
            "unevaluatedProperties": False,
        }

    def build(self, spec: dict[str, Any], **kwargs):
        """Call the factory of `spec["type"]` with the spec's options (defaults filled in)."""
        entry = self[spec["type"]]
        options = {**entry.defaults(), **{k: v for k, v in spec.items() if k in entry.options}}
        return entry.factory(**options, **kwargs)
