"""The label-free answers as entries of the output registry (zsc.outputs): which encoder or which
checkpoint, without labels (zsc.selection over results/tables/labelfree.parquet and probes.parquet;
docs/labelfree.md)."""

from __future__ import annotations

from pathlib import Path

from .registry import Data, display_reducer, labels_of, output, save, write


def _needs_labelfree(facts_):
    if not facts_["labelfree"]:
        return "labelfree.enabled is false"
    return None if len(facts_["encoders"]) >= 2 else "needs two or more encoders to choose between"


def _needs_references(facts_):
    why = _needs_labelfree(facts_)
    if why:
        return why
    return None if any(d["labelled"] for d in facts_["datasets"].values()) else "needs a labelled dataset to compare with"


def _needs_series(facts_):
    if not facts_["labelfree"]:
        return "labelfree.enabled is false"
    return (
        None
        if any("series" in e for e in facts_["encoders"].values())
        else "needs a checkpoint series (an encoder with `checkpoints:`)"
    )


def references(data: Data):
    """The labelled references per (dataset, encoder), tidy: AMI (the clusterer average of the main
    table, 0-1), and, where probed, each kNN top-1 and the linear probe's top-1 accuracy."""
    import pandas as pd

    from .. import study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    ami = (
        (avg / 100).rename_axis(index="encoder", columns="dataset").stack().rename("value").reset_index().assign(reference="AMI")
    )
    frames = [ami]
    probes = data.probes if data.facts["probes"] else None
    if probes is not None and not probes.empty:
        columns = [c for c in probes.columns if c.startswith("knn_top1_") or c == "linear_probe_top1"]
        frames.append(
            probes.melt(id_vars=["dataset", "encoder"], value_vars=columns, var_name="reference").dropna(subset=["value"])
        )
    return pd.concat(frames, ignore_index=True)[["dataset", "encoder", "reference", "value"]]


@output(
    "encoder_choice",
    "table",
    "Which encoder to use, without labels: per dataset and label-free score, the encoder it ranks first and the runner-up; "
    "where labels exist, whether that pick is the encoder with the best clusterer-averaged AMI, the AMI lost by picking "
    "it (regret) and the score's Spearman correlation with AMI across encoders. On an unlabelled dataset this is the "
    "recommendation.",
    "two or more encoders (labelfree.enabled)",
    _needs_labelfree,
    reads=("runs", "labelfree", "probes"),
    results=("labelfree",),
)
def encoder_choice(data: Data, out: Path):
    from .. import selection

    scores = selection.score_table(data.labelfree)
    choice = selection.encoder_choice(scores, references(data), reference="AMI")
    encoders = labels_of(data.facts, "encoders")
    summary = selection.recommendation(choice)
    for column in ("recommended", "runner_up"):
        summary[column] = summary[column].map(lambda e: encoders.get(e, e))
    write(summary, out, "encoder_choice", best=None, shade=False, digits=3)
    write(
        choice, out, "encoder_ranking", best=None, shade=False, digits=3, caption="Every encoder ranked by every label-free score"
    )


@output(
    "labelfree_correlations",
    "table",
    "Spearman and Kendall rank correlations, with n and p-values, between each label-free score and each labelled "
    "reference (clusterer-averaged AMI, weighted kNN top-1 for each k, linear-probe top-1): across encoders per dataset, "
    "and pooled over all (dataset, encoder) pairs.",
    "two or more encoders and a labelled dataset",
    _needs_references,
    reads=("runs", "labelfree", "probes"),
    results=("labelfree",),
)
def labelfree_correlations(data: Data, out: Path):
    from .. import selection

    table = selection.correlations(selection.score_table(data.labelfree), references(data))
    write(table, out, "labelfree_correlations", best=None, shade=False, digits=3)


def _checkpoints(data: Data):
    from .. import selection

    series = {e: f for e, f in data.facts["encoders"].items() if "series" in f}
    series = {
        e: {"series": f["series"], "checkpoint": f["checkpoint"], "step": selection.checkpoint_step(f["checkpoint"])}
        for e, f in series.items()
    }
    scores, refs = selection.score_table(data.labelfree), references(data)
    return selection.checkpoint_table(scores, refs, series), sorted(set(scores["score"])), sorted(set(refs["reference"]))


@output(
    "checkpoints",
    "table",
    "A training run's checkpoints (encoders with `checkpoints:`): every label-free score and labelled reference per "
    "checkpoint, in training order, and each score's rank correlation with each reference over the checkpoints.",
    "a checkpoint series (an encoder with `checkpoints:`)",
    _needs_series,
    reads=("runs", "labelfree", "probes"),
    results=("labelfree",),
)
def checkpoints(data: Data, out: Path):
    from .. import selection

    table, scores, refs = _checkpoints(data)
    write(table, out, "checkpoints", best="max", digits=3, caption="Scores and references per checkpoint")
    correlations = selection.checkpoint_correlations(table, scores, refs)
    write(
        correlations,
        out,
        "checkpoint_correlations",
        best=None,
        shade=False,
        digits=3,
        caption="Rank correlations over the checkpoints",
    )


@output(
    "checkpoint_curves",
    "figure",
    "Every label-free score and labelled reference over a training run's checkpoints (x: training step from the "
    "checkpoint label), one panel per score, one line per dataset.",
    "a checkpoint series (an encoder with `checkpoints:`)",
    _needs_series,
    reads=("runs", "labelfree", "probes"),
    results=("labelfree",),
)
def checkpoint_curves(data: Data, out: Path):
    from .. import plots

    table, scores, refs = _checkpoints(data)
    save(plots.checkpoint_curves(table, scores + refs), out, "checkpoint_curves")


def _needs_chosen_k(facts_):
    if any(d.get("k_chosen_by") for d in facts_["datasets"].values()):
        return None
    return (
        "no run chooses its number of clusters (choose_k: a dataset with neither labels nor n_clusters, or choose_k.when: always)"
    )


def chosen_k(runs):
    """(one row per run that chose its k: keys, k_chosen, criterion, classes where labelled, AMI;
    the tidy score curves: keys, k, score, chosen) from runs.parquet's k_chosen, k_criterion and k_curve."""
    import json

    import numpy as np
    import pandas as pd

    keys = ["dataset", "encoder", "reducer", "clusterer", "seed"]
    if "k_curve" not in runs:
        return pd.DataFrame(columns=[*keys, "k_chosen", "k_criterion", "classes", "AMI"]), pd.DataFrame(
            columns=[*keys, "k", "score", "chosen", "criterion"]
        )
    chose = runs[(runs["k_curve"] != "") & (runs["skipped"] == "")]
    table = chose[keys + ["k_chosen", "k_criterion"]].astype({"k_chosen": "Int64"})
    table["classes"] = chose["n_clusters_true"].where(chose["n_clusters_true"] > 0).astype("Int64")
    table["AMI"] = chose["AMI"]
    curves = [
        {key: getattr(row, key) for key in keys}
        | {
            "k": int(k),
            "score": np.nan if score is None else score,
            "chosen": int(k) == row.k_chosen,
            "criterion": row.k_criterion,
        }
        for row in chose.itertuples(index=False)
        for k, score in json.loads(row.k_curve).items()
    ]
    return table.reset_index(drop=True), pd.DataFrame(curves)


@output(
    "k_chosen",
    "table",
    "The number of clusters each run chose without labels (clusterers' choose_k): the chosen k, the label-free criterion "
    "that chose it and, where the dataset has labels, the true number of classes and the run's AMI.",
    "a run that chooses its number of clusters (choose_k)",
    _needs_chosen_k,
)
def k_chosen(data: Data, out: Path):
    table, _ = chosen_k(data.runs)
    if len(table):
        table["dataset"] = table["dataset"].map(lambda d: data.facts["datasets"].get(d, {}).get("label", d))
        table["encoder"] = table["encoder"].map(labels_of(data.facts, "encoders")).fillna(table["encoder"])
        if "reducer" in table:
            table["reducer"] = table["reducer"].map(lambda r: display_reducer(data.facts, r))
        if "clusterer" in table:
            table["clusterer"] = table["clusterer"].map(lambda c: data.facts.get("clusterer_labels", {}).get(c, c))
    write(table, out, "k_chosen", best=None, shade=False, digits=3)


@output(
    "k_selection",
    "figure",
    "The number of clusters chosen without labels (clusterers' choose_k): per dataset, the label-free score of each k "
    "(the silhouette in the UMAP-50 space, or in the space clustered) for every run that chose its k, one panel per "
    "encoder, one line per reducer and clusterer (first seed); a dot marks the chosen k, a dashed line the true number of "
    "classes where the dataset has labels.",
    "a run that chooses its number of clusters (choose_k)",
    _needs_chosen_k,
)
def k_selection(data: Data, out: Path):
    from .. import plots

    table, curves = chosen_k(data.runs)
    labels = labels_of(data.facts, "encoders") | data.facts.get("clusterer_labels", {})
    labels |= {reducer: display_reducer(data.facts, reducer) for reducer in data.facts.get("reducers", {})}
    for dataset, facts_ in data.facts["datasets"].items():
        mine = curves[(curves["dataset"] == dataset) & (curves["seed"] == data.facts["seed"])] if len(curves) else curves
        if len(mine):
            classes = table.loc[table["dataset"] == dataset, "classes"].astype(float).median()  # NaN: no labels
            title = facts_.get("name", facts_["label"])
            save(plots.k_selection(mine, classes, labels, title=title), out, f"k_selection_{dataset}")
