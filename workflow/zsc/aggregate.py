"""Collect per-run rows into result tables, and stage timings from Snakemake's benchmark files.

runs.parquet holds only what the config and seed determine, so reruns give identical bytes;
measured times and memory go to stage_times.csv (one row per job) beside it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import RUN_KEYS


def collect_runs(metric_paths: list[str], groups: dict[str, str]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in metric_paths]
    runs = pd.concat(frames, ignore_index=True)
    runs.insert(1, "group", runs["dataset"].map(groups))
    return runs.sort_values(list(RUN_KEYS), kind="stable").reset_index(drop=True)


def ami_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """AMI x 100 per dataset x encoder x reducer (rows) and clusterer (columns), median over seeds."""
    table = runs.pivot_table(index=["dataset", "encoder", "reducer"], columns="clusterer", values="AMI", aggfunc="median", sort=False)
    table = (100 * table).round(1)
    table.columns.name = None
    return table.reset_index()


def stage_times(benchmarks: dict[str, list[str]]) -> pd.DataFrame:
    """One row per job: stage, the job's output path (its keys) and Snakemake's s / max_rss."""
    rows = []
    for stage, paths in benchmarks.items():
        for path in paths:
            bench = pd.read_csv(path, sep="\t").iloc[0]
            rows.append({"stage": stage, "job": str(Path(path).with_suffix("")), "seconds": bench["s"], "max_rss_mb": bench["max_rss"]})
    return pd.DataFrame(rows)


def write_tables(runs: pd.DataFrame, times: pd.DataFrame, out: dict[str, str]) -> None:
    from . import tables

    runs_path = Path(out["runs"])
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    tables.write_frame(runs_path, runs)  # deterministic bytes, atomic rename
    summary = ami_summary(runs)
    summary.to_csv(out["summary_csv"], index=False)
    Path(out["summary_md"]).write_text(summary.to_markdown(index=False) + "\n")
    times.to_csv(out["stage_times"], index=False)
