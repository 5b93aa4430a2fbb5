"""Collect per-job rows into result tables, and stage timings from Snakemake's benchmark files.

The tables (results/tables/*.parquet) hold only what the config and seed determine, so reruns give
identical bytes; measured times and memory go to stage_times.csv (one row per job) beside them.
- runs.parquet: one row per run (dataset, split, encoder, reducer, clusterer, seed) and its metrics;
- labels.parquet: the AMI of every run against every label level of its dataset;
- labelfree.parquet: the label-free scores per (dataset, split, encoder, seed), one row per score,
  the silhouettes of each clusterer's labels taken from runs.parquet;
- probes.parquet: kNN and linear-probe accuracy per (dataset, split, encoder).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import RUN_KEYS

LEVEL_KEYS = [*RUN_KEYS, "level"]
LABELFREE_KEYS = ["dataset", "split", "encoder", "seed", "score"]
PROBE_KEYS = ["dataset", "split", "encoder"]


def collect_runs(metric_paths: list[str], groups: dict[str, str]) -> pd.DataFrame:
    runs = collect(metric_paths, list(RUN_KEYS))
    runs.insert(1, "group", runs["dataset"].map(groups))
    return runs


def collect(paths: list[str], keys: list[str]) -> pd.DataFrame:
    """The rows of every file, sorted by `keys` (an empty frame with those columns if none)."""
    frames = [pd.read_parquet(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=keys)
    return pd.concat(frames, ignore_index=True).sort_values(keys, kind="stable").reset_index(drop=True)


def silhouette_scores(runs: pd.DataFrame) -> pd.DataFrame:
    """The silhouettes evaluate computed, as label-free scores: per (dataset, split, encoder, seed)
    and clusterer, `silhouette_og_<clusterer>` and `silhouette_umap_<clusterer>` (predicted labels
    in the original and the shared UMAP-50 space). Where a clusterer runs on several reducers (a
    grid), the reducer is part of the name: `silhouette_og_<clusterer>_<reducer>`."""
    if runs.empty or "silhouette_og" not in runs:
        return pd.DataFrame(columns=[*LABELFREE_KEYS, "value"])
    ran = runs[runs["skipped"].fillna("") == ""] if "skipped" in runs else runs
    keys = ["dataset", "split", "encoder", "seed", "clusterer"]
    several = ran.groupby(keys)["reducer"].transform("nunique").gt(1).any()
    name = ran["clusterer"] + ("_" + ran["reducer"] if several else "")
    frames = []
    for space in ("og", "umap"):
        if f"silhouette_{space}" in ran:
            frames.append(
                ran[["dataset", "split", "encoder", "seed"]].assign(
                    score=f"silhouette_{space}_" + name, value=ran[f"silhouette_{space}"]
                )
            )
    return pd.concat(frames, ignore_index=True)


def labelfree_table(paths: list[str], runs: pd.DataFrame) -> pd.DataFrame:
    """labelfree.parquet: the labelfree jobs' scores and the runs' silhouettes, one row per score."""
    if not paths:
        return pd.DataFrame(columns=[*LABELFREE_KEYS, "value"])
    frame = pd.concat([collect(paths, LABELFREE_KEYS), silhouette_scores(runs)], ignore_index=True)
    return frame.sort_values(LABELFREE_KEYS, kind="stable").reset_index(drop=True)


def ami_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """AMI x 100 per dataset x encoder x reducer (rows) and clusterer (columns), median over seeds."""
    table = runs.pivot_table(
        index=["dataset", "encoder", "reducer"], columns="clusterer", values="AMI", aggfunc="median", sort=False
    )
    table = (100 * table).round(1)
    table.columns.name = None
    return table.reset_index()


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
    Path(out["summary_md"]).write_text(summary.to_markdown(index=False) + "\n")
    times.to_csv(out["stage_times"], index=False)
