"""The registry of outputs and its machinery: what a render job has, the decorator, the rule's helpers.

An output is an entry: a name, a caption (its description), its kind (table or figure), what it
needs of the config in words, a check of that (`missing(facts)` -> the reason it cannot be made, or
None), the result tables it reads, the other files it reads, whether it shows one pipeline per
(encoder, clusterer) (its caption then says on which reducer), and a function that writes it into its
own folder, results/outputs/<name>/ (a table as .csv, .md, .tex and .html; a figure as .png and .pdf).
An output whose runs all failed or were skipped is still written, empty, saying why (`results`,
`empty_reason`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..failures import RAN
from ..registry import Registry

OUTPUTS = Registry("outputs", required=("kind", "needs", "missing", "reads", "files", "results", "pipelines", "category"))
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


def output(
    name: str,
    kind: str,
    caption: str,
    needs: str,
    missing=needs_runs,
    reads=("runs",),
    files=(),
    results=None,
    pipelines=False,
    category=None,
):
    """Decorator registering a render function `fn(data: Data, out: Path)` as an output: `reads`
    names the result tables it reads (results/tables/<name>.parquet), `files` the other files
    (embeddings, maps, clusters: facts(...)["files"]). `results` names the tables (of RESULT_ROWS)
    that must hold a result for the output to have content (default: runs, if it reads them); where
    one holds none (every run failed or was skipped), the output is written empty, saying why.
    `pipelines`: it shows one pipeline per (encoder, clusterer), so its caption says which reducer
    (`caption`). `category`: where the report lists it (default: Tables or Figures, by kind)."""
    assert kind in ("table", "figure")
    category = category or f"{kind.capitalize()}s"
    results = tuple(("runs",) if results is None and "runs" in reads else results or ())
    assert set(results) <= set(reads) & set(RESULT_ROWS), results
    return OUTPUTS.add(
        name,
        caption,
        kind=kind,
        needs=needs,
        missing=missing,
        reads=tuple(reads),
        files=tuple(files),
        results=results,
        pipelines=pipelines,
        category=category,
    )


def pipeline_sentence(facts_: dict) -> str:
    """Which reducer each clusterer is shown on, in words (for captions and notes)."""
    if facts_.get("protocol"):
        return "Each (encoder, clusterer) on the reducer its protocol tuned (the hyperparameters table)."
    reducer_of = facts_.get("reducer_of") or {}
    if not reducer_of:
        return ""
    by_reducer: dict[str, list[str]] = {}
    for clusterer, reducer in reducer_of.items():
        by_reducer.setdefault(reducer, []).append(display_clusterer(facts_, clusterer))
    parts = [f"{display_reducer(facts_, r)} for {_joined(cs)}" for r, cs in by_reducer.items()]
    return f"One reducer per clusterer (outputs.reducer): {'; '.join(parts)}."


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def caption(name: str, facts_: dict) -> str:
    """An output's caption for this config: its description, and for an output of one pipeline per
    (encoder, clusterer), which reducer."""
    entry = OUTPUTS[name]
    sentence = pipeline_sentence(facts_) if entry.info["pipelines"] else ""
    return f"{entry.description} {sentence}".strip()


def display_clusterer(facts_: dict, clusterer: str) -> str:
    """How the outputs name a clusterer of the config (facts' clusterer_labels; else its name)."""
    return facts_.get("clusterer_labels", {}).get(clusterer, clusterer)


def display_reducer(facts_: dict, reducer: str) -> str:
    """How the outputs name a reducer of the config (facts' reducers; else its name)."""
    return facts_.get("reducers", {}).get(reducer, {}).get("label", reducer)


def display_keys(facts_: dict) -> dict[str, str]:
    """Every config key a reader must not see (dataset, encoder, clusterer and reducer names that
    have a display name of their own) -> that display name: the figure checks look for them."""
    keys = {}
    for name, info in facts_.get("datasets", {}).items():
        keys |= {name: info.get("name", info["label"])} if name not in (info["label"], info.get("name")) else {}
    for name, info in facts_.get("encoders", {}).items():
        keys |= {name: info["label"]} if name != info["label"] else {}
    for name, label in facts_.get("clusterer_labels", {}).items():
        keys |= {name: label} if name != label else {}
    for name, info in facts_.get("reducers", {}).items():
        keys |= {name: info["label"]} if name != info["label"] else {}
    return keys


def produced(facts_: dict) -> list[str]:
    """The outputs a config renders (those its facts do not rule out), in registry order."""
    return [entry.name for entry in OUTPUTS if entry.name not in facts_["not_produced"]]


def inputs(name: str, tables: dict[str, str], facts_: dict) -> dict[str, list[str]]:
    """The input files of one output's render job, by name: its tables, then its other files."""
    info = OUTPUTS[name].info
    return {**{table: [tables[table]] for table in info["reads"]}, **{kind: facts_["files"][kind] for kind in info["files"]}}


def render(name: str, tables: dict[str, str], facts_: dict, files: dict[str, list[str]], out_dir: str | Path) -> None:
    """Render one output into `out_dir` (made anew); empty, saying why, where its results are missing."""
    import shutil

    out = Path(out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    data = Data(dict(tables), facts_, dict(files))
    why = empty_reason(name, data)
    if why:
        write_empty(name, data, out, why)
        return
    OUTPUTS[name].factory(data, out)
    if not any(out.iterdir()):  # e.g. a table per dataset with extra labels, whose runs all failed
        write_empty(name, data, out, "none of the runs it reads has a result to show")


# ---------------------------------------------------------------------------------------------
# Outputs without results: when every run an output reads failed or was skipped, it is still
# written (a table of one line, a figure of one sentence) saying why, and outputs_index lists it as
# empty. Per result table: what a row holding a result is, and what the output then lacks.
def _status(runs):
    """Each run's status (a table without one: skipped where it has a reason for not running)."""
    if "status" in runs:
        return runs["status"]
    return runs["skipped"].fillna("").astype(str).map(lambda why: "skipped" if why else RAN)


def _level_rows(labels):
    """AMIs against the label levels besides the class label ("label"): what the outputs reading
    labels show (a table without AMIs: none)."""
    return labels["level"].ne("label") & (labels["AMI"].notna() if "AMI" in labels else False)


RESULT_ROWS = {
    "runs": ("run that ran", lambda frame: _status(frame).eq(RAN)),
    "labels": ("AMI against a label level besides the class", lambda frame: _level_rows(frame)),
    "labelfree": ("label-free score", lambda frame: frame["value"].notna()),
}
EMPTY_NOTES_SHOWN = 6  # not-run lines an empty figure shows (tables list them all)


def empty_reason(name: str, data: Data) -> str | None:
    """Why output `name` has nothing to show (the first of its `results` tables without a result
    row), or None."""
    for table in OUTPUTS[name].info["results"]:
        what, holds = RESULT_ROWS[table]
        frame = getattr(data, table)
        if not holds(frame).any():
            return _no_runs(data.runs) if table == "runs" else f"results/tables/{table}.parquet holds no {what}"
    return None


def _no_runs(runs) -> str:
    """Why no run ran: the count of each status and, if they share one, the reason."""
    if runs.empty:
        return "no run of this config ran: there are no runs"
    counts = ", ".join(f"{n} {status}" for status, n in _status(runs).value_counts(sort=False).items())
    reasons = runs["skipped"].fillna("").astype(str).unique()
    return f"no run of this config ran ({counts})" + (f": {reasons[0]}" if len(reasons) == 1 and reasons[0] else "")


def write_empty(name: str, data: Data, out: Path, why: str) -> None:
    """Output `name` without results: a table whose one row says why (in every format, the CSV too),
    or a figure holding only that sentence; both list the runs that did not run."""
    import pandas as pd

    from ..aggregate import not_run_notes

    notes = not_run_notes(data.runs) if "runs" in data.tables else []
    if OUTPUTS[name].info["kind"] == "table":
        caption = f"{OUTPUTS[name].description} Empty: {why}."
        write(pd.DataFrame({"why empty": [why]}), out, name, best=None, shade=False, notes=notes, caption=caption)
        return
    from ..plots import message_figure

    more = [f"... and {len(notes) - EMPTY_NOTES_SHOWN} more"] if len(notes) > EMPTY_NOTES_SHOWN else []
    shown = notes[:EMPTY_NOTES_SHOWN] + more
    save(message_figure(f"{name}: empty", [why, *shown]), out, name)


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
