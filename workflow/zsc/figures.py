"""Figures rendered from results/tables/runs.parquet alone, so they regenerate without recomputing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def ami_heatmap(runs: pd.DataFrame, out_paths: list[str]) -> None:
    """One panel per dataset: AMI x 100 (median over seeds) for encoder/reducer rows x clusterer columns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(runs["dataset"]))
    clusterers = list(dict.fromkeys(runs["clusterer"]))
    rows = list(dict.fromkeys(zip(runs["encoder"], runs["reducer"])))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(1.2 + 0.9 * len(clusterers) * len(datasets), 0.8 + 0.35 * len(rows)), squeeze=False, sharey=True
    )
    medians = runs.groupby(["dataset", "encoder", "reducer", "clusterer"], sort=False)["AMI"].median()
    for ax, dataset in zip(axes[0], datasets):
        grid = np.full((len(rows), len(clusterers)), np.nan)
        for i, (encoder, reducer) in enumerate(rows):
            for j, clusterer in enumerate(clusterers):
                grid[i, j] = 100 * medians.get((dataset, encoder, reducer, clusterer), np.nan)
        ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", color="white" if value < 60 else "black", fontsize=8)
        ax.set_title(dataset)
        ax.set_xticks(range(len(clusterers)), clusterers, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [f"{e} / {r}" for e, r in rows])
    fig.suptitle("AMI x 100 by encoder / reducer and clusterer")
    fig.tight_layout()
    for path in out_paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, metadata=_fixed_metadata(path))
    plt.close(fig)


def _fixed_metadata(path: str) -> dict:
    # No creation dates in the files: the same table gives the same figure bytes.
    if str(path).endswith(".pdf"):
        return {"CreationDate": None, "ModDate": None, "Producer": "zsc"}
    if str(path).endswith(".png"):
        return {"Software": "zsc"}
    return {}
