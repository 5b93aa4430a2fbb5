"""The workflow's configuration: schema, validation with one-line errors, defaults, run grid.

Config entries are named by the user (`umap50`, `ac_ward`, ...); an entry's `type` names the
registry entry and defaults to the entry's own name, so `kmeans: {}` is a valid clusterer.

By concern:
- config_schema: the JSON schema (top-level sections, options of every entry of a kind, registries);
- validation: validation against it (one line naming the key), entry types and defaults;
- yaml_files: YAML read strictly (duplicate keys refused; errors name file:line:col);
- protocol: protocol (params) files and their per-encoder settings;
- search_plan: the hyper-parameter search's plan;
- checkpoint_series: an encoder with a checkpoint series (files or a folder) as one encoder per file;
- weight_files: encoders left out for a missing weights file (if_missing: skip);
- grid: the loaded Config and its runs;
- checks: checks against the installed libraries and files, and the checks a job makes;
- loader: load().
"""

from .checks import check_config, check_model_name, left_out_lines, n_clusters_problem, reducer_problem
from .config_schema import COMMON_OPTIONS, KIND_DESCRIPTIONS, KINDS, NAME_PATTERN, TOP_LEVEL, entry_schema, registries, schema
from .errors import ConfigError
from .grid import RUN_KEYS, UMAP_SPACE, Config
from .loader import load
from .validation import validate
from .yaml_files import check_config_files, read_yaml

__all__ = [
    "COMMON_OPTIONS",
    "KIND_DESCRIPTIONS",
    "KINDS",
    "NAME_PATTERN",
    "RUN_KEYS",
    "TOP_LEVEL",
    "UMAP_SPACE",
    "Config",
    "ConfigError",
    "check_config",
    "check_config_files",
    "check_model_name",
    "entry_schema",
    "left_out_lines",
    "load",
    "n_clusters_problem",
    "read_yaml",
    "reducer_problem",
    "registries",
    "schema",
    "validate",
]
