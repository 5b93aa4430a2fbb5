"""The workflow's configuration: schema, validation with one-line errors, defaults, run grid.

Config entries are named by the user (`umap50`, `ac_ward`, ...); an entry's `type` names the
registry entry and defaults to the entry's own name, so `kmeans: {}` is a valid clusterer.

By concern:
- config_schema: the JSON schema (top-level sections, options every entry of a kind has, and the
  registries, whose entries declare their own options);
- validation: entry types, defaults, checks across options (zsc.json_schema validates against the schema);
- yaml_files: YAML read strictly (duplicate keys refused; errors name file:line:col);
- protocol: protocol (params) files and their per-encoder settings;
- search_plan: the hyper-parameter search's plan;
- checkpoint_series: an encoder with a checkpoint series (files or a folder) as one encoder per file;
- weight_files: encoders left out for a missing weights file (if_missing: skip);
- loaded_config: the loaded Config and its runs;
- checks: checks against the installed libraries and files, and the encoders left out;
- loader: load().

The config sits above the registries and stages and below the outputs (docs/architecture.md):
it imports them, they never import it. ConfigError is defined below them (zsc.errors) so that a
stage can raise it too.
"""

from ..errors import ConfigError
from .checks import check_config, check_model_name, left_out_lines
from .config_schema import COMMON_OPTIONS, KIND_DESCRIPTIONS, KINDS, NAME_PATTERN, TOP_LEVEL, entry_schema, registries, schema
from .loaded_config import Config
from .loader import load
from .yaml_files import check_config_files, read_config_file, read_yaml

__all__ = [
    "COMMON_OPTIONS",
    "KIND_DESCRIPTIONS",
    "KINDS",
    "NAME_PATTERN",
    "TOP_LEVEL",
    "Config",
    "ConfigError",
    "check_config",
    "check_config_files",
    "check_model_name",
    "entry_schema",
    "left_out_lines",
    "load",
    "read_config_file",
    "read_yaml",
    "registries",
    "schema",
]
