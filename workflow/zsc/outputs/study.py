"""The study's tables and figures (Lowe et al. 2024), as entries of the output registry
(zsc.outputs): each renders from the result tables with zsc.study's numbers, zsc.table_formats'
tables and zsc.plots' figures. docs/outputs.md explains how every number is computed."""

from __future__ import annotations

from pathlib import Path

from .registry import Data, display_clusterer, display_reducer, needs_runs, output, pipeline_sentence, save, write

# ---------------------------------------------------------------------------------------------
# Availability checks: each says why an output cannot be made from this config (None: it can).


def _needs_supervised_pair(facts_):
    archs = {}
    for e in facts_["encoders"].values():
        archs.setdefault(e["architecture"], []).append(e["training"])
    if any("supervised" in t and len(t) > 1 for t in archs.values()):
        return None
    return "needs a supervised encoder and another encoder of the same architecture (e.g. resnet50 and dino_resnet50)"


def _needs_clusterers(n):
    def check(facts_):
        return None if len(facts_["clusterers"]) >= n else f"needs at least {n} clusterers"

    return check


def _needs_ranked_pairs(facts_):
    if len(facts_["clusterers"]) < 2:
        return "needs at least 2 clusterers"
    if not any(e["training"] in ("supervised", "self-supervised") for e in facts_["encoders"].values()):
        return (
            "needs a supervised or self-supervised encoder (random-init, raw and fine-tuned encoders are "
            "not ranked, as in the study)"
        )
    return None


def _needs_chooses_k(facts_):
    return (
        None
        if facts_["chooses_k"]
        else "needs a clusterer that finds the number of clusters (AC without C, Affinity Propagation, HDBSCAN)"
    )


def _needs_protocol(facts_):
    return None if facts_["protocol"] else "needs a protocol (a params file such as config/params/v5.0.yaml)"


def _needs_umap_space(facts_):
    return None if facts_["umap_silhouette"] else "needs metrics.umap_silhouette: true"


def _needs_in9(facts_):
    present = [d for d in facts_["datasets"] if d.startswith("in9")]
    return None if len(present) >= 2 else "needs two or more ImageNet-9 variants (in9original, in9mixedsame, in9mixedrand, ...)"


def _needs_levels(facts_):
    if any(d["extra_labels"] for d in facts_["datasets"].values()):
        return None
    return (
        "needs a dataset with extra label levels (iNaturalist or BIOSCAN taxonomy, CelebA attributes, "
        "UTKFace, ImageNet-R, Aircraft, BreakHis)"
    )


def _needs_taxonomy(facts_):
    if any(len(d["levels"]) > 1 for d in facts_["datasets"].values()):
        return None
    return "needs a dataset with a label hierarchy (iNaturalist or BIOSCAN-1M, or FGVC-Aircraft)"


def _needs_maps(facts_):
    if not facts_["maps"]:
        return "outputs.embedding_maps is false"
    return needs_runs(facts_)


def _needs_labels_and_runs(facts_):
    if not any(d["labelled"] for d in facts_["datasets"].values()):
        return "needs a labelled dataset"
    return needs_runs(facts_)


def _needs_reducers(facts_):
    if facts_["protocol"]:
        return "needs a grid of reducers (a config without a protocol: the protocol tunes one reducer per encoder and clusterer)"
    if len(facts_.get("reducers", {})) < 2:
        return "needs two or more reducers"
    return _needs_labels_and_runs(facts_)  # AMI per reducer


def _needs_dimension_sweep(facts_):
    why = _needs_reducers(facts_)
    if why:
        return why
    families: dict[str, set] = {}
    for info in facts_["reducers"].values():
        if info["dims"]:
            families.setdefault(info["family"], set()).add(info["dims"])
    if any(len(dims) >= 2 for dims in families.values()):
        return None
    return "needs reducers of one kind at two or more dimensions (e.g. PCA or UMAP to 10 and 50 dimensions)"


def not_run_notes(runs) -> list[str]:
    from ..aggregate import not_run_notes, run_notes  # when rendering: zsc.aggregate imports pandas

    return not_run_notes(runs) + run_notes(runs)  # the runs that ran with a note (all noise) too


def _drop_notes(drops, facts_) -> list[str]:
    """One line per (dataset, clusterer) cell the drop rule removed for every encoder, in display names."""
    notes = []
    for r in drops.itertuples():
        encoders = r.encoders.split(",")
        missing = (
            f"all {len(encoders)} encoders" if len(encoders) == len(facts_["encoders"]) > 1 else _encoder_names(facts_, encoders)
        )
        on = f" ({display_reducer(facts_, r.reducer)})" if r.reducer else ""
        notes.append(
            f"dropped for every encoder: {display_clusterer(facts_, r.clusterer)}{on} on {_dataset_name(facts_, r.dataset)} "
            f"(missing for {missing}: {r.reason})"
        )
    return notes


def _encoder_names(facts_, encoders) -> str:
    from .. import study

    index = study.encoder_index(facts_, encoders)
    return ", ".join(f"{label} ({arch})" if arch and arch != "raw pixels" else label for arch, label in index)


def _dataset_name(facts_, dataset: str) -> str:
    info = facts_["datasets"].get(dataset, {})
    return info.get("name") or info.get("label") or dataset


def _pipeline_notes(facts_) -> list[str]:
    sentence = pipeline_sentence(facts_)
    return [sentence] if sentence else []


def _on_reducer(facts_, clusterer: str) -> str:
    """The reducer one clusterer is shown on, as ' on UMAP-50' ('' under a protocol, where it varies by encoder)."""
    reducer = (facts_.get("reducer_of") or {}).get(clusterer)
    return f" on {display_reducer(facts_, reducer)}" if reducer else ""


def _clusterer_labels(facts_) -> dict[str, str]:
    return {c: display_clusterer(facts_, c) for c in facts_["all_clusterers"]}


def _clusterer_columns(frame, facts_):
    """A frame whose columns are clusterer names, with their display names instead."""
    frame = frame.copy()
    frame.columns = frame.columns.map(lambda c: display_clusterer(facts_, c)).rename(frame.columns.name)
    return frame


@output(
    "main_ami",
    "table",
    "AMI x 100 per encoder (rows, by architecture; [FT] fine-tuned) and dataset (columns, by domain group, with each "
    "group's mean), averaged over the clusterers the study's way (6c-avg): the median over duplicate runs, a clusterer x "
    "dataset cell missing for any encoder dropped for all encoders (listed under the table), then the mean over "
    "clusterers. Best per column bold, second underlined; shading from the column's median to its maximum. A group "
    "mean over only some of its datasets (the rest missing for that row) is marked with a dagger and not ranked.",
    "runs",
    pipelines=True,
)
def main_ami(data: Data, out: Path):
    from .. import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    notes = _pipeline_notes(data.facts) + _drop_notes(drops, data.facts) + not_run_notes(data.runs)
    table, flags = study.main_table(avg, data.facts), study.incomplete_means(avg, data.facts)
    write(table, out, "main_ami", notes=notes, incomplete=flags)


@output(
    "ami_per_clusterer",
    "table",
    "AMI x 100 per encoder and dataset for each clusterer on its own (median over seeds), one table per clusterer; "
    "best per column bold, second underlined; a group mean over only some of its datasets marked with a dagger.",
    "runs",
    pipelines=True,
)
def ami_per_clusterer(data: Data, out: Path):
    from .. import study

    for clusterer in data.facts["all_clusterers"]:
        runs = study.select_runs(data.runs[data.runs["clusterer"] == clusterer], data.facts)
        wide = study.clusterer_ami(data.runs, data.facts, clusterer)
        name = f"{display_clusterer(data.facts, clusterer)}{_on_reducer(data.facts, clusterer)}"
        write(
            study.main_table(wide, data.facts),
            out,
            f"ami_{clusterer}",
            notes=_pipeline_notes(data.facts) + not_run_notes(runs),
            caption=f"AMI x 100, {name}",
            incomplete=study.incomplete_means(wide, data.facts),
        )


@output(
    "n_clusters",
    "table",
    "Number of clusters predicted (median over seeds) by each clusterer that finds it itself, per encoder and dataset, "
    "with the true number in the last row; cells coloured by log10(predicted / true): orange too many, purple too few.",
    "a clusterer that finds the number of clusters (AC without C, Affinity Propagation, HDBSCAN)",
    _needs_chooses_k,
    pipelines=True,
)
def n_clusters(data: Data, out: Path):
    import pandas as pd

    from .. import study

    for clusterer in data.facts["chooses_k"]:
        pred, true = study.n_clusters_table(data.runs, data.facts, clusterer)
        ratio = study.log_ratio(pred, true)
        table = pd.concat([pred, true.to_frame("true").T])
        colour = pd.concat([ratio, pd.DataFrame(0.0, index=["true"], columns=ratio.columns)])
        name = f"{display_clusterer(data.facts, clusterer)}{_on_reducer(data.facts, clusterer)}"
        write(
            table,
            out,
            f"n_clusters_{clusterer}",
            best=None,
            colour=colour,
            caption=f"Clusters predicted vs true, {name}",
            notes=_pipeline_notes(data.facts),
        )


@output(
    "hyperparameters",
    "table",
    "The protocol's pipeline per encoder (rows) and clusterer (columns): the reducer, then the clusterer's settings.",
    "a protocol (params file)",
    _needs_protocol,
    results=(),  # the protocol's settings, whether or not its runs ran
)
def hyperparameters(data: Data, out: Path):
    from .. import study

    table = _clusterer_columns(study.hyperparameter_table(data.facts), data.facts)
    write(table, out, "hyperparameters", best=None, shade=False)


@output(
    "silhouettes",
    "table",
    "Silhouette x 100 (Euclidean) of the predicted labels in the original embedding space (og) and in the shared UMAP-50 "
    "space (umap), averaged over the clusterers, and of the true labels in the UMAP-50 space (umap_true).",
    "metrics.umap_silhouette (on by default)",
    _needs_umap_space,
    pipelines=True,
)
def silhouettes(data: Data, out: Path):
    from .. import study

    spaces = {
        "og": "of the predicted labels in the original embedding space, mean over the clusterers",
        "umap": "of the predicted labels in the shared UMAP-50 space, mean over the clusterers",
        "umap_true": "of the true labels in the shared UMAP-50 space",
    }
    for space, table in study.silhouette_tables(data.runs, data.facts).items():
        notes = _pipeline_notes(data.facts) if space != "umap_true" else []
        write(table, out, f"silhouette_{space}", caption=f"Silhouette x 100 {spaces[space]}", notes=notes)


@output(
    "in9_backgrounds",
    "table",
    "ImageNet-9 Backgrounds Challenge: clusterer-averaged AMI x 100 on each variant present (OG original, FG only "
    "foreground, FG^C no foreground, BG only background, MS mixed-same, MR mixed-rand) and Gap = MS - MR.",
    "two or more ImageNet-9 variants",
    _needs_in9,
    pipelines=True,
)
def in9_backgrounds(data: Data, out: Path):
    from .. import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    notes = _pipeline_notes(data.facts) + _drop_notes(drops, data.facts)
    write(study.in9_table(avg, data.facts), out, "in9_backgrounds", notes=notes)


@output(
    "label_levels",
    "table",
    "AMI x 100 of the same predicted clusters against every label level the embeddings carry (taxonomy levels, "
    "attributes, ...), averaged over the clusterers; one table per dataset with extra labels.",
    "a dataset with extra label levels (iNaturalist, BIOSCAN-1M, CelebA, UTKFace, ImageNet-R, Aircraft, BreakHis)",
    _needs_levels,
    reads=("labels",),
    results=("labels",),
    pipelines=True,
)
def label_levels(data: Data, out: Path):
    from .. import plots, study

    levels = study.label_levels(data.labels, data.facts)
    order = list(data.facts["encoders"])
    for dataset, rows in levels.groupby("dataset", sort=False):
        table = rows.pivot_table(index="encoder", columns=["level_index", "level"], values="AMI", sort=True)
        levels_ = [level for _, level in table.columns]
        table.columns = [plots.level_name(level, levels_) for level in levels_]
        table = table.loc[[e for e in order if e in table.index]]
        table.index = study.encoder_index(data.facts, table.index)
        name = _dataset_name(data.facts, dataset)
        notes = _pipeline_notes(data.facts)
        write(table, out, f"label_levels_{dataset}", caption=f"AMI x 100 against each label level, {name}", notes=notes)


@output("datasets", "table", "The datasets clustered: domain group, classes, samples clustered and source.", "runs", results=())
def datasets(data: Data, out: Path):
    from .. import study

    write(study.dataset_table(data.runs, data.facts), out, "datasets", best=None, shade=False)


@output(
    "delta_vs_supervised",
    "table",
    "Per architecture and domain group: each encoder's clusterer-averaged AMI minus the supervised (X-Ent.) encoder's "
    "of the same architecture, in percentage points over the group's datasets: mean, std (ddof 1), n, and a paired "
    "t-test (scipy.stats.ttest_rel; t, p, and p_holm: Holm-corrected over every test of the table).",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
    pipelines=True,
)
def delta_vs_supervised(data: Data, out: Path):
    from .. import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    table = _display_encoders(study.delta_vs_supervised(avg, data.facts), data.facts, "reference")
    notes = _pipeline_notes(data.facts) + _drop_notes(drops, data.facts)
    write(table, out, "delta_vs_supervised", best=None, shade=False, digits=3, notes=notes)


def _display_encoders(table, facts_, *columns: str):
    """A statistics table as readers see it: the encoder column (and `columns`, also encoder names)
    holding display labels, the label column dropped."""
    from .. import study

    table = table.drop(columns="label").copy()
    for column in ("encoder", *columns):
        table[column] = table[column].map(lambda e: study.encoder_label(facts_, e))
    return table


@output(
    "encoder_ranks",
    "table",
    "Encoder ranks by domain group within each architecture (1 = best clusterer-averaged AMI on a dataset): mean and std "
    "(ddof 1) over the group's datasets, n, and the Wilcoxon signed-rank p-value of its AMI against the supervised "
    "encoder's (wilcoxon_p; wilcoxon_p_holm: Holm-corrected over every test of the table).",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
    pipelines=True,
)
def encoder_ranks(data: Data, out: Path):
    from .. import study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    table = _display_encoders(study.encoder_ranks(avg, data.facts), data.facts)
    write(table, out, "encoder_ranks", best=None, shade=False, digits=3, notes=_pipeline_notes(data.facts))


@output(
    "clusterer_ranks",
    "table",
    "Clusterers ranked per (encoder, dataset) pair by AMI (1 = best; supervised and self-supervised encoders, as in "
    "the study): mean and std (ddof 1) rank with n, and exact Wilcoxon signed-rank tests between every pair of "
    "clusterers (p; p_holm: Holm-corrected over every pair).",
    "two clusterers and a supervised or self-supervised encoder",
    _needs_ranked_pairs,
    pipelines=True,
)
def clusterer_ranks(data: Data, out: Path):
    from .. import study

    summary, pairs = study.clusterer_ranks(data.runs, data.facts)
    summary = summary.assign(clusterer=summary["clusterer"].map(lambda c: display_clusterer(data.facts, c)))
    pairs = pairs.assign(
        a=pairs["a"].map(lambda c: display_clusterer(data.facts, c)), b=pairs["b"].map(lambda c: display_clusterer(data.facts, c))
    )
    notes = _pipeline_notes(data.facts)
    write(summary, out, "clusterer_ranks", best=None, shade=False, digits=3, caption="Clusterer ranks", notes=notes)
    write(
        pairs,
        out,
        "clusterer_pairs_wilcoxon",
        best=None,
        shade=False,
        digits=4,
        caption="Wilcoxon signed-rank tests between clusterers (p_holm: Holm-corrected over the pairs)",
        notes=notes,
    )


@output(
    "reducer_ami",
    "table",
    "AMI x 100 of every encoder and clusterer (rows) on each reducer of the grid (columns), the mean over the datasets "
    "of the median over seeds; best per row bold, second underlined. A mean over fewer datasets than its row (the "
    "reducer failed or was skipped on the others) is marked with a dagger; reducer_ami_n holds mean, std (ddof 1), n "
    "and the datasets of each row.",
    "a grid of two or more reducers (no protocol)",
    _needs_reducers,
)
def reducer_ami(data: Data, out: Path):
    import pandas as pd

    from .. import study

    long = study.reducer_table(data.runs, data.facts)
    wide = long.pivot_table(index=["encoder", "clusterer"], columns="reducer", values="mean", sort=False, dropna=False)
    counts = long.pivot_table(index=["encoder", "clusterer"], columns="reducer", values="n", sort=False, dropna=False)
    datasets = long.groupby(["encoder", "clusterer"], sort=False)["n_datasets"].first().reindex(wide.index)
    flags = counts.lt(datasets, axis=0) & wide.notna()
    index = [(*study.encoder_index(data.facts, [e])[0], display_clusterer(data.facts, c)) for e, c in wide.index]
    rows = pd.MultiIndex.from_tuples(index, names=["architecture", "encoder", "clusterer"])
    columns = pd.Index([display_reducer(data.facts, r) for r in wide.columns], name="reducer")
    wide, flags = wide.set_axis(rows).set_axis(columns, axis=1), flags.set_axis(rows).set_axis(columns, axis=1)
    note = (
        "\u2020 A mean over fewer datasets than the rest of its row (the reducer failed or was skipped on the others; "
        "reducer_ami_n has n): not ranked or shaded, left empty in the CSV."
    )
    write(wide, out, "reducer_ami", by="row", incomplete=flags, incomplete_note=note, notes=not_run_notes(data.runs))
    long = long.assign(
        encoder=long["encoder"].map(lambda e: study.encoder_label(data.facts, e)),
        clusterer=long["clusterer"].map(lambda c: display_clusterer(data.facts, c)),
        reducer=long["reducer"].map(lambda r: display_reducer(data.facts, r)),
    )
    write(
        long, out, "reducer_ami_n", best=None, shade=False, digits=1,
        caption="AMI x 100 per encoder, clusterer and reducer over the datasets: mean, std (ddof 1), n of n_datasets",
    )  # fmt: skip


# Figures


@output(
    "ami_heatmap",
    "figure",
    "The main table as a heat map: clusterer-averaged AMI x 100 per encoder (rows, by architecture) and dataset "
    "(columns, the study's short names, as in the datasets table), with each group's mean; a mean over only some of its "
    "datasets is left grey and marked with a dagger.",
    "runs",
    pipelines=True,
)
def ami_heatmap(data: Data, out: Path):
    from .. import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    table, flags = study.main_table(avg, data.facts), study.incomplete_means(avg, data.facts)
    save(plots.ami_heatmap(table, incomplete=flags), out, "ami_heatmap")


@output(
    "ami_heatmap_per_clusterer",
    "figure",
    "AMI x 100 per encoder (rows) and dataset (columns) for each clusterer on its own, one heat map per clusterer; a "
    "mean over only some of its datasets is left grey and marked with a dagger.",
    "runs",
    pipelines=True,
)
def ami_heatmap_per_clusterer(data: Data, out: Path):
    from .. import plots, study

    for clusterer in data.facts["all_clusterers"]:
        wide = study.clusterer_ami(data.runs, data.facts, clusterer)
        title = f"{display_clusterer(data.facts, clusterer)}{_on_reducer(data.facts, clusterer)}"
        fig = plots.ami_heatmap(
            study.main_table(wide, data.facts), title=title, incomplete=study.incomplete_means(wide, data.facts)
        )
        save(fig, out, f"ami_heatmap_{clusterer}")


def _delta_figure(data: Data, out: Path, name: str, keep):
    from .. import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    delta = study.delta_vs_supervised(avg, data.facts)  # Holm over the whole table, as delta_vs_supervised reports
    delta = delta[delta["encoder"].map(lambda e: keep(data.facts["encoders"][e]))]
    order = [e for e in data.facts["encoders"] if e in set(delta["encoder"])]
    save(plots.delta_by_domain(delta, data.facts["groups"] + ["All"], order, data.facts["encoders"]), out, name)


@output(
    "delta_by_domain",
    "figure",
    "AMI difference (p.p.) of each encoder to the supervised encoder of its architecture: bars of the mean, error bars "
    "± 1 std (ddof 1) over each domain group's datasets (rows), per architecture (columns); below zero vermillion, "
    "above green; * Holm-corrected paired t-test p < 0.05 (delta_vs_supervised's p_holm). Random-init encoders do not "
    "set the axis: a bar past it is drawn pale up to the edge, with an arrowhead and its mean ± std written. Fine-tuned "
    "encoders left out.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
    pipelines=True,
)
def delta_by_domain(data: Data, out: Path):
    _delta_figure(data, out, "delta_by_domain", lambda e: e["training"] != "fine-tuned")


@output(
    "delta_by_domain_ft",
    "figure",
    "As delta_by_domain (mean ± 1 std over each group's datasets, * Holm-corrected p < 0.05), with the fine-tuned "
    "encoders interleaved.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
    pipelines=True,
)
def delta_by_domain_ft(data: Data, out: Path):
    _delta_figure(data, out, "delta_by_domain_ft", lambda e: True)


@output(
    "encoder_rank_by_domain",
    "figure",
    "Mean rank (dot; 1 = best) of each encoder within its architecture, interval ± 1 std (ddof 1) over each domain "
    "group's datasets; * Holm-corrected Wilcoxon signed-rank p < 0.05 against the supervised encoder (encoder_ranks).",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
    pipelines=True,
)
def encoder_rank_by_domain(data: Data, out: Path):
    from .. import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    ranks = study.encoder_ranks(avg, data.facts)
    order = [e for e in data.facts["encoders"] if e in set(ranks["encoder"])]
    save(
        plots.rank_by_domain(ranks, data.facts["groups"] + ["All"], order, data.facts["encoders"]), out, "encoder_rank_by_domain"
    )


@output(
    "clusterer_ranking",
    "figure",
    "Mean rank (dot; 1 = best) of the clusterers over (encoder, dataset) pairs, interval ± 1 std (ddof 1) "
    "(supervised and self-supervised encoders; tests in clusterer_ranks).",
    "two clusterers and a supervised or self-supervised encoder",
    _needs_ranked_pairs,
    pipelines=True,
)
def clusterer_ranking(data: Data, out: Path):
    from .. import plots, study

    summary, _ = study.clusterer_ranks(data.runs, data.facts)
    save(plots.clusterer_ranking(summary, _clusterer_labels(data.facts)), out, "clusterer_ranking")


@output(
    "silhouette_vs_ami",
    "figure",
    "AMI x 100 against the silhouette of the predicted labels, in the original embedding space (top) and the shared "
    "UMAP-50 space (bottom), one panel per clusterer, one point per pipeline (encoder, dataset, clusterer on its one "
    "reducer; random-init encoders left out, as in the study); Spearman's rho and n in each panel (none below 5 points).",
    "a labelled dataset",
    _needs_labels_and_runs,
    pipelines=True,
)
def silhouette_vs_ami(data: Data, out: Path):
    from .. import plots, study

    runs = study.select_runs(data.runs, data.facts)
    runs = runs[runs["encoder"].map(lambda e: data.facts["encoders"][e]["training"] != "random")]
    runs = runs[runs["dataset"].isin(study.group_datasets(data.facts, runs["dataset"].unique())[study.ALL])]
    points = study.cell_metric(runs, data.facts["all_clusterers"], "AMI")
    for metric in ("silhouette_og", "silhouette_umap"):  # NaN without the UMAP space
        points = points.merge(study.cell_metric(runs, data.facts["all_clusterers"], metric), on=study.CELL)
    fig = plots.silhouette_vs_ami(points, data.facts["all_clusterers"], data.facts["encoders"], _clusterer_labels(data.facts))
    save(fig, out, "silhouette_vs_ami")


@output(
    "clusterer_pairs",
    "figure",
    "AMI x 100 of each clusterer against each other on the same (encoder, dataset) pairs (the main table's datasets), "
    "Spearman's rho above the diagonal (none below 5 pairs); on it, each clusterer's AMI histogram (a rug below 10 "
    "values).",
    "two clusterers",
    _needs_clusterers(2),
    pipelines=True,
)
def clusterer_pairs(data: Data, out: Path):
    from .. import plots, study

    runs = study.select_runs(data.runs, data.facts)
    runs = runs[runs["dataset"].isin(study.group_datasets(data.facts, runs["dataset"].unique())[study.ALL])]
    cells = study.cell_ami(runs, data.facts["all_clusterers"])
    save(plots.clusterer_pairs(cells, data.facts["all_clusterers"], _clusterer_labels(data.facts)), out, "clusterer_pairs")


@output(
    "taxonomy_levels",
    "figure",
    "AMI x 100 of the same predicted clusters against each level of the label hierarchy (coarse to fine), averaged over "
    "the clusterers, one line per encoder (colour: method, marker: architecture, dashed: fine-tuned), one panel per "
    "dataset with a hierarchy.",
    "iNaturalist or BIOSCAN-1M (a label hierarchy; FGVC-Aircraft too)",
    _needs_taxonomy,
    reads=("labels",),
    results=("labels",),
    pipelines=True,
)
def taxonomy_levels(data: Data, out: Path):
    from .. import plots, study

    levels = study.label_levels(data.labels, data.facts)
    hierarchical = [d for d, f in data.facts["datasets"].items() if len(f["levels"]) > 1]
    levels = levels[
        levels["dataset"].isin(hierarchical)
        & levels["level"].isin({lv for d in hierarchical for lv in data.facts["datasets"][d]["levels"]})
    ]
    titles = {d: _dataset_name(data.facts, d) for d in data.facts["datasets"]}
    save(plots.taxonomy_levels(levels, data.facts["encoders"], titles), out, "taxonomy_levels")


@output(
    "reducer_effect",
    "figure",
    "AMI x 100 of each encoder (rows) on each reducer of the grid (markers), the mean over datasets, one panel per "
    "clusterer (the reducer_ami table); a hollow marker is a mean over fewer datasets than its row.",
    "a grid of two or more reducers (no protocol)",
    _needs_reducers,
)
def reducer_effect(data: Data, out: Path):
    from .. import plots, study

    table = study.reducer_table(data.runs, data.facts)
    reducers = {r: f["label"] for r, f in data.facts["reducers"].items()}
    fig = plots.reducer_ami(table, data.facts["encoders"], _clusterer_labels(data.facts), reducers)
    save(fig, out, "reducer_effect")


@output(
    "reducer_dimensions",
    "figure",
    "AMI x 100 against the number of reduced dimensions, one line per kind of reducer (PCA, UMAP, ...), one panel per "
    "clusterer: the mean over encoders of each encoder's mean over datasets, error bars ± 1 std (ddof 1) over encoders; "
    "a hollow marker where some encoder's mean leaves datasets out (the reducer_ami table has every number).",
    "reducers of one kind at two or more dimensions (no protocol)",
    _needs_dimension_sweep,
)
def reducer_dimensions(data: Data, out: Path):
    from .. import plots, study

    table = study.reducer_table(data.runs, data.facts)
    save(plots.reducer_dims(table, data.facts["reducers"], _clusterer_labels(data.facts)), out, "reducer_dimensions")


@output(
    "example_images",
    "figure",
    "Example images of predicted clusters, each with its true label: the largest clusters (rows) of one run, a few "
    "images each, picked evenly through each cluster; by default each dataset's run of best AMI (first seed), else the "
    "runs outputs.example_images names.",
    "runs (reads the images and the clusterings)",
    files=("clusters",),
)
def example_images(data: Data, out: Path):
    from .. import plots
    from ..datasets import open_split
    from ..tables import not_run, read

    for choice, clusters_path in _example_runs(data):
        title = _run_title(data.facts, choice)
        name = f"examples_{choice['dataset']}_{choice['encoder']}_{choice['clusterer']}"
        status = not_run(clusters_path)
        if status:  # a failed or skipped run has no clusters to show: the figure says so
            save(plots.message_figure(f"{title}: no clusters", [f"this run {status[0]}: {status[1]}"]), out, name)
            continue
        clusters, _ = read(clusters_path)
        source = data.facts["sources"][choice["dataset"]]
        images = open_split(source["spec"], Path(source["root"]), download=False)
        grid = _example_grid(
            clusters["label_pred"], clusters["index"], images, data.facts["clusters_shown"], data.facts["images_per_cluster"]
        )
        save(plots.example_images(grid, title), out, name)


def _example_runs(data: Data) -> list[tuple[dict, str]]:
    """(run, its clusters file) of each example figure: the runs outputs.example_images names, else per
    dataset the candidate run of best AMI in the runs table (ties: grid order; a dataset without AMI,
    unlabelled: its first run)."""
    import numpy as np

    from .. import study

    candidates = list(zip(data.facts["examples"], data.files["clusters"]))
    if any(run.get("given") for run, _ in candidates):
        return candidates
    keys = ["dataset", "encoder", "reducer", "clusterer", "seed"]
    ami = data.runs.assign(AMI=study.ran(data.runs, "AMI")).set_index(keys)["AMI"]
    best: dict[str, tuple[float, dict, str]] = {}
    for run, path in candidates:
        value = ami.get(tuple(run[k] for k in keys), np.nan)
        value = float(value) if np.isfinite(value) else -np.inf
        if run["dataset"] not in best or value > best[run["dataset"]][0]:
            best[run["dataset"]] = (value, run | {"AMI": value}, path)
    return [(run, path) for _, run, path in best.values()]


def _run_title(facts_, run: dict) -> str:
    from .. import study

    ami = run.get("AMI")
    score = f" (AMI \u00d7 100 = {100 * ami:.0f})" if ami is not None and ami > -1 else ""
    return (
        f"{_dataset_name(facts_, run['dataset'])}: {_encoder_names(facts_, [run['encoder']])}, "
        f"{display_reducer(facts_, run['reducer'])}, {display_clusterer(facts_, run['clusterer'])}{score}"
    )


def _example_grid(labels, indices, images, n_clusters: int, per_cluster: int):
    """The `n_clusters` largest clusters (noise last), `per_cluster` members each spread evenly
    through the cluster: [(title, [HxWx3 uint8], [true label of each])]."""
    import numpy as np

    values, counts = np.unique(labels, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (values[i] == -1, -counts[i], values[i]))[:n_clusters]
    grid = []
    for i in order:
        members = indices[labels == values[i]]
        picks = members[np.linspace(0, len(members) - 1, min(per_cluster, len(members))).round().astype(int)]
        title = f"{'noise' if values[i] == -1 else f'cluster {values[i]}'} (n = {counts[i]})"
        truth = [_class_name(images, int(images.labels[p])) for p in picks]
        grid.append((title, [np.asarray(images.image(int(p)).convert("RGB")) for p in picks], truth))
    return grid


def _class_name(images, label: int) -> str:
    """A sample's true class as its dataset names it ("unlabelled" for a flat image folder's)."""
    return str(images.classes[label]) if 0 <= label < len(images.classes) else "unlabelled"


@output(
    "pca_variance",
    "figure",
    "Cumulative variance (%) explained by the principal components of the z-scored embeddings (the study's zPCA), per "
    "encoder, one panel per dataset, against the number of components (pca_variance) and against the components as a "
    "fraction of the embedding's width (pca_variance_relative); dashed lines at 80, 90 and 95%. At most 10,000 points "
    "per embeddings (seeded); more than 16 datasets take several figures (_2, ...).",
    "runs (reads the embeddings)",
    files=("embeddings",),
    results=(),  # the embeddings, whether or not their runs ran
)
def pca_variance(data: Data, out: Path):
    import pandas as pd

    from .. import plots
    from ..tables import read_vectors

    curves = []
    for (dataset, _, encoder), path in zip(data.facts["pairs"], data.files["embeddings"]):
        X = read_vectors(path)
        ratio = explained_variance(X, seed=data.facts["seed"])
        curves.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "encoder": encoder,
                    "n_components": range(1, len(ratio) + 1),
                    "cumulative_variance": 100 * ratio.cumsum(),
                    "width": X.shape[1],
                }
            )
        )
    frame = pd.concat(curves, ignore_index=True)
    titles = {d: _dataset_name(data.facts, d) for d in data.facts["datasets"]}
    datasets = list(dict.fromkeys(frame["dataset"]))
    for k, page in enumerate(plots.pages(datasets, plots.PCA_PANELS_PER_PAGE)):
        part = frame[frame["dataset"].isin(page)]
        suffix = f"_{k + 1}" if k else ""
        save(plots.pca_variance(part, data.facts["encoders"], titles), out, f"pca_variance{suffix}")
        save(plots.pca_variance(part, data.facts["encoders"], titles, relative=True), out, f"pca_variance_relative{suffix}")


def explained_variance(X, seed: int, max_samples: int = 10_000):
    """Explained-variance ratios of PCA on the z-scored X (zero-variance dimensions dropped), from
    the eigenvalues of the correlation matrix: O(N d^2), no N x N matrix."""
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    if len(X) > max_samples:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_samples, replace=False))]
    std = X.std(axis=0)
    Z = (X[:, std > 0] - X[:, std > 0].mean(axis=0)) / std[std > 0]
    eig = np.clip(np.linalg.eigvalsh(Z.T @ Z / len(Z))[::-1], 0, None)
    return eig[: min(len(Z), Z.shape[1])] / eig.sum()


@output(
    "embedding_maps",
    "figure",
    "A 2-D UMAP (n_neighbors 30, min_dist 0.1) of each (dataset, encoder)'s embeddings, one figure per dataset with a "
    "panel per encoder, points coloured by true class (the same colour in every panel), the class names in the legend "
    "(up to 20 classes).",
    "outputs.embedding_maps (on by default)",
    _needs_maps,
    files=("maps", "embeddings"),
    results=(),
)
def embedding_maps(data: Data, out: Path):
    import pandas as pd

    from .. import plots
    from ..tables import read

    by_dataset: dict[str, list] = {}
    for (dataset, _, encoder), path, embeddings in zip(data.facts["pairs"], data.files["maps"], data.files["embeddings"]):
        xy = read(path, columns=["embedding"])[0]["embedding"]
        columns, meta = read(embeddings, columns=["label"])  # the reduction keeps the embeddings' order
        points = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": columns["label"]})
        by_dataset.setdefault(dataset, []).append((_encoder_names(data.facts, [encoder]), points, meta.get("classes")))
    for dataset, panels in by_dataset.items():
        fig = plots.embedding_maps([(t, p) for t, p, _ in panels], panels[0][2], _dataset_name(data.facts, dataset))
        save(fig, out, f"map_{dataset}")
