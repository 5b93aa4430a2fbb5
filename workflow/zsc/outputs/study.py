"""The study's tables and figures (Lowe et al. 2024), as entries of the output registry
(zsc.outputs): each renders from the result tables with zsc.study's numbers, zsc.table_formats'
tables and zsc.plots' figures. docs/outputs.md explains how every number is computed."""

from __future__ import annotations

from pathlib import Path

from .registry import Data, labels_of, needs_runs, output, save, write

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


def not_run_notes(runs) -> list[str]:
    from ..aggregate import not_run_notes  # when rendering: zsc.aggregate imports pandas

    return not_run_notes(runs)


def _drop_notes(drops) -> list[str]:
    return [
        f"dropped for every encoder: {r.clusterer} on "
        f"{r.dataset}{f' ({r.reducer})' if r.reducer else ''} (missing for {r.encoders}: {r.reason})"
        for r in drops.itertuples()
    ]


@output(
    "main_ami",
    "table",
    "AMI x 100 per encoder (rows, by architecture; [FT] fine-tuned) and dataset (columns, by domain group, with each "
    "group's mean), averaged over the clusterers the study's way (6c-avg): the median over duplicate runs, a clusterer x "
    "dataset cell missing for any encoder dropped for all encoders (listed under the table), then the mean over "
    "clusterers. Best per column bold, second underlined; shading from the column's median to its maximum.",
    "runs",
)
def main_ami(data: Data, out: Path):
    from .. import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    notes = _drop_notes(drops) + not_run_notes(data.runs)
    write(study.main_table(avg, data.facts), out, "main_ami", notes=notes)


@output(
    "ami_per_clusterer",
    "table",
    "AMI x 100 per encoder and dataset for each clusterer on its own (median over seeds), one table per clusterer; "
    "best per column bold, second underlined.",
    "runs",
)
def ami_per_clusterer(data: Data, out: Path):
    from .. import study

    for clusterer in data.facts["all_clusterers"]:
        runs = data.runs[data.runs["clusterer"] == clusterer]
        table = study.per_clusterer_table(data.runs, data.facts, clusterer)
        write(table, out, f"ami_{clusterer}", notes=not_run_notes(runs), caption=f"AMI x 100, {clusterer}")


@output(
    "n_clusters",
    "table",
    "Number of clusters predicted (median over seeds) by each clusterer that finds it itself, per encoder and dataset, "
    "with the true number in the last row; cells coloured by log10(predicted / true): orange too many, purple too few.",
    "a clusterer that finds the number of clusters (AC without C, Affinity Propagation, HDBSCAN)",
    _needs_chooses_k,
)
def n_clusters(data: Data, out: Path):
    import pandas as pd

    from .. import study

    for clusterer in data.facts["chooses_k"]:
        pred, true = study.n_clusters_table(data.runs, data.facts, clusterer)
        ratio = study.log_ratio(pred, true)
        table = pd.concat([pred, true.to_frame("true").T])
        colour = pd.concat([ratio, pd.DataFrame(0.0, index=["true"], columns=ratio.columns)])
        write(table, out, f"n_clusters_{clusterer}", best=None, colour=colour, caption=f"Clusters predicted vs true, {clusterer}")


@output(
    "hyperparameters",
    "table",
    "The protocol's pipeline per encoder (rows) and clusterer (columns): the reducer, then the clusterer's settings.",
    "a protocol (params file)",
    _needs_protocol,
)
def hyperparameters(data: Data, out: Path):
    from .. import study

    write(study.hyperparameter_table(data.facts), out, "hyperparameters", best=None, shade=False)


@output(
    "silhouettes",
    "table",
    "Silhouette x 100 (Euclidean) of the predicted labels in the original embedding space (og) and in the shared UMAP-50 "
    "space (umap), averaged over the clusterers, and of the true labels in the UMAP-50 space (umap_true).",
    "metrics.umap_silhouette (on by default)",
    _needs_umap_space,
)
def silhouettes(data: Data, out: Path):
    from .. import study

    for space, table in study.silhouette_tables(data.runs, data.facts).items():
        write(table, out, f"silhouette_{space}", caption=f"Silhouette x 100, {space}")


@output(
    "in9_backgrounds",
    "table",
    "ImageNet-9 Backgrounds Challenge: clusterer-averaged AMI x 100 on each variant present (OG original, FG only "
    "foreground, FG^C no foreground, BG only background, MS mixed-same, MR mixed-rand) and Gap = MS - MR.",
    "two or more ImageNet-9 variants",
    _needs_in9,
)
def in9_backgrounds(data: Data, out: Path):
    from .. import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    write(study.in9_table(avg, data.facts), out, "in9_backgrounds", notes=_drop_notes(drops))


@output(
    "label_levels",
    "table",
    "AMI x 100 of the same predicted clusters against every label level the embeddings carry (taxonomy levels, "
    "attributes, ...), averaged over the clusterers; one table per dataset with extra labels.",
    "a dataset with extra label levels (iNaturalist, BIOSCAN-1M, CelebA, UTKFace, ImageNet-R, Aircraft, BreakHis)",
    _needs_levels,
    reads=("labels",),
)
def label_levels(data: Data, out: Path):
    from .. import study

    levels = study.label_levels(data.labels, data.facts)
    order = list(data.facts["encoders"])
    for dataset, rows in levels.groupby("dataset", sort=False):
        table = rows.pivot_table(index="encoder", columns=["level_index", "level"], values="AMI", sort=True)
        table.columns = [level for _, level in table.columns]
        table = table.loc[[e for e in order if e in table.index]]
        table.index = study.encoder_index(data.facts, table.index)
        write(table, out, f"label_levels_{dataset}", caption=f"AMI x 100 against each label level, {dataset}")


@output("datasets", "table", "The datasets clustered: domain group, classes, samples clustered and source.", "runs")
def datasets(data: Data, out: Path):
    from .. import study

    write(study.dataset_table(data.runs, data.facts), out, "datasets", best=None, shade=False)


@output(
    "delta_vs_supervised",
    "table",
    "Per architecture and domain group: each encoder's clusterer-averaged AMI minus the supervised (X-Ent.) encoder's "
    "of the same architecture, in percentage points over the group's datasets: mean, std, n, and a paired t-test "
    "(scipy.stats.ttest_rel; t and p).",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def delta_vs_supervised(data: Data, out: Path):
    from .. import study

    avg, drops = study.clusterer_average(data.runs, data.facts)
    table = study.delta_vs_supervised(avg, data.facts)
    write(table, out, "delta_vs_supervised", best=None, shade=False, digits=3, notes=_drop_notes(drops))


@output(
    "encoder_ranks",
    "table",
    "Encoder ranks by domain group within each architecture (1 = best clusterer-averaged AMI on a dataset): mean and std "
    "over the group's datasets, n, and the Wilcoxon signed-rank p-value against the supervised encoder.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def encoder_ranks(data: Data, out: Path):
    from .. import study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    write(study.encoder_ranks(avg, data.facts), out, "encoder_ranks", best=None, shade=False, digits=3)


@output(
    "clusterer_ranks",
    "table",
    "Clusterers ranked per (encoder, dataset) pair by AMI (1 = best; supervised and self-supervised encoders, as in "
    "the study): mean and std rank with n, and exact Wilcoxon signed-rank tests between every pair of clusterers.",
    "two clusterers and a supervised or self-supervised encoder",
    _needs_ranked_pairs,
)
def clusterer_ranks(data: Data, out: Path):
    from .. import study

    summary, pairs = study.clusterer_ranks(data.runs, data.facts)
    write(summary, out, "clusterer_ranks", best=None, shade=False, digits=3, caption="Clusterer ranks")
    write(
        pairs,
        out,
        "clusterer_pairs_wilcoxon",
        best=None,
        shade=False,
        digits=4,
        caption="Wilcoxon signed-rank tests between clusterers",
    )


# Figures


@output(
    "ami_heatmap",
    "figure",
    "The main table as a heat map: clusterer-averaged AMI (%) per encoder (rows, by architecture) and dataset (columns).",
    "runs",
)
def ami_heatmap(data: Data, out: Path):
    from .. import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    save(plots.ami_heatmap(study.main_table(avg, data.facts)), out, "ami_heatmap")


@output(
    "ami_heatmap_per_clusterer",
    "figure",
    "AMI (%) per encoder (rows) and dataset (columns) for each clusterer on its own, one heat map per clusterer.",
    "runs",
)
def ami_heatmap_per_clusterer(data: Data, out: Path):
    from .. import plots, study

    for clusterer in data.facts["all_clusterers"]:
        table = study.per_clusterer_table(data.runs, data.facts, clusterer)
        save(plots.ami_heatmap(table, title=clusterer), out, f"ami_heatmap_{clusterer}")


def _delta_figure(data: Data, out: Path, name: str, keep):
    from .. import plots, study

    avg, _ = study.clusterer_average(data.runs, data.facts)
    delta = study.delta_vs_supervised(avg, data.facts)
    delta = delta[delta["encoder"].map(lambda e: keep(data.facts["encoders"][e]))]
    order = [e for e in data.facts["encoders"] if e in set(delta["encoder"])]
    save(plots.delta_by_domain(delta, data.facts["groups"] + ["All"], order, data.facts["encoders"]), out, name)


@output(
    "delta_by_domain",
    "figure",
    "AMI difference (p.p.) of each encoder to the supervised encoder of its architecture, mean ± std over each domain "
    "group's datasets (rows) per architecture (columns); below zero vermillion, above green; * paired t-test p < 0.05. "
    "Fine-tuned encoders left out.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def delta_by_domain(data: Data, out: Path):
    _delta_figure(data, out, "delta_by_domain", lambda e: e["training"] != "fine-tuned")


@output(
    "delta_by_domain_ft",
    "figure",
    "As delta_by_domain, with the fine-tuned encoders interleaved.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
)
def delta_by_domain_ft(data: Data, out: Path):
    _delta_figure(data, out, "delta_by_domain_ft", lambda e: True)


@output(
    "encoder_rank_by_domain",
    "figure",
    "Mean rank (1 = best) ± std of each encoder within its architecture, per domain group.",
    "a supervised encoder and another encoder of the same architecture",
    _needs_supervised_pair,
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
    "Mean rank ± std of the clusterers over (encoder, dataset) pairs (supervised and self-supervised encoders).",
    "two clusterers and a supervised or self-supervised encoder",
    _needs_ranked_pairs,
)
def clusterer_ranking(data: Data, out: Path):
    from .. import plots, study

    summary, _ = study.clusterer_ranks(data.runs, data.facts)
    save(plots.clusterer_ranking(summary, data.facts["clusterer_labels"]), out, "clusterer_ranking")


@output(
    "silhouette_vs_ami",
    "figure",
    "AMI (%) against the silhouette of the predicted labels, in the original embedding space (top) and the shared "
    "UMAP-50 space (bottom), one panel per clusterer, one point per (encoder, dataset) (random-init encoders left out, "
    "as in the study); Spearman's rho and n in each panel.",
    "a labelled dataset",
    _needs_labels_and_runs,
)
def silhouette_vs_ami(data: Data, out: Path):
    from .. import plots

    runs = data.runs[data.runs["encoder"].map(lambda e: data.facts["encoders"][e]["training"] != "random")]
    runs = runs.reindex(
        columns=[*runs.columns.drop("silhouette_umap", errors="ignore"), "silhouette_umap"]
    )  # NaN without the UMAP space
    points = runs.groupby(["encoder", "dataset", "clusterer"], sort=False)[["AMI", "silhouette_og", "silhouette_umap"]].median()
    points = points.reset_index()
    points["AMI"] *= 100
    figure = plots.silhouette_vs_ami(points, data.facts["all_clusterers"], data.facts["encoders"], data.facts["clusterer_labels"])
    save(figure, out, "silhouette_vs_ami")


@output(
    "clusterer_pairs",
    "figure",
    "AMI (%) of each clusterer against each other on the same (encoder, dataset) pairs; diagonal: AMI histograms.",
    "two clusterers",
    _needs_clusterers(2),
)
def clusterer_pairs(data: Data, out: Path):
    from .. import plots, study

    cells = study.cell_ami(data.runs, data.facts["all_clusterers"])
    save(plots.clusterer_pairs(cells, data.facts["all_clusterers"], data.facts["clusterer_labels"]), out, "clusterer_pairs")


@output(
    "taxonomy_levels",
    "figure",
    "AMI (%) of the same predicted clusters against each level of the label hierarchy (coarse to fine), averaged over "
    "the clusterers, one line per encoder, one panel per dataset with a hierarchy.",
    "iNaturalist or BIOSCAN-1M (a label hierarchy; FGVC-Aircraft too)",
    _needs_taxonomy,
    reads=("labels",),
)
def taxonomy_levels(data: Data, out: Path):
    from .. import plots, study

    levels = study.label_levels(data.labels, data.facts)
    hierarchical = [d for d, f in data.facts["datasets"].items() if len(f["levels"]) > 1]
    levels = levels[
        levels["dataset"].isin(hierarchical)
        & levels["level"].isin({lv for d in hierarchical for lv in data.facts["datasets"][d]["levels"]})
    ]
    save(plots.taxonomy_levels(levels, data.facts["encoders"]), out, "taxonomy_levels")


@output(
    "example_images",
    "figure",
    "Example images of predicted clusters: the largest clusters (rows) of one run, a few images each, picked evenly "
    "through each cluster (outputs.example_images chooses the runs).",
    "runs (reads the images and one clustering)",
    files=("clusters",),
)
def example_images(data: Data, out: Path):
    from .. import plots
    from ..datasets import open_split
    from ..tables import read

    for choice, clusters_path in zip(data.facts["examples"], data.files["clusters"]):
        clusters, _ = read(clusters_path)
        source = data.facts["sources"][choice["dataset"]]
        images = open_split(source["spec"], Path(source["root"]), download=False)
        grid = _example_grid(
            clusters["label_pred"], clusters["index"], images, data.facts["clusters_shown"], data.facts["images_per_cluster"]
        )
        title = f"{choice['dataset']} / {choice['encoder']} / {choice['reducer']} / {choice['clusterer']}"
        save(plots.example_images(grid, title), out, f"examples_{choice['dataset']}_{choice['encoder']}_{choice['clusterer']}")


def _example_grid(labels, indices, images, n_clusters: int, per_cluster: int):
    """The `n_clusters` largest clusters (noise last), `per_cluster` members each spread evenly
    through the cluster: [(title, [HxWx3 uint8])]."""
    import numpy as np

    values, counts = np.unique(labels, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (values[i] == -1, -counts[i], values[i]))[:n_clusters]
    grid = []
    for i in order:
        members = indices[labels == values[i]]
        picks = members[np.linspace(0, len(members) - 1, min(per_cluster, len(members))).round().astype(int)]
        title = f"{'noise' if values[i] == -1 else f'cluster {values[i]}'} (n={counts[i]})"
        grid.append((title, [np.asarray(images.image(int(p)).convert("RGB")) for p in picks]))
    return grid


@output(
    "pca_variance",
    "figure",
    "Cumulative variance (%) explained by the principal components of the z-scored embeddings (the study's zPCA), per "
    "encoder, one panel per dataset; dashed lines at 80, 90 and 95%. At most 10,000 points per embeddings (seeded).",
    "runs (reads the embeddings)",
    files=("embeddings",),
)
def pca_variance(data: Data, out: Path):
    import pandas as pd

    from .. import plots
    from ..tables import read_vectors

    curves = []
    for (dataset, _, encoder), path in zip(data.facts["pairs"], data.files["embeddings"]):
        ratio = explained_variance(read_vectors(path), seed=data.facts["seed"])
        curves.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "encoder": encoder,
                    "n_components": range(1, len(ratio) + 1),
                    "cumulative_variance": 100 * ratio.cumsum(),
                }
            )
        )
    frame = pd.concat(curves, ignore_index=True)
    frame["dataset"] = frame["dataset"].map(labels_of(data.facts, "datasets"))
    save(plots.pca_variance(frame, data.facts["encoders"]), out, "pca_variance")


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
    "A 2-D UMAP (n_neighbors 30, min_dist 0.1) of each (dataset, encoder)'s embeddings, points coloured by true label.",
    "outputs.embedding_maps (on by default)",
    _needs_maps,
    files=("maps", "embeddings"),
)
def embedding_maps(data: Data, out: Path):
    import pandas as pd

    from .. import plots
    from ..tables import read

    for (dataset, _, encoder), path, embeddings in zip(data.facts["pairs"], data.files["maps"], data.files["embeddings"]):
        xy = read(path, columns=["embedding"])[0]["embedding"]
        labels = read(embeddings, columns=["label"])[0]["label"]  # the reduction keeps the embeddings' order
        points = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": labels})
        title = f"{data.facts['datasets'][dataset]['label']} / {data.facts['encoders'][encoder]['label']}"
        save(plots.embedding_map(points, title), out, f"map_{dataset}_{encoder}")
