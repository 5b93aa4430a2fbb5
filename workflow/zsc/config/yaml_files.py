"""YAML files read strictly: a duplicate key is an error (PyYAML keeps the last silently), and
every error is one line naming the file, line and column.

Used for the protocol (params) files, the search's files and, from the Snakefile, for the config
files Snakemake has already read itself (Snakemake accepts duplicate keys).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import ConfigError


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden here
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark)
        except TypeError:  # an unhashable key: SafeLoader's own error says so
            break
        if first is not key_node.start_mark:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first.line + 1})", key_node.start_mark
            )
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(path, mark) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


def read_yaml(path, what: str = "config file"):
    """The YAML document in `path`, read strictly; ConfigError (one line: `what` file:line:col: problem)
    on a file that cannot be read, is not text, or is not valid YAML."""
    try:
        text = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{what}: cannot read {path} ({err.strerror})") from None
    try:
        text = text.decode("utf-8")
    except UnicodeDecodeError as err:
        line = text[: err.start].count(b"\n") + 1
        raise ConfigError(f"{what} {path}:{line}: not a text file (byte {text[err.start]:#04x} is not UTF-8)") from None
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "not valid YAML"
        raise ConfigError(f"{what} {_where(path, mark)}: {problem}") from None
    except yaml.YAMLError as err:  # e.g. a control character PyYAML's reader refuses
        mark = getattr(err, "position", None)
        detail = str(err).splitlines()[0]
        where = f"{path}:{text[:mark].count(chr(10)) + 1}" if isinstance(mark, int) else str(path)
        raise ConfigError(f"{what} {where}: {detail}") from None


def check_config_files(paths) -> None:
    """Read each config file again, strictly: Snakemake has read them already, keeping the last of
    duplicate keys without a word. A YTE template (`__use_yte__: true`) is left to Snakemake."""
    for path in paths:
        try:
            if b"__use_yte__" in Path(path).read_bytes():
                continue
        except OSError:
            pass  # read_yaml names it
        try:
            read_yaml(path)
        except ConfigError:
            if not _is_json(path):  # JSON that is not YAML (tab indents): Snakemake reads it as JSON
                raise


def _is_json(path) -> bool:
    import json

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ConfigError(f"config file {path}: duplicate key {repeated[0]!r}")
        return dict(pairs)

    try:
        json.loads(Path(path).read_bytes(), object_pairs_hook=no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError):  # not JSON; a duplicate key (ConfigError) goes up
        return False
    return True
