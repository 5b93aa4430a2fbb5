"""The hyper-parameter search's plan: the `search` section with its defaults, every name it uses
checked and every candidate setting validated (so a bad grid stops at parse time, not mid-search)."""

from __future__ import annotations

import copy

from ..errors import ConfigError
from ..json_schema import validate
from .config_schema import TOP_LEVEL, registries


def resolve_search(config: dict) -> dict | None:
    """The search section with its defaults, every name it uses checked and every candidate setting
    validated against its clusterer's schema."""
    search = copy.deepcopy(config.get("search"))
    if not search:
        return None
    props = TOP_LEVEL["search"]["properties"]
    search = {**{k: p["default"] for k, p in props.items() if "default" in p}, **search}

    def known(kind, names, where):
        for name in names:
            if name not in config[kind]:
                raise ConfigError(f"{where}: {name!r} is not one of the config's {kind} {list(config[kind])}")

    known("datasets", search["datasets"], "search.datasets")
    search["reducers"] = search["reducers"] or list(config["reducers"])
    known("reducers", search["reducers"], "search.reducers")
    known("clusterers", search["clusterers"], "search.clusterers")
    clusterer_props = props["clusterers"]["additionalProperties"]["properties"]
    done = []
    for name, plan in list(search["clusterers"].items()):
        where = f"search.clusterers.{name}"
        plan = {**{k: copy.deepcopy(p["default"]) for k, p in clusterer_props.items()}, **(plan or {})}
        if plan["after"] is not None and plan["after"] not in done:
            raise ConfigError(f"{where}.after: {plan['after']!r} is not a clusterer searched before it {done}")
        plan["reducers"] = plan["reducers"] or search["reducers"]
        known("reducers", plan["reducers"], f"{where}.reducers")
        known("datasets", plan["skip_datasets"], f"{where}.skip_datasets")
        if not set(search["datasets"]) - set(plan["skip_datasets"]):
            raise ConfigError(f"{where}.skip_datasets: skips every search dataset")
        for i, grid in enumerate(plan["steps"]):
            known("reducers", grid.get("reducer", []), f"{where}.steps.{i}.reducer")
            # each value must be valid for its setting; combinations that break a cross-option rule (ward
            # with l1, ...) are skipped during the search and listed in its trace
            options = registries()["clusterers"][config["clusterers"][name]["type"]].options
            for key, values in grid.items():
                if key == "reducer":
                    continue
                if key not in options:
                    raise ConfigError(f"{where}.steps.{i}: {key!r} is not a setting of {name} (it has: {', '.join(options)})")
                for value in values:
                    validate(value, options[key], f"{where}.steps.{i}.{key}")
        search["clusterers"][name] = plan
        done.append(name)
    return search
