"""The registry of outputs and its machinery: what a render job has, the decorator, the rule's helpers.

An output is an entry: a name, a caption (its description), its kind (table or figure), what it
needs of the config in words, a check of that (`missing(facts)` -> the reason it cannot be made, or
None), the result tables it reads, the other files it reads, and a function that writes it into its
own folder, results/outputs/<name>/ (a table as .csv, .md, .tex and .html; a figure as .png and .pdf).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry import Registry

OUTPUTS = Registry("outputs", required=("kind", "needs", "missing", "reads", "files", "category"))
# The result tables outputs read (results/tables/<name>.parquet, written by the aggregate rule).
DATA_TABLES = ("runs", "labels", "labelfree", "probes")


# ---------------------------------------------------------------------------------------------
# Availability checks: each says why an output cannot be made from this config (None: it can).


def always(facts_):
    return None


def needs_runs(facts_):
    return None if facts_["datasets"] else "no runs in the config (a search-only config)"


# ---------------------------------------------------------------------------------------------
# The registry's machinery: what a render job has, the decorator, and the rule's helpers


@dataclass
class Data:
    """What a render job has: the result tables (read on first use), facts and extra files."""

    tables: dict[str, str]
    facts: dict
    files: dict[str, list[str]] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.tables:
            raise AttributeError(name)
        if name not in self._cache:
            import pandas as pd

            self._cache[name] = pd.read_parquet(self.tables[name])
        return self._cache[name]


def output(name: str, kind: str, caption: str, needs: str, missing=needs_runs, reads=("runs",), files=(), category=None):
    """Decorator registering a render function `fn(data: Data, out: Path)` as an output: `reads`
    names the result tables it reads (results/tables/<name>.parquet), `files` the other files
    (embeddings, maps, clusters: facts(...)["files"]); `category`: where the report lists it (default:
    Tables or Figures, by kind)."""
    assert kind in ("table", "figure")
    category = category or f"{kind.capitalize()}s"
    return OUTPUTS.add(
        name, caption, kind=kind, needs=needs, missing=missing, reads=tuple(reads), files=tuple(files), category=category
    )


def produced(facts_: dict) -> list[str]:
    """The outputs a config renders (those its facts do not rule out), in registry order."""
    return [entry.name for entry in OUTPUTS if entry.name not in facts_["not_produced"]]


def inputs(name: str, tables: dict[str, str], facts_: dict) -> dict[str, list[str]]:
    """The input files of one output's render job, by name: its tables, then its other files."""
    info = OUTPUTS[name].info
    return {**{table: [tables[table]] for table in info["reads"]}, **{kind: facts_["files"][kind] for kind in info["files"]}}


def render(name: str, tables: dict[str, str], facts_: dict, files: dict[str, list[str]], out_dir: str | Path) -> None:
    """Render one output into `out_dir` (made anew)."""
    import shutil

    out = Path(out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    OUTPUTS[name].factory(Data(dict(tables), facts_, dict(files)), out)


def list_lines() -> list[str]:
    """`python -m zsc list outputs`: name, kind, what it needs, caption."""
    return ["\t".join([e.name, e.info["kind"], e.info["needs"], e.description]) for e in OUTPUTS]


def labels_of(facts_: dict, kind: str) -> dict[str, str]:
    return {name: f["label"] for name, f in facts_[kind].items()}


def write(frame, out: Path, name: str, **kwargs):
    """A table of an output; its caption is the output's own unless given (`name` is the file's)."""
    from ..table_formats import write_table

    if name in OUTPUTS and "caption" not in kwargs:
        kwargs["caption"] = OUTPUTS[name].description
    return write_table(frame, out / name, **kwargs)


def write_csv(frame, out: Path, name: str):
    """<name>.csv of `frame` alone, at full precision (e.g. every row of a table whose other formats
    show fewer)."""
    (out / f"{name}.csv").write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")


def save(fig, out: Path, name: str, pdf: bool = True):
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    save_figure(fig, out / name, pdf=pdf)
    plt.close(fig)
