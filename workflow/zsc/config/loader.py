"""load(): a config as loaded from YAML -> a validated zsc.config.Config."""

from __future__ import annotations

import copy

from ..errors import ConfigError
from ..json_schema import validate
from .checkpoint_series import expand_checkpoint_series
from .config_schema import KINDS, schema
from .loaded_config import Config, metric_reducers
from .protocol import find_protocol, read_protocol, resolve_protocol
from .search_plan import resolve_search
from .validation import check_sizes, fill_defaults, with_types
from .weight_files import missing_weights


def load(config: dict, search: tuple = (), workdir: str = ".") -> Config:
    """Validate a config as loaded from YAML and fill in its defaults; raises ConfigError. The dict
    passed in is not changed. A relative protocol path is looked up in the working folder, then in
    each `search` folder. Encoders with `if_missing: skip` whose weights file (or checkpoint folder) is
    missing are left out (Config.left_out); relative weights files and folders are read from `workdir`."""
    if not isinstance(config, dict) or not config:
        raise ConfigError("(top level): the config is empty; pass --configfile or use config/config.yaml")
    given = copy.deepcopy(config)
    full_schema = schema()
    settings = with_types(given)  # a deep copy: `given` stays as the user wrote it
    protocol = None
    if settings.get("protocol"):
        if not isinstance(settings["protocol"], str):
            raise ConfigError(f"protocol: {settings['protocol']!r} is not of type 'string'")
        protocol = read_protocol(find_protocol(settings["protocol"], search))
        for kind in ("reducers", "clusterers"):
            if kind in settings:
                raise ConfigError(f"{kind}: the protocol {settings['protocol']} names the {kind}; leave them out of the config")
            settings[kind] = with_types({kind: protocol[kind]})[kind]
    else:
        for kind in ("reducers", "clusterers"):
            if kind not in settings:
                raise ConfigError(f"(top level): '{kind}' is a required property (or name a protocol)")
    validate(settings, full_schema)
    settings = fill_defaults(settings)
    validate(settings, full_schema)  # cross-option rules see the defaults too
    check_sizes(settings)
    settings["encoders"], left_out = expand_checkpoint_series(settings["encoders"], workdir)
    left_out.update(missing_weights(settings["encoders"], workdir))
    for entry in settings["encoders"].values():
        entry.pop("if_missing", None)  # it decides which encoders run, not what they compute: kept out of params and hashes
    table = resolve_protocol(protocol, settings) if protocol else None  # the left-out encoders' too, to count their runs
    settings["encoders"] = {name: entry for name, entry in settings["encoders"].items() if name not in left_out}
    if not settings["encoders"]:
        raise ConfigError(f"encoders: every encoder is left out: {'; '.join(left_out.values())}")
    for kind in KINDS:
        for name, entry in settings[kind].items():
            entry["name"] = name
    own, umap_reducer = metric_reducers(settings)
    settings["search"] = resolve_search(settings)
    return Config(
        given=given, settings=settings, protocol=table, metric_reducers=own, umap_reducer=umap_reducer, left_out=left_out
    )
