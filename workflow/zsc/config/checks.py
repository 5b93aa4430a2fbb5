"""Checks of a loaded config against the world, so that what would fail in a job stops before any
job with one line naming the config key: encoder model names (against timm's and torchvision's
registries), local weight files (present, and checkpoints by their first bytes), weight URLs, a
dataset entry's own check (an image folder's root), the number of clusters asked of a subsample.
The checks only a job can make (PCA components against the embeddings' dimension, n_clusters
against the samples present) live with the reducers and clusterers (zsc.reducers.reducer_problem,
zsc.clusterers.n_clusters_problem), which the jobs call; here they are applied to what is known
before any job.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

from ..errors import ConfigError
from ..json_schema import close_matches
from .checkpoint_series import series_base

# `@register_model` (timm) / `@register_model()` or `@register_model(name="...")` (torchvision),
# maybe more decorators, then the model's function: read from the sources, since importing either
# library (and torch) takes seconds and the Snakefile is parsed again by every job.
_REGISTERED = re.compile(r"^@register_model\b(?:\(name=[\"'](\w+)[\"']\))?[^\n]*\n(?:[@ \t)][^\n]*\n)*?def\s+(\w+)", re.M)


@functools.cache
def registered_models(library: str) -> frozenset[str]:
    """Model names registered in `library`'s sources (timm or torchvision), without importing it;
    empty if it is not installed."""
    spec = importlib.util.find_spec(library)  # a top-level package: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    names = set()
    for path in Path(spec.submodule_search_locations[0], "models").rglob("*.py"):
        names.update(given or function for given, function in _REGISTERED.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


def _listed_models(library: str) -> list[str] | None:
    """The library's own list of model names (imports it: seconds); None if it is not installed."""
    try:
        if library == "timm":
            import timm

            return timm.list_models()
        import torchvision.models

        return torchvision.models.list_models()
    except ImportError:
        return None


def check_model_name(where: str, library: str, model: str) -> None:
    """ConfigError unless `model` names a model of `library` (timm: a tag after the dot is allowed,
    hub names with a colon are not checked). The source scan answers almost every name; a name it
    does not find is looked up in the library's own list before it is refused."""
    arch = model.split(".")[0] if library == "timm" else model
    if ":" in model or arch in registered_models(library):
        return
    listed = _listed_models(library)
    if listed is None or arch in listed:
        return
    raise ConfigError(f"{where}: {model!r} is not a {library} model{close_matches(arch, listed)}")


def _encoder_key(name: str, field: str) -> str:
    """The config key of an encoder's field; an encoder of a checkpoint series is one of its files."""
    if "@" in name:
        return f"encoders.{series_base(name)}.checkpoints.{name.split('@', 1)[1]}"
    return f"encoders.{name}.{field}"


def check_config(config) -> list[str]:
    """Check a loaded config (zsc.config.Config) against the installed libraries and the files it
    names; raises ConfigError, returns warnings (one line each) about runs that will be recorded as
    failed. Relative paths are read from the working folder."""
    from ..weights import checkpoint_problem, url_problem
    from .config_schema import registries

    datasets = registries()["datasets"]
    for name, entry in config["datasets"].items():
        check = datasets[entry["type"]].info.get("check")  # a dataset entry's own check of its options
        problem = check and check(entry)
        if problem:
            raise ConfigError(f"datasets.{name}.{problem}")
    encoders = registries()["encoders"]
    for name, entry in config["encoders"].items():
        library = encoders[entry["type"]].info.get("model_library")
        if library:
            check_model_name(f"encoders.{name}.model", library, entry["model"])
        path = entry.get("weights_file")
        if path and not Path(path).is_file():
            raise ConfigError(f"{_encoder_key(name, 'weights_file')}: {path} does not exist")
        problem = path and checkpoint_problem(path)
        if problem:
            raise ConfigError(f"{_encoder_key(name, 'weights_file')}: {path} {problem}")
        url = entry.get("weights_url")
        problem = url and url_problem(url)
        if problem:
            raise ConfigError(f"encoders.{series_base(name)}.weights_url: {url!r} {problem}")
    from ..choose_k import check as check_choose_k

    check_choose_k(config)  # a dataset with neither labels nor n_clusters, and no k chosen for it
    return left_out_lines(config) + dimension_warnings(config)


def left_out_lines(config) -> list[str]:
    """One line per encoder left out of the runs (if_missing: skip), with its reason and its runs."""
    return [
        f"{config.left_out[name]}: its {'' if runs is None else f'{runs} '}runs are left out"
        for name, runs in config.left_out_runs().items()
    ]


def dimension_warnings(config) -> list[str]:
    """Runs whose reducer asks for more components than their encoder's output has, where that
    dimension is known before embedding (raw pixels: at most 3 x image_size^2; the study's encoders)."""
    from ..reducers import reducer_problem
    from ..resources import UNKNOWN_DIM, embedding_dim

    warnings = {}
    for run in config.runs():
        encoder = config.entry("encoders", run["encoder"])
        dim = embedding_dim(encoder, config.info("encoders", run["encoder"]))
        problem = dim != UNKNOWN_DIM and reducer_problem(run["reducer"], config.entry("reducers", run["reducer"]), None, dim)
        if problem:
            warnings.setdefault(problem + f" of encoders.{run['encoder']}", None)
    return [f"{line}: its runs will be recorded as failed" for line in warnings]
