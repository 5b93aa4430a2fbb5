"""Collect per-job rows into result tables, and stage timings from Snakemake's benchmark files.

The tables (results/tables/*.parquet) hold only what the config and seed determine, so reruns give
identical bytes; measured times and memory go to stage_times.csv (one row per job) beside them.
- runs.parquet: one row per run (dataset, split, encoder, reducer, clusterer, seed) and its metrics;
- labels.parquet: the AMI of every run against every label level of its dataset;
- labelfree.parquet: the label-free scores per (dataset, split, encoder, seed), one row per score
  (zsc.labelfree.SCORES), the silhouettes of each clusterer's labels taken from runs.parquet;
- probes.parquet: kNN and linear-probe accuracy per (dataset, split, encoder).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .labelfree import SCORES
from .vocabulary import RUN_KEYS

LEVEL_KEYS = [*RUN_KEYS, "level"]
LABELFREE_KEYS = ["dataset", "split", "encoder", "seed", "score"]
PROBE_KEYS = ["dataset", "split", "encoder"]


def collect_runs(metric_paths: list[str], groups: dict[str, str]) -> pd.DataFrame:
    """runs.parquet: every run of the grid, one row each; `status` says whether it ran, was skipped
    or failed (zsc.failures) and `skipped` why not, its metrics then missing."""
    runs = collect(metric_paths, list(RUN_KEYS))
    runs.insert(1, "group", runs["dataset"].map(groups))
    skipped = runs["skipped"].fillna("").astype(str) if "skipped" in runs else pd.Series("", index=runs.index, dtype=object)
    if "status" not in runs:  # rows evaluated before runs had a status
        runs["status"] = skipped.map(lambda why: "skipped" if why else "ran")
    runs["skipped"] = skipped
    return runs


def collect(paths: list[str], keys: list[str]) -> pd.DataFrame:
    """The rows of every file, sorted by `keys` (an empty frame with those columns if none)."""
    frames = [pd.read_parquet(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=keys)
    return pd.concat(frames, ignore_index=True).sort_values(keys, kind="stable").reset_index(drop=True)


def silhouette_scores(runs: pd.DataFrame) -> pd.DataFrame:
    """The label-free scores the evaluate stage computed (zsc.labelfree.SCORES of stage "evaluate":
    the silhouettes of the predicted labels in the original and the shared UMAP-50 space), per
    (dataset, split, encoder, seed) and clusterer: `<score>_<clusterer>`, e.g.
    `silhouette_og_kmeans`. Where a clusterer runs on several reducers (a grid), the reducer is part
    of the name: `silhouette_og_<clusterer>_<reducer>`."""
    if runs.empty or "silhouette_og" not in runs:
        return pd.DataFrame(columns=[*LABELFREE_KEYS, "value"])
    ran = runs[runs["skipped"].fillna("") == ""] if "skipped" in runs else runs
    keys = ["dataset", "split", "encoder", "seed", "clusterer"]
    several = ran.groupby(keys)["reducer"].transform("nunique").gt(1).any()
    name = ran["clusterer"] + ("_" + ran["reducer"] if several else "")
    frames = []
    for entry in SCORES:
        values = entry.factory(ran) if entry.info["stage"] == "evaluate" else None
        if values is not None:
            frames.append(ran[["dataset", "split", "encoder", "seed"]].assign(score=f"{entry.name}_" + name, value=values))
    return pd.concat(frames, ignore_index=True)


def labelfree_table(paths: list[str], runs: pd.DataFrame) -> pd.DataFrame:
    """labelfree.parquet: the labelfree jobs' scores and the runs' silhouettes, one row per score."""
    if not paths:
        return pd.DataFrame(columns=[*LABELFREE_KEYS, "value"])
    frame = pd.concat([collect(paths, LABELFREE_KEYS), silhouette_scores(runs)], ignore_index=True)
    return frame.sort_values(LABELFREE_KEYS, kind="stable").reset_index(drop=True)


SUMMARY_ROWS = ["dataset", "encoder", "reducer"]


def ami_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """AMI x 100 per dataset x encoder x reducer (rows) and clusterer (columns), median over seeds;
    empty where no run of the cell has an AMI (skipped or failed: `not_run_notes`)."""
    ami = runs["AMI"] if "AMI" in runs else pd.Series(float("nan"), index=runs.index)
    table = (
        runs.assign(AMI=ami)
        .groupby([*SUMMARY_ROWS, "clusterer"], sort=False)["AMI"]
        .median()
        .unstack("clusterer")
        .reindex(columns=runs["clusterer"].unique())
    )
    table = table.reindex(pd.MultiIndex.from_frame(runs[SUMMARY_ROWS].drop_duplicates()))  # the runs' order
    table = (100 * table).round(1)
    table.columns.name = None
    return table.reset_index()


def not_run_notes(runs: pd.DataFrame) -> list[str]:
    """One line per run that was skipped (over the memory limit) or failed (cannot run on this data:
    zsc.failures), with the reason; runs.parquet and every study output list them the same way."""
    if "skipped" not in runs:
        return []
    rows = runs[runs["skipped"].fillna("").astype(str) != ""]
    return [
        f"{getattr(r, 'status', 'skipped')}: {r.dataset} / {r.encoder} / {_on(r)}{r.clusterer} (seed {r.seed}): {r.skipped}"
        for r in rows.itertuples()
    ]


def _on(row) -> str:
    """The reducer of a run, where the table has one ("reducer / ")."""
    return f"{row.reducer} / " if getattr(row, "reducer", "") else ""


def stage_times(benchmarks: dict[str, list[str]]) -> pd.DataFrame:
    """One row per job: stage, the job's output path (its keys) and Snakemake's s / max_rss."""
    rows = []
    for stage, paths in benchmarks.items():
        for path in paths:
            bench = pd.read_csv(path, sep="\t").iloc[0]
            rows.append(
                {"stage": stage, "job": str(Path(path).with_suffix("")), "seconds": bench["s"], "max_rss_mb": bench["max_rss"]}
            )
    return pd.DataFrame(rows)


def write_tables(frames: dict[str, pd.DataFrame], times: pd.DataFrame, out: dict[str, str]) -> None:
    """Each frame to its parquet file (deterministic bytes, atomic rename), the AMI summary and
    the stage times."""
    from . import tables

    for name, frame in frames.items():
        tables.write_frame(out[name], frame)
    summary = ami_summary(frames["runs"])
    summary.to_csv(out["summary_csv"], index=False)
    notes = not_run_notes(frames["runs"])
    notes = ["", "Empty cells did not run:", "", *(f"- {line}" for line in notes)] if notes else []
    Path(out["summary_md"]).write_text(
        "\n".join([summary.astype(object).where(summary.notna(), None).to_markdown(index=False, missingval=""), *notes]) + "\n"
    )
    times.to_csv(out["stage_times"], index=False)
