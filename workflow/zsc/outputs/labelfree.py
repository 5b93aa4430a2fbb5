"""The label-free answers as entries of the output registry (zsc.outputs): which encoder or which
checkpoint, without labels (zsc.selection over results/tables/labelfree.parquet and probes.parquet;
docs/labelfree.md)."""

from __future__ import annotations

from pathlib import Path

from .registry import Data, display_reducer, labels_of, output, save, write, write_csv


def _needs_labelfree(facts_):
    if not facts_["labelfree"]:
        return "labelfree.enabled is false"
    return None if len(facts_["encoders"]) >= 2 else "needs two or more encoders to choose between"


def _needs_references(facts_):
    why = _needs_labelfree(facts_)
    if why:
        return why
    return None if any(d["labelled"] for d in facts_["datasets"].values()) else "needs a labelled dataset to compare with"


def _needs_labelled(facts_):
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


def primary_score(facts_) -> str:
    """The score the recommendation follows: the UMAP-50 silhouette, else (no UMAP space) the original space's."""
    from .. import selection

    return selection.PRIMARY if facts_["umap_silhouette"] else selection.FALLBACK


def recommendations(data: Data, choice=None):
    """(the pipelines that ran, one recommended pipeline per dataset): zsc.selection.recommend of the
    primary score over runs.parquet; `choice` (encoder_choice's ranks) counts the scores agreeing."""
    from .. import selection

    pipelines = selection.pipeline_table(data.runs)
    return pipelines, selection.recommend(pipelines, choice, primary_score(data.facts))


def names(facts_) -> dict[str, dict[str, str]]:
    """Display names of datasets, encoders, reducers and clusterers (the study's, else the config's)."""
    return {
        "dataset": {name: d["label"] for name, d in facts_["datasets"].items()},
        "encoder": labels_of(facts_, "encoders"),
        "reducer": {r: display_reducer(facts_, r) for r in facts_.get("reducers", {})},
        "clusterer": {c: facts_["clusterer_labels"].get(c, c) for c in facts_["all_clusterers"]},
    }


def _shown(frame, facts_, columns=None):
    """`frame` with its dataset, encoder and clusterer columns (`columns`: column -> which of them) in
    display names."""
    shown, labels = frame.copy(), names(facts_)
    for column, kind in (columns or {"dataset": "dataset", "encoder": "encoder", "clusterer": "clusterer"}).items():
        shown[column] = shown[column].map(lambda v: labels[kind].get(v, v) if isinstance(v, str) else v)
    return shown


def recommendation_table(recommended, facts_):
    """The one-row-per-dataset recommendation as shown: display names, the runner-up as one pipeline,
    regret in AMI x 100; the label columns only where a dataset has labels."""
    import pandas as pd

    kinds = {"dataset": "dataset", "encoder": "encoder", "reducer": "reducer", "clusterer": "clusterer"}
    runner_up_kinds = {"runner_up_encoder": "encoder", "runner_up_reducer": "reducer", "runner_up_clusterer": "clusterer"}
    shown = _shown(recommended, facts_, {**kinds, **runner_up_kinds})
    runner_up = [
        None if e is None else f"{e} / {r} / {c}"
        for e, r, c in zip(shown["runner_up_encoder"], shown["runner_up_reducer"], shown["runner_up_clusterer"])
    ]
    table = pd.DataFrame(
        {
            "dataset": shown["dataset"],
            "encoder": shown["encoder"],
            "reducer": shown["reducer"],
            "clusterer": shown["clusterer"],
            "k": shown["k"],
            "score": shown["score"],
            "value": shown["value"],
            "runner-up": runner_up,
            "margin": shown["margin"],
            "scores agreeing": ["" if pd.isna(a) else f"{a} of {n}" for a, n in zip(shown["agreeing"], shown["scores"])],
            "AMI-best": shown["ami_best"].map(lambda v: "" if pd.isna(v) else ("yes" if v else "no")),
            "regret (AMI x 100)": shown["regret"],
        }
    )
    if recommended["regret"].isna().all():  # no labels anywhere: nothing to compare with
        table = table.drop(columns=["AMI-best", "regret (AMI x 100)"])
    # three decimals, as every format shows them (the report's start page shows the CSV; pipeline_ranking.csv
    # has the full precision)
    return table.round({"value": 3, "margin": 3, "regret (AMI x 100)": 3})


def recommendation_reasons(recommended, facts_):
    """The recommendation in words, one row per dataset: DataFrame[dataset, recommended, why] (the report's
    start page shows it)."""
    import pandas as pd

    table = recommendation_table(recommended, facts_)
    rows = []
    for (_, shown), (_, given) in zip(table.iterrows(), recommended.iterrows()):
        why = [f"the highest {given['score']} of its {given['candidates']} pipelines ({shown['value']:.3f})"]
        if shown["runner-up"]:
            why.append(f"runner-up {shown['runner-up']} ({given['runner_up_value']:.3f}, margin {shown['margin']:.3f})")
        if shown["scores agreeing"]:
            why.append(f"{shown['scores agreeing']} label-free scores rank {shown['encoder']} first")
        if "regret (AMI x 100)" in shown and pd.notna(shown["regret (AMI x 100)"]):
            why.append(f"with labels: AMI-best {shown['AMI-best']}, regret {shown['regret (AMI x 100)']:.1f} AMI x 100")
        pipeline = f"{shown['encoder']} / {shown['reducer']} / {shown['clusterer']}, k = {shown['k']}"
        rows.append({"dataset": shown["dataset"], "recommended": pipeline, "why": "; ".join(why)})
    return pd.DataFrame(rows, columns=["dataset", "recommended", "why"])


def _recommendation_notes(facts_, primary: str) -> list[str]:
    return [
        f"Chosen by {primary}: the silhouette of each pipeline's predicted labels in "
        + ("the shared UMAP-50 space" if primary.endswith("umap") else "the original embedding space (no UMAP space here)")
        + ", highest first, among the pipelines that found at least 2 clusters (docs/labelfree.md says why; the "
        "score_validation output measures it against every other score on this run's labelled datasets).",
        "k: clusters found (median over seeds; noise not counted). Runner-up: the best pipeline of another encoder; "
        "margin: the difference in the score.",
        "Scores agreeing: how many of the encoder-level label-free scores rank the same encoder first (encoder_choice_by_score).",
        "AMI-best and regret: whether the pipeline has the best AMI of every pipeline of the dataset that ran, and the "
        "AMI x 100 it is behind it.",
    ]


@output(
    "encoder_choice",
    "table",
    "Which encoder and pipeline to use, without labels: one row per dataset, the encoder, reducer and clusterer whose "
    "clusters have the highest silhouette in the shared UMAP-50 space (the declared primary score), the number of "
    "clusters k, the runner-up (best pipeline of another encoder) and the margin, and how many of the other label-free "
    "scores pick the same encoder; on labelled data whether it is the AMI-best pipeline and the AMI x 100 lost (regret). "
    "Beside it: every label-free score's own pick with its Spearman correlation with AMI, every encoder and every "
    "pipeline ranked.",
    "runs",
    reads=("runs", "labelfree", "probes"),
)
def encoder_choice(data: Data, out: Path):
    from .. import selection

    scores = selection.score_table(data.labelfree)
    choice = selection.encoder_choice(scores, references(data), reference="AMI")
    pipelines, recommended = recommendations(data, choice)
    primary = primary_score(data.facts)
    write(
        recommendation_table(recommended, data.facts), out, "encoder_choice", best=None, shade=False, digits=3,
        notes=_recommendation_notes(data.facts, primary),
    )  # fmt: skip
    write_csv(recommendation_reasons(recommended, data.facts), out, "recommendation")  # what the report's start page shows
    by_score = selection.recommendation(choice).merge(
        recommended[["dataset", "encoder"]].rename(columns={"encoder": "_primary"}), on="dataset", how="left"
    )
    by_score.insert(4, "agrees", by_score["recommended"] == by_score.pop("_primary"))
    by_score.insert(2, "family", by_score["score"].map(selection.score_family))
    by_score["regret"] *= 100
    by_score = by_score.rename(columns={"regret": "regret (AMI x 100)", "top_pick_is_best": "AMI-best"})
    write(
        _shown(by_score, data.facts, {"dataset": "dataset", "recommended": "encoder", "runner_up": "encoder"}),
        out,
        "encoder_choice_by_score",
        best=None,
        shade=False,
        digits=3,
        caption="Per dataset and label-free score: the encoder it ranks first and the runner-up, whether that pick is the "
        "primary score's encoder (agrees), and where labels exist whether it is the encoder with the best clusterer-averaged "
        "AMI, the AMI x 100 lost by picking it and the score's Spearman correlation with AMI across the n encoders "
        "(none below 3 encoders)",
    )
    ranking = choice.assign(regret=100 * choice["regret"]).rename(columns={"regret": "regret (AMI x 100)"})
    caption = "Every encoder ranked by every label-free score"
    write(ranking, out, "encoder_ranking", best=None, shade=False, digits=3, caption=caption)
    ranked = selection.ranked_pipelines(pipelines, primary)
    ranked = ranked[["dataset", "rank", "encoder", "reducer", "clusterer", "k", primary, "AMI"]].assign(AMI=100 * ranked["AMI"])
    write(
        _shown(ranked, data.facts).rename(columns={"AMI": "AMI x 100"}),
        out,
        "pipeline_ranking",
        best=None,
        shade=False,
        digits=3,
        caption=f"Every pipeline of each dataset ranked by {primary} (rank 1: the recommendation), with its AMI x 100",
    )


@output(
    "score_validation",
    "table",
    "Which label-free score to trust, measured on this run's labelled datasets: per score family, at the level of "
    "pipelines (each pipeline's own score) and of encoders, the mean within-dataset Spearman correlation with AMI "
    "(over the choices with 3 or more candidates), the hit rate (the score's pick is the AMI-best), the mean and worst "
    "regret in AMI x 100, and n (datasets, choices); sorted by mean regret. The row marked primary is the score the "
    "recommendation (encoder_choice) follows.",
    "a labelled dataset",
    _needs_labelled,
    reads=("runs", "labelfree", "probes"),
)
def score_validation(data: Data, out: Path):
    from .. import selection

    refs = references(data)
    choices = selection.score_choices(
        selection.pipeline_table(data.runs), selection.score_table(data.labelfree), refs[refs["reference"] == "AMI"]
    )
    table = selection.score_validation(choices, primary_score(data.facts))
    table["primary"] = table["primary"].map({True: "yes", False: ""})
    notes = [
        "pipeline: each pipeline's own score ranks the dataset's pipelines; regret against the dataset's AMI-best pipeline.",
        "encoder: the score ranks the encoders (a per-run score: each encoder's best pipeline); regret against the encoder "
        "with the best clusterer-averaged AMI (main table).",
        "mean_spearman is over the n_spearman choices with 3 or more candidates (none: a dash).",
    ]
    write(table, out, "score_validation", best=None, shade=False, digits=3, notes=notes)
    write(
        choices,
        out,
        "score_choices",
        best=None,
        shade=False,
        digits=3,
        caption="Every score's choice on every labelled dataset: candidates n, Spearman with AMI (none below 3), hit, "
        "regret (AMI x 100)",
    )


@output(
    "labelfree_correlations",
    "table",
    "Spearman and Kendall rank correlations, with n and p-values (and Holm-corrected p-values over each dataset's scores "
    "against one reference), between each label-free score and each labelled reference (clusterer-averaged AMI, "
    "weighted kNN top-1 for each k, linear-probe top-1): pooled over all (dataset, encoder) pairs, then across encoders "
    "per dataset. Shown with n of 3 or more, by reference, scope and score family; the CSV keeps every row (shown: False).",
    "two or more encoders and a labelled dataset",
    _needs_references,
    reads=("runs", "labelfree", "probes"),
    results=("labelfree",),
)
def labelfree_correlations(data: Data, out: Path):
    from .. import selection
    from ..stats import adjust_pvalues

    table = selection.correlations(selection.score_table(data.labelfree), references(data))
    for test in ("spearman", "kendall"):
        table.insert(
            table.columns.get_loc(f"{test}_p") + 1,
            f"{test}_p_holm",
            table.groupby(["scope", "dataset", "reference"], sort=False)[f"{test}_p"].transform(adjust_pvalues),
        )
    table.insert(3, "family", table["score"].map(selection.score_family))
    order = {ref: i for i, ref in enumerate(dict.fromkeys(["AMI", *table["reference"]]))}
    table = table.assign(_ref=table["reference"].map(order), _scope=table["scope"] != "pooled")
    table = table.sort_values(["_ref", "_scope"], kind="mergesort").drop(columns=["_ref", "_scope"]).reset_index(drop=True)
    table["shown"] = table["n"] >= 3
    shown = table[table["shown"]].drop(columns="shown").reset_index(drop=True)
    notes = [f"{int((~table['shown']).sum())} of {len(table)} correlations have n < 3 and are left out here (in the CSV)."]
    write(shown, out, "labelfree_correlations", best=None, shade=False, digits=3, notes=notes)
    write_csv(table, out, "labelfree_correlations")


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
        table = _shown(table, data.facts, {k: k for k in ("dataset", "encoder", "reducer", "clusterer") if k in table})
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
    shown = names(data.facts)
    labels = shown["encoder"] | shown["clusterer"] | shown["reducer"]
    for dataset, facts_ in data.facts["datasets"].items():
        mine = curves[(curves["dataset"] == dataset) & (curves["seed"] == data.facts["seed"])] if len(curves) else curves
        if len(mine):
            classes = table.loc[table["dataset"] == dataset, "classes"].astype(float).median()  # NaN: no labels
            title = facts_.get("name", facts_["label"])
            save(plots.k_selection(mine, classes, labels, title=title), out, f"k_selection_{dataset}")
