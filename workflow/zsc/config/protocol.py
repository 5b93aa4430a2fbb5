"""Protocol (params) files, e.g. config/params/v5.0.yaml: the reducers and clusterers they name and,
per encoder and clusterer, the reducer and settings to run (per dataset: settings on top)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..json_schema import validate
from .checkpoint_series import series_base
from .config_schema import entry_schema
from .yaml_files import read_yaml


def find_protocol(path: str, search: tuple = ()) -> str:
    """A relative protocol path as found in the working folder, else in each `search` folder (else as given)."""
    found = [p for p in (Path(path), *(Path(d) / path for d in search)) if p.is_file()]
    return str(found[0]) if found else path


def read_protocol(path: str) -> dict:
    params = read_yaml(path, "protocol")
    missing = [key for key in ("reducers", "clusterers", "encoders") if not isinstance(params, dict) or key not in params]
    if missing:
        raise ConfigError(f"protocol: {path} has no {', '.join(missing)}")
    return params


def resolve_protocol(params: dict, config: dict) -> dict:
    """Per encoder and clusterer: the reducer and the merged settings, each checked against the
    clusterer's schema; per dataset: settings on top (e.g. HDBSCAN's min_cluster_size)."""
    path = config["protocol"]
    datasets = params.get("datasets") or {}
    table = {
        "encoders": {},
        "datasets": {},
        "paper_clusterers": params.get("paper_clusterers", []),
        "version": params.get("version"),
    }
    for encoder, spec in config["encoders"].items():
        base = series_base(encoder)  # a checkpoint series shares its encoder's settings
        settings = params["encoders"].get(base) or params["encoders"].get(spec["type"])
        if settings is None:
            known = ", ".join(params["encoders"])
            raise ConfigError(f"encoders.{encoder}: the protocol {path} has no settings for it (it has: {known})")
        table["encoders"][encoder] = {}
        for clusterer, setting in settings.items():
            where = f"protocol {path}: encoders.{base}.{clusterer}"
            if clusterer not in config["clusterers"]:
                raise ConfigError(f"{where}: {clusterer!r} is not one of the protocol's clusterers {list(config['clusterers'])}")
            setting = dict(setting or {})
            reducer = setting.pop("reducer", None)
            if reducer not in config["reducers"]:
                raise ConfigError(
                    f"{where}.reducer: {reducer!r} is not one of the protocol's reducers {list(config['reducers'])}"
                )
            entry = {**config["clusterers"][clusterer], **setting}
            validate(entry, entry_schema("clusterers"), where)
            table["encoders"][encoder][clusterer] = {"reducer": reducer, "options": setting}
    for name, spec in config["datasets"].items():
        overrides = datasets.get(name) or datasets.get(spec["type"]) or {}
        for clusterer, setting in overrides.items():
            for encoder in table["encoders"]:
                if clusterer in table["encoders"][encoder]:
                    entry = {**config["clusterers"][clusterer], **table["encoders"][encoder][clusterer]["options"], **setting}
                    validate(entry, entry_schema("clusterers"), f"protocol {path}: datasets.{name}.{clusterer}")
        table["datasets"][name] = overrides
    return table
