"""The study's tables and statistics (zsc.study): hand-computed cases and the study-sized synthetic table."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from synthetic import CLUSTERER_ORDER, SKIPPED_ONE, study_runs

from zsc import study
from zsc.vocabulary import STUDY_GROUPS

# ---------------------------------------------------------------------------------------------------------
# A tiny hand-made table: 2 encoders x 2 datasets x 3 clusterers, one cell skipped for one encoder.

TINY_FACTS = {
    "datasets": {
        "d1": {"group": "In-domain", "n_classes": 3, "description": "first", "label": "D1", "levels": ["label"]},
        "d2": {"group": "Far-OOD", "n_classes": None, "description": "second", "label": "D2", "levels": ["label"]},
    },
    "groups": list(STUDY_GROUPS),
    "encoders": {
        "sup": {"label": "X-Ent.", "architecture": "ResNet-50", "training": "supervised"},
        "ft": {"label": "DINO", "architecture": "ResNet-50", "training": "fine-tuned"},
    },
    "clusterers": ["c1", "c2", "c3"],
    "chooses_k": ["c3"],
    "protocol": None,
}

# (encoder, dataset, clusterer): AMI of each seed. (sup, d1, c1) has three seeds: median 0.4.
TINY_AMI = {
    ("sup", "d1", "c1"): [0.2, 0.9, 0.4],
    ("sup", "d1", "c2"): [0.5],
    ("sup", "d1", "c3"): [0.6],
    ("sup", "d2", "c1"): [0.3],
    ("sup", "d2", "c2"): [0.1],
    ("sup", "d2", "c3"): [0.8],
    ("ft", "d1", "c1"): [0.7],
    ("ft", "d1", "c2"): [0.6],
    ("ft", "d1", "c3"): [0.2],
    ("ft", "d2", "c1"): [0.5],
    ("ft", "d2", "c2"): [0.3],
    ("ft", "d2", "c3"): [0.99],  # skipped: its AMI must not count, whatever the column holds
}
SKIP = "memory guard: too big"


def tiny_runs() -> pd.DataFrame:
    rows = []
    for (encoder, dataset, clusterer), amis in TINY_AMI.items():
        for seed, ami in enumerate(amis):
            skipped = SKIP if (encoder, dataset, clusterer) == ("ft", "d2", "c3") else ""
            rows.append(
                {"dataset": dataset, "group": TINY_FACTS["datasets"][dataset]["group"], "split": "test", "encoder": encoder}
                | {"reducer": "umap50", "clusterer": clusterer, "seed": seed, "skipped": skipped, "AMI": ami}
                | {"n_clusters_true": 3.0, "n_clusters_pred": 3.0 + seed, "n_samples": 100.0}
            )
    return pd.DataFrame(rows)


def test_cell_ami_is_the_median_over_seeds_with_skipped_runs_missing():
    cells = study.cell_ami(tiny_runs(), ["c1", "c3"]).set_index(["encoder", "dataset", "clusterer"])["AMI"]
    assert len(cells) == 8  # 2 encoders x 2 datasets x 2 clusterers
    assert cells[("sup", "d1", "c1")] == pytest.approx(0.4)
    assert np.isnan(cells[("ft", "d2", "c3")])


def test_clusterer_average_by_hand():
    avg, drops = study.clusterer_average(tiny_runs(), TINY_FACTS)
    # d1: all three clusterers; d2: c3 is skipped for ft, so dropped for both encoders.
    expected = pd.DataFrame(
        {"d1": [(0.4 + 0.5 + 0.6) / 3 * 100, (0.7 + 0.6 + 0.2) / 3 * 100], "d2": [(0.3 + 0.1) / 2 * 100, (0.5 + 0.3) / 2 * 100]},
        index=["sup", "ft"],
    )
    pd.testing.assert_frame_equal(avg, expected, check_names=False)
    assert drops.to_dict("records") == [
        {"dataset": "d2", "clusterer": "c3", "reducer": "umap50", "encoders": "ft", "reason": SKIP}
    ]


def test_a_cell_never_run_is_dropped_as_no_run():
    runs = tiny_runs()
    runs = runs[~((runs["encoder"] == "sup") & (runs["dataset"] == "d1") & (runs["clusterer"] == "c2"))]
    avg, drops = study.clusterer_average(runs, TINY_FACTS)
    assert avg.loc["sup", "d1"] == pytest.approx((0.4 + 0.6) / 2 * 100)
    assert avg.loc["ft", "d1"] == pytest.approx((0.7 + 0.2) / 2 * 100)
    assert drops[["dataset", "clusterer", "encoders", "reason"]].values.tolist() == [
        ["d1", "c2", "sup", "no run"],
        ["d2", "c3", "ft", SKIP],
    ]


def test_main_table_by_hand():
    avg, _ = study.clusterer_average(tiny_runs(), TINY_FACTS)
    table = study.main_table(avg, TINY_FACTS)
    assert list(table.index) == [("ResNet-50", "X-Ent."), ("ResNet-50", "DINO [FT]")]
    assert list(table.columns) == [
        ("In-domain", "D1"),
        ("In-domain", "mean"),
        ("Far-OOD", "D2"),
        ("Far-OOD", "mean"),
        ("All", "mean"),
    ]
    np.testing.assert_allclose(table.to_numpy(), [[50, 50, 20, 20, 35], [50, 50, 40, 40, 45]])


def test_per_clusterer_and_n_clusters_tables_by_hand():
    runs = tiny_runs()
    table = study.per_clusterer_table(runs, TINY_FACTS, "c3")
    np.testing.assert_allclose(table.to_numpy(), [[60, 60, 80, 80, 70], [20, 20, np.nan, np.nan, 20]])
    pred, true = study.n_clusters_table(runs, TINY_FACTS, "c1")
    assert pred.loc[("ResNet-50", "X-Ent."), "D1"] == 4.0  # seeds give 3, 4, 5 clusters
    assert true.to_dict() == {"D1": 3.0, "D2": 3.0}
    assert study.log_ratio(pred, true).loc[("ResNet-50", "X-Ent."), "D1"] == pytest.approx(np.log10(4 / 3))


def test_a_grid_of_reducers_averages_over_pipelines_and_a_protocol_selects_one():
    runs = tiny_runs()
    grid = pd.concat([runs, runs.assign(reducer="zpca90", AMI=runs["AMI"] / 2)], ignore_index=True)
    # No protocol: (reducer, clusterer) pipelines; zpca90 scores half of umap50, so the average is 3/4 of it.
    avg, drops = study.clusterer_average(grid, TINY_FACTS)
    assert avg.loc["sup", "d1"] == pytest.approx(0.75 * 50) and avg.loc["ft", "d2"] == pytest.approx(0.75 * 40)
    assert drops[["clusterer", "reducer", "encoders"]].values.tolist() == [["c3", "umap50", "ft"], ["c3", "zpca90", "ft"]]
    cells = study.cell_ami(grid, ["c1"]).set_index(["encoder", "dataset"])["AMI"]
    assert cells[("sup", "d1")] == pytest.approx((0.4 + 0.2) / 2)  # the mean over reducers of the medians
    assert study.clusterer_average(study.select_runs(grid, TINY_FACTS, "umap50"), TINY_FACTS)[0].loc[
        "sup", "d1"
    ] == pytest.approx(50)
    # A protocol: sup on umap50, ft on zpca90; its other runs are ignored.
    protocol = {"sup": {c: {"reducer": "umap50", "options": {}} for c in ("c1", "c2", "c3")}}
    protocol["ft"] = {c: {"reducer": "zpca90", "options": {}} for c in ("c1", "c2", "c3")}
    avg, drops = study.clusterer_average(grid, TINY_FACTS | {"protocol": protocol})
    np.testing.assert_allclose(avg.to_numpy(), [[50, 20], [25, 20]])
    assert drops[["clusterer", "reducer", "encoders", "reason"]].values.tolist() == [["c3", "", "ft", SKIP]]


def test_several_splits_in_one_cell_raise():
    runs = tiny_runs()
    with pytest.raises(ValueError, match="several splits"):
        study.cell_ami(pd.concat([runs, runs.assign(split="val")]), ["c1"])


def test_encoder_ranks_by_hand():
    facts = TINY_FACTS | {
        "datasets": {
            d: {"group": "Near-OOD", "label": d.upper(), "n_classes": 2, "description": "", "levels": ["label"]}
            for d in ("x", "y", "z")
        },
        "encoders": TINY_FACTS["encoders"]
        | {"ssl": {"label": "MoCo", "architecture": "ResNet-50", "training": "self-supervised"}},
    }
    avg = pd.DataFrame({"x": [50, 60, 10], "y": [40, 40, 40], "z": [30, 20, 30]}, index=["sup", "ft", "ssl"], dtype=float)
    ranks = study.encoder_ranks(avg, facts).set_index(["group", "encoder"])
    # x: ft 1, sup 2, ssl 3; y: a three-way tie, 2 each; z: sup and ssl tie for 1.5, ft 3.
    assert ranks.loc[("Near-OOD", "sup"), "mean_rank"] == pytest.approx((2 + 2 + 1.5) / 3)
    assert ranks.loc[("Near-OOD", "ft"), "mean_rank"] == pytest.approx((1 + 2 + 3) / 3)
    assert ranks.loc[("Near-OOD", "ssl"), "mean_rank"] == pytest.approx((3 + 2 + 1.5) / 3)
    assert ranks.loc[("Near-OOD", "ft"), "std_rank"] == pytest.approx(1.0)
    assert ranks.loc[("All", "ssl"), "n"] == 3
    assert np.isnan(ranks.loc[("Near-OOD", "sup"), "wilcoxon_p"])  # the reference itself
    assert ranks.loc[("Near-OOD", "ft"), "wilcoxon_p"] == scipy.stats.wilcoxon([60, 40, 20], [50, 40, 30]).pvalue
    delta = study.delta_vs_supervised(avg, facts).set_index(["group", "encoder"])
    assert delta.loc[("Near-OOD", "ssl"), ["mean", "n"]].tolist() == [pytest.approx(-40 / 3), 3]  # differences -40, 0, 0
    assert delta.loc[("Near-OOD", "ssl"), "t"] == pytest.approx(scipy.stats.ttest_rel([10, 40, 30], [50, 40, 30]).statistic)


def test_clusterer_ranks_by_hand():
    facts = TINY_FACTS | {
        "encoders": TINY_FACTS["encoders"] | {"rand": {"label": "Rand.", "architecture": "ResNet-50", "training": "random"}},
    }
    runs = tiny_runs()
    runs = pd.concat([runs, runs[runs["encoder"] == "sup"].assign(encoder="rand", AMI=0.0)])
    # Only sup is ranked (ft is fine-tuned, rand random), on d1 (c3 of d2 is skipped for ft only: sup keeps d2).
    # d1: c1 0.4, c2 0.5, c3 0.6 -> ranks 3, 2, 1; d2: c1 0.3, c2 0.1, c3 0.8 -> 2, 3, 1.
    summary, pairs = study.clusterer_ranks(runs, facts)
    assert summary["clusterer"].tolist() == ["c1", "c2", "c3"]
    np.testing.assert_allclose(summary["mean_rank"], [2.5, 2.5, 1.0])
    np.testing.assert_allclose(summary["std_rank"], [np.std([3, 2], ddof=1), np.std([2, 3], ddof=1), 0.0])
    assert summary["n"].tolist() == [2, 2, 2]
    assert pairs[["a", "b"]].values.tolist() == [["c1", "c2"], ["c1", "c3"], ["c2", "c3"]]
    assert pairs["p"].tolist() == [scipy.stats.wilcoxon([0.4, 0.3], [0.5, 0.1], method="exact").pvalue] + [
        scipy.stats.wilcoxon(x, [0.6, 0.8], method="exact").pvalue for x in ([0.4, 0.3], [0.5, 0.1])
    ]
    assert set(pairs["method"]) == {"exact"}


def test_wilcoxon_falls_back_to_auto_on_ties():
    amis = pd.DataFrame({"a": [0.5, 0.6, 0.7, 0.8], "b": [0.4, 0.5, 0.7, 0.6]})  # differences 0.1, 0.1, 0, 0.2
    row = study._wilcoxon_pair(amis, "a", "b")
    assert row["method"] == "auto"
    assert row["p"] == scipy.stats.wilcoxon(amis["a"], amis["b"], method="auto").pvalue


def test_datasets_of_other_groups_are_shown_after_the_study_groups():
    d2 = TINY_FACTS["datasets"]["d2"] | {"group": "Other"}
    facts = TINY_FACTS | {"groups": [*STUDY_GROUPS, "Other"], "datasets": TINY_FACTS["datasets"] | {"d2": d2}}
    avg, _ = study.clusterer_average(tiny_runs(), facts)
    table = study.main_table(avg, facts)
    assert list(table.columns) == [
        ("In-domain", "D1"),
        ("In-domain", "mean"),
        ("Other", "D2"),
        ("Other", "mean"),
        ("All", "mean"),
    ]


# ---------------------------------------------------------------------------------------------------------
# The study-sized synthetic table


@pytest.fixture(scope="module")
def synthetic():
    runs, labels, facts = study_runs()
    avg, drops = study.clusterer_average(runs, facts)
    return runs, labels, facts, avg, drops


def test_synthetic_is_deterministic(synthetic):
    runs, labels, _ = study_runs()
    pd.testing.assert_frame_equal(runs, synthetic[0])
    pd.testing.assert_frame_equal(labels, synthetic[1])


def test_synthetic_drops_are_the_skipped_cells(synthetic):
    runs, _, facts, avg, drops = synthetic
    every = ",".join(facts["encoders"])
    assert drops[["dataset", "clusterer", "encoders"]].values.tolist() == [
        ["imagenet", "affinity_propagation", every],
        ["inaturalist", "affinity_propagation", every],
        [SKIPPED_ONE[0], SKIPPED_ONE[1], SKIPPED_ONE[2]],
    ]
    assert drops["reason"].str.startswith("memory guard: ").all()
    # places365 is averaged over the 5 other clusterers, for every encoder.
    kept = runs[(runs["dataset"] == "places365") & (runs["encoder"] == "resnet50") & (runs["clusterer"] != "spectral")]
    assert avg.loc["resnet50", "places365"] == pytest.approx(100 * kept["AMI"].mean())


def test_synthetic_table_shapes(synthetic):
    runs, labels, facts, avg, _ = synthetic
    assert avg.shape == (18, 29)
    table = study.main_table(avg, facts)
    assert table.shape == (18, 26 + 5 + 1)
    assert table.columns[-1] == ("All", "mean") and table.columns[5] == ("In-domain", "mean")
    assert ("ResNet-50", "MoCo-v3 [FT]") in table.index and ("raw pixels", "Raw image") in table.index
    assert table[("All", "mean")].to_numpy() == pytest.approx(
        avg.loc[list(facts["encoders"])].iloc[:, :26].mean(axis=1).to_numpy()
    )
    assert study.per_clusterer_table(runs, facts, "hdbscan").shape == (18, 32)
    pred, true = study.n_clusters_table(runs, facts, "affinity_propagation")
    assert pred.shape == (18, 26) and true["Bio"] == 1200 and np.isnan(pred.loc[("ViT-B/16", "DINO"), "IN1k"])
    assert {k: v.shape for k, v in study.silhouette_tables(runs, facts).items()} == {
        "og": (18, 26),
        "umap": (18, 26),
        "umap_true": (18, 26),
    }
    in9 = study.in9_table(avg, facts)
    assert list(in9.columns) == ["OG", "FG", "FG^C", "BG", "MS", "MR", "Gap"]
    assert in9["Gap"].to_numpy() == pytest.approx(
        (avg.loc[list(facts["encoders"]), "in9mixedsame"] - avg.loc[list(facts["encoders"]), "in9mixedrand"]).to_numpy()
    )
    datasets = study.dataset_table(runs, facts)
    assert datasets.shape == (29, 5) and datasets.loc[15, ["dataset", "classes"]].tolist() == ["Bio", 1200]


def test_synthetic_silhouettes_by_hand(synthetic):
    runs, _, facts, _, _ = synthetic
    tables = study.silhouette_tables(runs, facts)
    these = runs[(runs["encoder"] == "vitb16") & (runs["dataset"] == "cifar10")]
    assert tables["og"].loc[("ViT-B/16", "X-Ent."), "C10"] == pytest.approx(100 * these["silhouette_og"].mean())
    assert tables["umap_true"].loc[("ViT-B/16", "X-Ent."), "C10"] == pytest.approx(100 * these["silhouette_umap_true"].median())


def test_hyperparameter_table(synthetic):
    facts = synthetic[2]
    table = study.hyperparameter_table(facts)
    assert table.shape == (18, 6)
    raw, xent = table.loc[("raw pixels", "Raw image")], table.loc[("ResNet-50", "X-Ent.")]
    assert raw["ac_with_c"] == "zpca200d; cosine/average" and raw["affinity_propagation"] == "zpca80; damping 0.85"
    assert xent["kmeans"] == "umap50" and xent["ac_without_c"] == "umap50; t=2; euclidean/ward"
    assert table.loc[("ResNet-50", "Rand."), "hdbscan"] == "umap50; l1"
    assert study.hyperparameter_table(facts | {"protocol": None}).empty


def test_label_levels(synthetic):
    _, labels, facts, _, _ = synthetic
    levels = study.label_levels(labels, facts)
    inat = levels[levels["dataset"] == "inaturalist"]
    assert inat["level"].unique().tolist() == facts["datasets"]["inaturalist"]["levels"]
    assert inat["level_index"].unique().tolist() == list(range(7))
    these = labels[(labels["dataset"] == "inaturalist") & (labels["encoder"] == "resnet50") & (labels["level"] == "label_family")]
    assert set(these["clusterer"]) == set(facts["clusterers"]) - {"affinity_propagation"}  # 5 clusterers
    got = inat[(inat["encoder"] == "resnet50") & (inat["level"] == "label_family")]["AMI"].item()
    assert got == pytest.approx(100 * these["AMI"].mean())
    celeba = levels[levels["dataset"] == "celeba"].drop_duplicates("level")
    assert celeba[["level", "level_index"]].values.tolist() == [
        ["label", 0],
        ["attr_Eyeglasses", 1],
        ["attr_Male", 2],
        ["attr_Smiling", 3],
    ]


def test_delta_is_scipy_ttest_rel_and_recovers_dino_on_far_ood(synthetic):
    _, _, facts, avg, _ = synthetic
    delta = study.delta_vs_supervised(avg, facts)
    assert set(delta["architecture"]) == {"ResNet-50", "ViT-B/16"}  # raw pixels: no supervised reference
    assert len(delta) == (7 + 8) * 6  # non-reference encoders x (5 groups + All)
    far = [d for d, info in facts["datasets"].items() if info["group"] == "Far-OOD"]
    for dino, ref in (("dino_resnet50", "resnet50"), ("dino_vitb16", "vitb16")):
        row = delta[(delta["encoder"] == dino) & (delta["group"] == "Far-OOD")].iloc[0]
        x, y = avg.loc[dino, far].to_numpy(), avg.loc[ref, far].to_numpy()
        expected = scipy.stats.ttest_rel(x, y)
        assert (row["t"], row["p"]) == (expected.statistic, expected.pvalue)
        assert (
            row["n"] == 8 and row["mean"] == pytest.approx(np.mean(x - y)) and row["std"] == pytest.approx(np.std(x - y, ddof=1))
        )
        assert row["mean"] > 0 and row["p"] < 0.05  # planted: +5 p.p.
    rand = delta[(delta["encoder"] == "random_vitb16") & (delta["group"] == "All")].iloc[0]
    assert rand["n"] == 26 and rand["mean"] < -20


def test_encoder_rank_wilcoxon_is_scipy(synthetic):
    _, _, facts, avg, _ = synthetic
    ranks = study.encoder_ranks(avg, facts)
    near = [d for d, info in facts["datasets"].items() if info["group"] == "Near-OOD"]
    row = ranks[(ranks["encoder"] == "mocov3_vit_base") & (ranks["group"] == "Near-OOD")].iloc[0]
    assert row["wilcoxon_p"] == scipy.stats.wilcoxon(avg.loc["mocov3_vit_base", near], avg.loc["vitb16", near]).pvalue
    rand = ranks[(ranks["encoder"] == "random_resnet50") & (ranks["group"] == "All")].iloc[0]
    assert (rand["mean_rank"], rand["n"]) == (8.0, 26)  # last of the 8 ResNet-50 encoders everywhere


def test_clusterer_ranks_recover_the_planted_order(synthetic):
    runs, _, facts, _, _ = synthetic
    summary, pairs = study.clusterer_ranks(runs, facts)
    # 9 supervised/self-supervised encoders x 26 datasets, less the pairs missing a clusterer.
    assert summary["n"].unique().tolist() == [9 * 26 - 2 * 9 - 1]
    assert summary.sort_values("mean_rank")["clusterer"].tolist() == CLUSTERER_ORDER
    np.testing.assert_allclose(summary.set_index("clusterer").loc[CLUSTERER_ORDER, "mean_rank"], [1, 2, 3, 4, 5, 6])
    assert len(pairs) == 15
    amis = study.clusterer_amis(runs, facts)
    row = pairs[(pairs["a"] == "ac_without_c") & (pairs["b"] == "affinity_propagation")].iloc[0]
    assert row["p"] == scipy.stats.wilcoxon(amis["ac_without_c"], amis["affinity_propagation"], method="exact").pvalue
    assert row["method"] == "exact"
