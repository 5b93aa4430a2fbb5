"""The numbers behind the study's tables and statistics (Lowe et al. 2024; docs/study.md#4-metrics-and-aggregation,
docs/study.md#5-tables-and-figures).

Pure functions of pandas DataFrames: no files, no plotting, no styling (the rendering module does that).

Inputs
------
`runs`: one row per run with columns dataset, group, split, encoder, reducer, clusterer, seed, skipped
("" when the run ran, else why it did not; its metrics are NaN then), AMI (0..1), n_clusters_true,
n_clusters_pred, n_samples, silhouette_og, silhouette_umap, silhouette_umap_true, ...

`labels`: the AMI of the same predicted clusters against other label levels: dataset, split, encoder,
reducer, clusterer, seed, level, AMI.

`facts`: the config described for the tables: "datasets" (name -> group, n_classes, description, label,
levels), "groups", "encoders" (name -> label, architecture, training), "clusterers" (those averaged),
"chooses_k" and "protocol" (None, or encoder -> clusterer -> {"reducer", "options"}).

Conventions
-----------
* AMI and silhouettes are shown x 100 (percentage points), unrounded: rounding is the renderer's.
* Encoder rows of the wide tables are a MultiIndex (architecture, encoder label); fine-tuned encoders get
  " [FT]" appended to their label, since "DINO" and "DINO [FT]" would otherwise be one row name.
* Names keep the order of `facts`; names missing from `facts` follow, in order of appearance.
* A cell is one (encoder, dataset, clusterer); its duplicate runs (seeds) are reduced by the median,
  skipped runs counting as missing. With a protocol, only each (encoder, clusterer)'s own reducer is kept
  (`select_runs`), as in the study. Without one (a config's full grid of reducers x clusterers), each
  (reducer, clusterer) is a pipeline of its own: the drop rule and the averages run over pipelines, the
  clusterer ranking compares clusterers on the same reducer, and a table of one clusterer shows the mean
  over its reducers. To show one reducer only, pass `select_runs(runs, facts, reducer)`.
* Tables by dataset (and the statistics over datasets) cover every dataset but the three ImageNet-9 variants
  the study uses only in its Backgrounds Challenge table (`BACKGROUNDS_ONLY`, shown by `in9_table`), grouped
  by facts["groups"]. Every such function takes `groups` (a list of group names) to choose otherwise.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import scipy.stats

# The ImageNet-9 Backgrounds Challenge table: column -> dataset, in the study's column order.
IN9_COLUMNS = {
    "OG": "in9original",
    "FG": "in9onlyfg",
    "FG^C": "in9nofg",
    "BG": "in9onlybgt",
    "MS": "in9mixedsame",
    "MR": "in9mixedrand",
}

# ImageNet-9 variants outside the 26 test datasets: only the Backgrounds Challenge table shows them.
BACKGROUNDS_ONLY = ("in9nofg", "in9onlybgt", "in9mixedsame")

CELL = ["encoder", "dataset", "clusterer"]
SCALE = 100  # AMI and silhouettes are reported in percentage points
ALL = "All"  # the pseudo-group of every dataset shown

# Trainings whose encoders take part in the clusterer ranking (the study: not random, not fine-tuned).
RANKED_TRAININGS = ("supervised", "self-supervised")


# ---------------------------------------------------------------------------------------------------------
# Names, order and labels


def _ordered(names, known) -> list:
    """`names` (unique) in the order of `known`, then those not in `known` in order of appearance."""
    names = list(dict.fromkeys(names))
    return [n for n in known if n in names] + [n for n in names if n not in known]


# What a dataset the facts do not describe is shown as (its label: its name).
UNKNOWN_DATASET = {"group": "Other", "n_classes": None, "description": "", "levels": ["label"]}


def _dataset_info(facts: dict, dataset: str) -> dict:
    return UNKNOWN_DATASET | {"label": dataset} | facts["datasets"].get(dataset, {})


def _encoder_info(facts: dict, encoder: str) -> dict:
    return {"label": encoder, "architecture": "", "training": "unknown"} | facts["encoders"].get(encoder, {})


def encoder_label(facts: dict, encoder: str) -> str:
    """The encoder's display label, with " [FT]" appended for fine-tuned encoders unless already there."""
    info = _encoder_info(facts, encoder)
    label = info["label"]
    if info["training"] == "fine-tuned" and "[FT]" not in label:
        label = f"{label} [FT]"
    return label


def encoder_index(facts: dict, encoders) -> pd.MultiIndex:
    """Row index of the wide tables: (architecture, encoder label) per encoder, in the given order."""
    tuples = [(_encoder_info(facts, e)["architecture"], encoder_label(facts, e)) for e in encoders]
    return pd.MultiIndex.from_tuples(tuples, names=["architecture", "encoder"])


def dataset_label(facts: dict, dataset: str) -> str:
    return _dataset_info(facts, dataset)["label"]


def _groups_of(facts: dict, datasets) -> list[str]:
    """The groups of `datasets`, in the order of facts["groups"] (unknown groups after)."""
    return _ordered([_dataset_info(facts, d)["group"] for d in datasets], facts["groups"])


def group_datasets(facts: dict, datasets, groups=None) -> dict[str, list[str]]:
    """group -> its datasets among `datasets` (facts order), plus "All" -> every one of them; groups in the
    order of facts["groups"], those without datasets left out. Default `groups`: those of every dataset but
    `BACKGROUNDS_ONLY` (unless nothing else is there)."""
    datasets = _ordered(datasets, facts["datasets"])
    if groups is None:
        datasets = [d for d in datasets if d not in BACKGROUNDS_ONLY] or datasets
        groups = _groups_of(facts, datasets)
    by_group = {g: [d for d in datasets if _dataset_info(facts, d)["group"] == g] for g in groups}
    by_group = {g: ds for g, ds in by_group.items() if ds}
    return by_group | {ALL: [d for ds in by_group.values() for d in ds]}


def _shown_datasets(facts: dict, datasets, groups=None) -> list[str]:
    return group_datasets(facts, datasets, groups)[ALL]


def _architectures(facts: dict, encoders) -> dict[str, list[str]]:
    """architecture -> its encoders among `encoders`, both in facts order."""
    by_arch: dict[str, list[str]] = {}
    for encoder in _ordered(encoders, facts["encoders"]):
        by_arch.setdefault(_encoder_info(facts, encoder)["architecture"], []).append(encoder)
    return by_arch


def _reference(facts: dict, encoders) -> str | None:
    """The first encoder of `encoders` trained supervised (the study's X-Ent.), or None."""
    return next((e for e in encoders if _encoder_info(facts, e)["training"] == "supervised"), None)


# ---------------------------------------------------------------------------------------------------------
# Cells: one value per (encoder, dataset, clusterer)


def skip_reasons(runs: pd.DataFrame) -> pd.Series:
    """Why each run was skipped ("" when it ran); a table without the column ran everything."""
    if "skipped" not in runs:
        return pd.Series("", index=runs.index)
    return runs["skipped"].fillna("").astype(str)


def ran(runs: pd.DataFrame, column: str) -> pd.Series:
    """`column` of `runs` with skipped runs as NaN (they count as missing whatever the column holds); all
    NaN if the table has no such column (a metric the config did not compute)."""
    if column not in runs:
        return pd.Series(np.nan, index=runs.index)
    return runs[column].where(skip_reasons(runs) == "")


def select_runs(runs: pd.DataFrame, facts: dict, reducer: str | None = None) -> pd.DataFrame:
    """The runs of one pipeline per (encoder, clusterer): those of `reducer` when given, else those of the
    reducer the protocol names for the pair (pairs the protocol does not name keep all their runs), else
    all runs (no protocol: the full grid of reducers x clusterers). Works on `labels` as well."""
    if reducer is not None:
        return runs[runs["reducer"] == reducer]
    protocol = facts.get("protocol")
    if not protocol:
        return runs
    wanted = [protocol.get(e, {}).get(c, {}).get("reducer") for e, c in zip(runs["encoder"], runs["clusterer"])]
    keep = [w is None or w == r for w, r in zip(wanted, runs["reducer"])]
    return runs[np.asarray(keep, dtype=bool)]


def _check_one_split(runs: pd.DataFrame, keys: list[str]) -> None:
    """Raise ValueError if a cell of `keys` holds runs of several splits (a config clusters one per dataset)."""
    if runs.empty or "split" not in runs:
        return
    counts = runs.groupby(keys, sort=False)["split"].nunique()
    if (counts > 1).any():
        raise ValueError(f"runs of several splits in one ({', '.join(keys)}) cell, e.g. {counts[counts > 1].index[0]}")


def _pipeline_cells(runs: pd.DataFrame, clusterers, metric: str, keys=CELL, facts: dict | None = None) -> pd.DataFrame:
    """DataFrame[*keys, pipeline, metric]: per cell of `keys` (which include clusterer) and pipeline, the
    median of `metric` over the duplicate runs (seeds), skipped runs counting as missing; only `clusterers`.

    The pipeline tells apart the runs of one cell besides the seed: their reducer. With a protocol in
    `facts`, each (encoder, clusterer) runs on its own reducer (`select_runs` is applied), which differs
    between encoders, so the pipeline is "" there and cells line up across encoders by clusterer alone;
    without one (the full grid of reducers x clusterers) it is the reducer, the same for every encoder."""
    rows = runs[runs["clusterer"].isin(list(clusterers))]
    rows = select_runs(rows, facts) if facts is not None else rows
    reducer = rows["reducer"] if "reducer" in rows else pd.Series("", index=rows.index)
    _check_one_split(rows.assign(reducer=reducer), [*keys, "reducer"])
    values = rows[list(keys)].assign(reducer=reducer, value=ran(rows, metric))
    medians = values.groupby([*keys, "reducer"], sort=False)["value"].median().reset_index()
    medians["pipeline"] = "" if facts is not None and facts.get("protocol") else medians["reducer"]
    # under a protocol each (encoder, clusterer) has one reducer: this mean only renames its pipeline
    cells = medians.groupby([*keys, "pipeline"], sort=False)["value"].mean()
    return cells.rename(metric).reset_index()


def cell_metric(runs: pd.DataFrame, clusterers, metric: str) -> pd.DataFrame:
    """DataFrame[encoder, dataset, clusterer, <metric>], one row per cell of the given clusterers present in
    `runs`: the median of `metric` over the cell's duplicate runs (seeds), skipped runs counting as missing
    (a cell whose runs were all skipped is NaN). A cell holding runs of several reducers (a grid config
    without a protocol) gets the mean over its reducers of those medians. Raises ValueError if a cell holds
    runs of several splits."""
    cells = _pipeline_cells(runs, clusterers, metric)
    return cells.groupby(CELL, sort=False)[metric].mean().reset_index()


def cell_ami(runs: pd.DataFrame, clusterers) -> pd.DataFrame:
    """DataFrame[encoder, dataset, clusterer, AMI] (AMI 0..1): the median AMI over each cell's duplicate runs
    (seeds), skipped runs counting as missing; only the given clusterers. See `cell_metric`."""
    return cell_metric(runs, clusterers, "AMI")


def _cube(cells: pd.DataFrame, value: str, axes: dict[str, list], encoders) -> pd.DataFrame:
    """`value` of the cells as a full grid: index the product of `axes` (column name -> values), columns
    `encoders`; absent cells NaN."""
    full = pd.MultiIndex.from_product([*axes.values(), encoders], names=[*axes, "encoder"])
    series = cells.set_index([*axes, "encoder"])[value]
    return series.reindex(full).unstack("encoder").reindex(columns=encoders)


def _complete_mean(cube: pd.DataFrame, level: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's drop rule on a `_cube`: rows (clusterer x pipeline cells) missing for any encoder are
    dropped for all, then the mean over the rest by `level`. Returns (means by level x encoder, the
    missing flags of the dropped rows)."""
    missing = cube.isna()
    dropped = missing.any(axis=1)
    return cube[~dropped].groupby(level=level, sort=False).mean(), missing[dropped]


# ---------------------------------------------------------------------------------------------------------
# The main table ("6c-avg")


def clusterer_average(runs: pd.DataFrame, facts: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's "6c-avg" AMI per encoder and dataset, and the cells it had to drop.

    1. Cells: the median AMI over the duplicate runs (seeds) of each (encoder, dataset, clusterer) of
       facts["clusterers"], skipped runs missing, after `select_runs` (each encoder and clusterer on its
       protocol reducer).
    2. A (dataset, clusterer) cell missing for ANY encoder of the table (NaN, skipped or never run) is
       dropped for ALL encoders, so every encoder is averaged over the same clusterers (the study: Affinity
       Propagation on ImageNet-1k and iNat, not run for memory).
    3. The mean over the remaining clusterers, x 100. A dataset that lost every clusterer is NaN.
    Without a protocol (a grid of reducers x clusterers) every (reducer, clusterer) pipeline is a cell of
    its own in steps 2 and 3: the average is over the grid's pipelines.

    Returns (avg, drops):
      avg: DataFrame, index encoder names (facts order, those in `runs`), columns dataset names (facts
        order, those in `runs`), AMI x 100 as unrounded floats.
      drops: DataFrame[dataset, clusterer, reducer, encoders, reason], one row per dropped cell: reducer is
        "" under a protocol; encoders = the comma-joined names missing it; reason = their runs' skipped
        reasons ("; "-joined), else "AMI is NaN" (the runs ran but scored NaN), else "no run".
    """
    runs = select_runs(runs, facts)
    clusterers = list(facts["clusterers"])
    encoders = _ordered(runs["encoder"], facts["encoders"])
    datasets = _ordered(runs["dataset"], facts["datasets"])
    cells = _pipeline_cells(runs, clusterers, "AMI", facts=facts)
    pipelines = _ordered(cells["pipeline"], []) or [""]
    cube = _cube(cells, "AMI", {"dataset": datasets, "clusterer": clusterers, "pipeline": pipelines}, encoders)
    kept, missing = _complete_mean(cube, "dataset")
    avg = SCALE * kept.reindex(datasets).T.reindex(encoders)
    avg.index.name, avg.columns.name = "encoder", "dataset"
    return avg, _drops(runs, missing)


def _drops(runs: pd.DataFrame, missing: pd.DataFrame) -> pd.DataFrame:
    """One row per dropped cell of `missing` (index (dataset, clusterer, pipeline), columns encoder)."""
    reasons = skip_reasons(runs)
    rows = []
    for (dataset, clusterer, pipeline), flags in missing.iterrows():
        encoders = [e for e, gone in flags.items() if gone]
        these = (runs["dataset"] == dataset) & (runs["clusterer"] == clusterer) & runs["encoder"].isin(encoders)
        these &= (runs["reducer"] == pipeline) if pipeline else True
        skipped = [r for r in dict.fromkeys(reasons[these]) if r]
        reason = "; ".join(skipped) if skipped else ("AMI is NaN" if these.any() else "no run")
        rows.append(
            {"dataset": dataset, "clusterer": clusterer, "reducer": pipeline, "encoders": ",".join(encoders), "reason": reason}
        )
    return pd.DataFrame(rows, columns=["dataset", "clusterer", "reducer", "encoders", "reason"])


def main_table(avg: pd.DataFrame, facts: dict, groups=None) -> pd.DataFrame:
    """The main AMI table from `avg` (encoder x dataset, as `clusterer_average` returns).

    Rows: MultiIndex (architecture, encoder label) in facts order (fine-tuned labels end in " [FT]").
    Columns: MultiIndex (group, dataset label): each group's datasets in facts order followed by
    (group, "mean"), the mean over that group's datasets (NaN datasets skipped), and finally ("All", "mean")
    over every dataset shown. Groups: `group_datasets`. Values as in avg.
    """
    encoders = _ordered(avg.index, facts["encoders"])
    blocks = []
    for group, datasets in group_datasets(facts, avg.columns, groups).items():
        values = avg.loc[encoders, datasets]
        if group != ALL:
            block = values.copy()
            block.columns = pd.MultiIndex.from_tuples([(group, dataset_label(facts, d)) for d in datasets])
            blocks.append(block)
        blocks.append(values.mean(axis=1).to_frame((group, "mean")))
    table = pd.concat(blocks, axis=1)
    table.index = encoder_index(facts, encoders)
    table.columns = pd.MultiIndex.from_tuples(list(table.columns), names=["group", "dataset"])
    return table


def _wide(cells: pd.DataFrame, value: str, facts: dict) -> pd.DataFrame:
    """One value per (encoder, dataset) of `cells` as encoder x dataset (names, facts order)."""
    wide = cells.set_index(["encoder", "dataset"])[value].unstack("dataset")
    encoders, datasets = _ordered(cells["encoder"], facts["encoders"]), _ordered(cells["dataset"], facts["datasets"])
    return wide.reindex(index=encoders, columns=datasets)


def per_clusterer_table(runs: pd.DataFrame, facts: dict, clusterer: str, groups=None) -> pd.DataFrame:
    """`main_table`'s layout (rows (architecture, encoder label); columns (group, dataset label) with group
    means and ("All", "mean")) for one clusterer: its AMI x 100, the median over seeds, skipped runs NaN."""
    cells = cell_ami(select_runs(runs, facts), [clusterer])
    return main_table(SCALE * _wide(cells, "AMI", facts), facts, groups)


def _relabel(wide: pd.DataFrame, facts: dict, datasets) -> pd.DataFrame:
    """encoder x dataset names -> (architecture, encoder label) x dataset label, for `datasets`."""
    table = wide.reindex(columns=datasets)
    table.index = encoder_index(facts, wide.index)
    table.columns = pd.Index([dataset_label(facts, d) for d in datasets], name="dataset")
    return table


# ---------------------------------------------------------------------------------------------------------
# Number of clusters, hyper-parameters, silhouettes, ImageNet-9, label levels, datasets


def n_clusters_table(runs: pd.DataFrame, facts: dict, clusterer: str, groups=None) -> tuple[pd.DataFrame, pd.Series]:
    """The number of clusters one clusterer found, beside the true number.

    Returns (pred, true):
      pred: DataFrame, rows (architecture, encoder label), columns dataset label (the datasets of
        `group_datasets`, facts order): n_clusters_pred, the median over seeds (skipped runs NaN).
      true: Series indexed by the same dataset labels: n_clusters_true, the median over the dataset's runs
        that ran (it is the same for all), else facts n_classes, else NaN.
    """
    runs = select_runs(runs, facts)
    cells = cell_metric(runs, [clusterer], "n_clusters_pred")
    datasets = _shown_datasets(facts, runs["dataset"].unique(), groups)
    pred = _relabel(_wide(cells, "n_clusters_pred", facts), facts, datasets)
    true = pd.Series([_n_classes(runs, facts, d) for d in datasets], index=pred.columns, name="n_clusters_true", dtype=float)
    return pred, true


def _n_classes(runs: pd.DataFrame, facts: dict, dataset: str) -> float:
    """The dataset's number of classes: median n_clusters_true of its runs, else facts n_classes, else NaN."""
    measured = ran(runs, "n_clusters_true")[runs["dataset"] == dataset].median()
    if pd.notna(measured):
        return float(measured)
    n_classes = _dataset_info(facts, dataset)["n_classes"]
    return float(n_classes) if n_classes is not None else np.nan


def log_ratio(pred: pd.DataFrame, true: pd.Series) -> pd.DataFrame:
    """log10(pred / true) per cell (same shape as pred; columns matched to true's index): 0 means the right
    number of clusters, +1 ten times too many, -1 ten times too few."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(pred.astype(float).div(true, axis=1))


def _format_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting_text(setting: dict) -> str:
    """One protocol setting ({"reducer", "options"}) as compact text: the reducer, then the options sorted
    by key, "; "-separated. metric and linkage make one "metric/linkage" item (at "linkage"), a lone metric
    is shown bare, distance_threshold as "t=2", damping as "damping 0.9", n_neighbors as "nn=10", any other
    option as "key=value"; e.g. "umap50", "zpca200d; cosine/average", "umap50; t=2; euclidean/ward"."""
    options = dict(setting.get("options") or {})
    items = []
    if "linkage" in options:
        metric = options.pop("metric", None)
        linkage = options.pop("linkage")
        items.append(("linkage", f"{metric}/{linkage}" if metric else str(linkage)))
    special = {"metric": "{}", "distance_threshold": "t={}", "damping": "damping {}", "n_neighbors": "nn={}"}
    for key, value in options.items():
        items.append((key, special.get(key, f"{key}={{}}").format(_format_value(value))))
    return "; ".join([str(setting.get("reducer", "?")), *(text for _, text in sorted(items))])


def hyperparameter_table(facts: dict) -> pd.DataFrame:
    """The tuned pipeline per encoder and clusterer: rows (architecture, encoder label) of the protocol's
    encoders (facts order), columns facts["clusterers"] (then any other clusterer of the protocol), cells
    `setting_text` ("" where the protocol names none). No protocol: an empty DataFrame."""
    protocol = facts.get("protocol")
    if not protocol:
        return pd.DataFrame()
    encoders = _ordered(protocol, facts["encoders"])
    clusterers = _ordered([c for e in encoders for c in protocol[e]], facts["clusterers"])
    cells = [[setting_text(protocol[e][c]) if c in protocol[e] else "" for c in clusterers] for e in encoders]
    return pd.DataFrame(cells, index=encoder_index(facts, encoders), columns=pd.Index(clusterers, name="clusterer"))


def silhouette_tables(runs: pd.DataFrame, facts: dict, groups=None) -> dict[str, pd.DataFrame]:
    """Silhouette tables, each rows (architecture, encoder label) x columns dataset label, values x 100:
    "og": silhouette_og (predicted labels, original embeddings), the mean over facts["clusterers"] of the
      per-clusterer medians over seeds (clusterers without a value skipped);
    "umap": the same for silhouette_umap (predicted labels, UMAP-50 space);
    "umap_true": silhouette_umap_true (true labels, UMAP-50 space), the same for every run of one
      embeddings: the median over all runs of the (encoder, dataset) that ran, whatever their clusterer.
    """
    runs = select_runs(runs, facts)
    datasets = _shown_datasets(facts, runs["dataset"].unique(), groups)
    tables = {}
    for key in ("og", "umap"):
        cells = cell_metric(runs, facts["clusterers"], f"silhouette_{key}")
        mean = cells.groupby(["encoder", "dataset"], sort=False)[f"silhouette_{key}"].mean().reset_index()
        tables[key] = _relabel(SCALE * _wide(mean, f"silhouette_{key}", facts), facts, datasets)
    true = runs[["encoder", "dataset"]].assign(value=ran(runs, "silhouette_umap_true"))
    true = true.groupby(["encoder", "dataset"], sort=False)["value"].median().reset_index()
    tables["umap_true"] = _relabel(SCALE * _wide(true, "value", facts), facts, datasets)
    return tables


def in9_table(avg: pd.DataFrame, facts: dict) -> pd.DataFrame:
    """The ImageNet-9 Backgrounds Challenge table from `avg` (as `clusterer_average` returns): rows
    (architecture, encoder label), columns OG, FG, FG^C, BG, MS, MR (those whose dataset is in avg, that
    order), and Gap = MS - MR when both are present. Empty DataFrame if no variant is present."""
    columns = {name: d for name, d in IN9_COLUMNS.items() if d in avg.columns}
    if not columns:
        return pd.DataFrame()
    encoders = _ordered(avg.index, facts["encoders"])
    table = avg.loc[encoders, list(columns.values())].set_axis(list(columns), axis=1)
    if {"MS", "MR"} <= set(columns):
        table["Gap"] = table["MS"] - table["MR"]
    table.index = encoder_index(facts, encoders)
    table.columns.name = "variant"
    return table


def label_levels(labels: pd.DataFrame, facts: dict) -> pd.DataFrame:
    """The AMI x 100 of the predicted clusters against each label level (taxonomic levels, attributes).

    Per (dataset, level, encoder, clusterer) the median over seeds (after `select_runs`); a (dataset, level,
    clusterer) missing for any encoder of that dataset is dropped for all (as in `clusterer_average`: iNat
    keeps 5 clusterers where Affinity Propagation was not run); then the mean over the remaining
    facts["clusterers"] (without a protocol: over the remaining (reducer, clusterer) pipelines).

    Returns DataFrame[dataset, level, level_index, encoder, AMI] sorted by dataset (facts order), level_index,
    encoder (facts order). level_index: the level's position in facts["datasets"][dataset]["levels"]
    (coarse to fine); levels not listed there follow, sorted by name.
    """
    keys = ["dataset", "level", "encoder", "clusterer"]
    cells = _pipeline_cells(labels, facts["clusterers"], "AMI", keys, facts)
    frames = [_levels_of(cells[cells["dataset"] == d], facts, d) for d in _ordered(cells["dataset"], facts["datasets"])]
    columns = ["dataset", "level", "level_index", "encoder", "AMI"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _levels_of(cells: pd.DataFrame, facts: dict, dataset: str) -> pd.DataFrame:
    """`label_levels` for one dataset's cells (DataFrame[dataset, level, encoder, clusterer, pipeline, AMI])."""
    listed = list(_dataset_info(facts, dataset)["levels"])
    levels = listed + sorted(set(cells["level"]) - set(listed))
    present = [lv for lv in levels if lv in set(cells["level"])]
    encoders = _ordered(cells["encoder"], facts["encoders"])
    axes = {"level": present, "clusterer": list(facts["clusterers"]), "pipeline": _ordered(cells["pipeline"], [])}
    kept, _ = _complete_mean(_cube(cells, "AMI", axes, encoders), "level")
    out = (SCALE * kept.reindex(present)).stack(future_stack=True).rename("AMI").reset_index().assign(dataset=dataset)
    out["level_index"] = out["level"].map({lv: i for i, lv in enumerate(levels)})
    return out


def dataset_table(runs: pd.DataFrame, facts: dict) -> pd.DataFrame:
    """The dataset description table: DataFrame[group, dataset, classes, N clustered, description], one row
    per dataset of facts (then any other in runs), ordered by group (facts["groups"]) then facts order.
    dataset: its label; classes: median n_clusters_true of its runs, else facts n_classes; N clustered: the
    median n_samples of its runs that ran (NaN without runs). Integer columns are nullable Int64."""
    datasets = _ordered(list(facts["datasets"]) + list(runs["dataset"]), facts["datasets"])
    groups = _groups_of(facts, datasets)
    datasets = sorted(datasets, key=lambda d: groups.index(_dataset_info(facts, d)["group"]))  # stable
    samples = ran(runs, "n_samples").groupby(runs["dataset"]).median()
    rows = [
        {
            "group": _dataset_info(facts, d)["group"],
            "dataset": dataset_label(facts, d),
            "classes": _n_classes(runs, facts, d),
            "N clustered": samples.get(d, np.nan),
            "description": _dataset_info(facts, d)["description"],
        }
        for d in datasets
    ]
    table = pd.DataFrame(rows, columns=["group", "dataset", "classes", "N clustered", "description"])
    return table.astype({"classes": "Int64", "N clustered": "Int64"})


# ---------------------------------------------------------------------------------------------------------
# Statistics


def _nan_if(condition: bool, value) -> float:
    return np.nan if condition else float(value)


def delta_vs_supervised(avg: pd.DataFrame, facts: dict, groups=None) -> pd.DataFrame:
    """AMI differences of each encoder to its architecture's supervised encoder (the study: X-Ent.), by group.

    Per architecture, the first encoder with training "supervised" is the reference (architectures without
    one are skipped). For every other encoder of that architecture and each group of `group_datasets` plus
    "All": d = avg[encoder] - avg[reference] (p.p.) over the group's datasets where both are present; mean,
    std (ddof=1), n, and the paired t-test scipy.stats.ttest_rel(encoder, reference) (t > 0: the encoder is
    better); std, t, p are NaN when n < 2 (mean when n = 0).

    Returns DataFrame[architecture, encoder, label, reference, group, mean, std, n, t, p] (encoder and
    reference: names; label: the encoder's display label), architectures and encoders in facts order.
    """
    rows = []
    by_group = group_datasets(facts, avg.columns, groups)
    for arch, encoders in _architectures(facts, avg.index).items():
        reference = _reference(facts, encoders)
        if reference is None:
            continue
        for encoder, (group, datasets) in itertools.product([e for e in encoders if e != reference], by_group.items()):
            a, b = _paired(avg, encoder, reference, datasets)
            d = a - b
            t, p = _ttest_rel(a, b)
            rows.append(
                {"architecture": arch, "encoder": encoder, "label": encoder_label(facts, encoder), "reference": reference}
                | {"group": group, "mean": d.mean() if len(d) else np.nan, "std": _nan_if(len(d) < 2, d.std(ddof=1))}
                | {"n": len(d), "t": t, "p": p}
            )
    columns = ["architecture", "encoder", "label", "reference", "group", "mean", "std", "n", "t", "p"]
    return pd.DataFrame(rows, columns=columns)


def _paired(avg: pd.DataFrame, a: str, b: str, datasets) -> tuple[np.ndarray, np.ndarray]:
    """Rows a and b of avg over `datasets`, where both are present."""
    x, y = avg.loc[a, datasets].to_numpy(float), avg.loc[b, datasets].to_numpy(float)
    both = ~np.isnan(x) & ~np.isnan(y)
    return x[both], y[both]


def _ttest_rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) < 2:
        return np.nan, np.nan
    with warnings.catch_warnings():  # constant differences give NaN with a warning: NaN is the answer
        warnings.simplefilter("ignore", RuntimeWarning)
        result = scipy.stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)


def _wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """scipy.stats.wilcoxon(a, b) p-value (its defaults); NaN when n < 2 or every difference is zero."""
    if len(a) < 2 or np.all(a == b):
        return np.nan
    with warnings.catch_warnings():  # small samples warn that the p-value is coarse: it is still the answer
        warnings.simplefilter("ignore")
        return float(scipy.stats.wilcoxon(a, b).pvalue)


def encoder_ranks(avg: pd.DataFrame, facts: dict, groups=None) -> pd.DataFrame:
    """Encoder ranks within each architecture, by group.

    Within each architecture (those with at least 2 encoders in avg) and dataset, the encoders are ranked by
    AMI (1 = best, ties get their average rank; NaN AMI: no rank). Per encoder and group of
    `group_datasets` plus "All": mean and std (ddof=1) of its ranks over the group's datasets, n = the number
    of ranks; wilcoxon_p = scipy.stats.wilcoxon(encoder AMI, reference AMI) over the group's datasets where
    both are present, the reference being the architecture's first supervised encoder (NaN for the reference
    itself, without one, when n < 2 or when every difference is zero).

    Returns DataFrame[architecture, group, encoder, label, mean_rank, std_rank, n, wilcoxon_p] (encoder: name,
    label: display label), architectures, groups and encoders in facts order.
    """
    rows = []
    by_group = group_datasets(facts, avg.columns, groups)
    for arch, encoders in _architectures(facts, avg.index).items():
        if len(encoders) < 2:  # a lone encoder is always first: nothing to rank
            continue
        ranks = avg.loc[encoders].rank(axis=0, ascending=False, method="average")
        reference = _reference(facts, encoders)
        for (group, datasets), encoder in itertools.product(by_group.items(), encoders):
            r = ranks.loc[encoder, datasets].dropna()
            p = np.nan if reference in (None, encoder) else _wilcoxon_p(*_paired(avg, encoder, reference, datasets))
            rows.append(
                {"architecture": arch, "group": group, "encoder": encoder, "label": encoder_label(facts, encoder)}
                | {"mean_rank": r.mean() if len(r) else np.nan, "std_rank": _nan_if(len(r) < 2, r.std(ddof=1))}
                | {"n": len(r), "wilcoxon_p": p}
            )
    columns = ["architecture", "group", "encoder", "label", "mean_rank", "std_rank", "n", "wilcoxon_p"]
    return pd.DataFrame(rows, columns=columns)


def clusterer_amis(runs: pd.DataFrame, facts: dict, groups=None) -> pd.DataFrame:
    """The AMI (0..1) of facts["clusterers"] on each item `clusterer_ranks` ranks them on: rows MultiIndex
    (encoder, dataset, pipeline) over encoders trained "supervised" or "self-supervised" (the study: not
    random, not fine-tuned) and the datasets of `group_datasets`, only items with every clusterer present;
    columns the clusterers (facts order); cells the median over seeds (after `select_runs`). pipeline is ""
    under a protocol (items are (encoder, dataset) pairs, as in the study); without one it is the reducer,
    so the clusterers are compared on the same reduced embeddings."""
    runs = select_runs(runs, facts)
    encoders = _ordered(runs["encoder"], facts["encoders"])
    encoders = [e for e in encoders if _encoder_info(facts, e)["training"] in RANKED_TRAININGS]
    datasets = _shown_datasets(facts, runs["dataset"].unique(), groups)
    clusterers = list(facts["clusterers"])
    rows = runs[runs["encoder"].isin(encoders) & runs["dataset"].isin(datasets)]
    cells = _pipeline_cells(rows, clusterers, "AMI", facts=facts)
    keys = ["encoder", "dataset", "pipeline"]
    wide = cells.set_index([*keys, "clusterer"])["AMI"].unstack("clusterer").reindex(columns=clusterers)
    order = pd.MultiIndex.from_product([encoders, datasets, _ordered(cells["pipeline"], [])], names=keys)
    return wide.reindex(order).dropna(how="any")


def clusterer_ranks(runs: pd.DataFrame, facts: dict, groups=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranking of the clusterers over (encoder, dataset) pairs (`clusterer_amis`; without a protocol
    (encoder, dataset, reducer) triples).

    Per pair, facts["clusterers"] are ranked by AMI (1 = best, ties get their average rank).
    Returns (summary, pairs):
      summary: DataFrame[clusterer, mean_rank, std_rank, n], facts order; std ddof=1, n = number of pairs.
      pairs: DataFrame[a, b, n, statistic, p, method], one row per pair of clusterers (facts order, a before
        b): scipy.stats.wilcoxon(AMI a, AMI b) over the same pairs with method="exact"; where ties or zero
        differences make the exact null distribution wrong, method="auto" (scipy then permutes for n <= 13,
        else approximates), and `method` says which. All differences zero or n < 2: statistic and p NaN.
    """
    amis = clusterer_amis(runs, facts, groups)
    ranks = amis.rank(axis=1, ascending=False, method="average")
    summary = pd.DataFrame(
        {"clusterer": list(amis.columns), "mean_rank": ranks.mean().to_numpy(), "std_rank": ranks.std(ddof=1).to_numpy()}
    ).assign(n=len(ranks))
    pairs = [_wilcoxon_pair(amis, a, b) for a, b in itertools.combinations(amis.columns, 2)]
    return summary, pd.DataFrame(pairs, columns=["a", "b", "n", "statistic", "p", "method"])


def _wilcoxon_pair(amis: pd.DataFrame, a: str, b: str) -> dict:
    x, y = amis[a].to_numpy(float), amis[b].to_numpy(float)
    d = x - y
    row = {"a": a, "b": b, "n": len(d), "statistic": np.nan, "p": np.nan, "method": ""}
    if len(d) < 2 or np.all(d == 0):
        return row
    nonzero = np.abs(d[d != 0])
    method = "exact" if len(nonzero) == len(d) and len(np.unique(nonzero)) == len(nonzero) else "auto"
    with warnings.catch_warnings():  # coarse small-sample p-values warn; they are still what scipy gives
        warnings.simplefilter("ignore")
        result = scipy.stats.wilcoxon(x, y, method=method)
    return row | {"statistic": float(result.statistic), "p": float(result.pvalue), "method": method}
