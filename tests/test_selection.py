"""Choosing an encoder or checkpoint from label-free scores (zsc.selection) on hand-built tables."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from zsc import labelfree, selection, stats

ENCODERS = ["a", "b", "c", "d", "e"]
SIL = [0.10, 0.40, 0.20, 0.50, 0.30]  # silhouette per encoder: picks "d"
AMI = [0.20, 0.70, 0.10, 0.60, 0.40]  # reference: best is "b"; "d" (the pick) is 0.1 behind
KNN = [0.5, 0.5, 0.5, 0.5, 0.5]  # constant: no correlation defined


def tidy_scores(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["dataset", "encoder", "score", "value"])


def tidy_refs(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["dataset", "encoder", "reference", "value"])


def scores_and_refs():
    """Dataset "x": 5 encoders, a silhouette whose top pick is not the AMI-best, and a constant kNN accuracy.
    Dataset "y": only 2 encoders (too few to correlate)."""
    scores = [("x", e, "silhouette_og_kmeans", v) for e, v in zip(ENCODERS, SIL)]
    scores += [("y", "a", "silhouette_og_kmeans", 0.9), ("y", "b", "silhouette_og_kmeans", 0.1)]
    refs = [("x", e, "AMI", v) for e, v in zip(ENCODERS, AMI)] + [("x", e, "knn_top1_k20", v) for e, v in zip(ENCODERS, KNN)]
    refs += [("y", "a", "AMI", 0.3), ("y", "b", "AMI", 0.8)]
    return tidy_scores(scores), tidy_refs(refs)


def row(frame: pd.DataFrame, **where) -> pd.Series:
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


# ---------------------------------------------------------------------------------------------- score table


def test_score_table_averages_seeds_and_skips_nan():
    labelfree = pd.DataFrame(
        [
            ("x", "test", "a", 0, "effective_rank", 10.0),
            ("x", "test", "a", 1, "effective_rank", 14.0),
            ("x", "test", "a", 2, "effective_rank", math.nan),
            ("x", "test", "b", 0, "effective_rank", 3.0),
            ("x", "test", "b", 0, "entropy_knn", math.nan),
        ],
        columns=["dataset", "split", "encoder", "seed", "score", "value"],
    )
    table = selection.score_table(labelfree)
    assert list(table.columns) == ["dataset", "encoder", "score", "value"]
    assert len(table) == 3
    assert row(table, encoder="a", score="effective_rank")["value"] == 12.0
    assert row(table, encoder="b", score="effective_rank")["value"] == 3.0
    assert math.isnan(row(table, encoder="b", score="entropy_knn")["value"])


# ---------------------------------------------------------------------------------------------- correlations


def test_correlations_are_scipys_statistics_with_exact_small_n_p_values_and_count_n():
    scores, refs = scores_and_refs()
    table = selection.correlations(scores, refs)
    assert list(table.columns) == [
        "scope",
        "dataset",
        "score",
        "reference",
        "n",
        "spearman_rho",
        "spearman_p",
        "kendall_tau",
        "kendall_p",
    ]
    got = row(table, scope="dataset", dataset="x", reference="AMI")
    rho, rho_p = scipy.stats.spearmanr(SIL, AMI)
    tau, tau_p = scipy.stats.kendalltau(SIL, AMI)
    assert got["n"] == 5
    assert got["spearman_rho"] == pytest.approx(rho) and got["kendall_tau"] == pytest.approx(tau)
    # n = 5: the p-values are exact (every permutation of the 5 encoders), not scipy's asymptotic ones
    exact_rho, exact_tau = stats.rank_correlation(SIL, AMI, "spearman"), stats.rank_correlation(SIL, AMI, "kendall")
    assert exact_rho["p_method"] == exact_tau["p_method"] == "exact"
    assert got["spearman_p"] == exact_rho["p"] != pytest.approx(rho_p) and got["kendall_p"] == exact_tau["p"]


def test_correlations_are_nan_for_a_constant_side_or_too_few_encoders():
    scores, refs = scores_and_refs()
    table = selection.correlations(scores, refs)
    constant = row(table, scope="dataset", dataset="x", reference="knn_top1_k20")
    few = row(table, scope="dataset", dataset="y", reference="AMI")
    assert constant["n"] == 5 and few["n"] == 2
    for got in (constant, few):
        assert all(math.isnan(got[c]) for c in ("spearman_rho", "spearman_p", "kendall_tau", "kendall_p"))
    # two encoders order any two values perfectly: no rank correlation is reported even with a lower min_n
    two = row(selection.correlations(scores, refs, min_n=2), scope="dataset", dataset="y", reference="AMI")
    assert math.isnan(two["spearman_rho"]) and math.isnan(two["kendall_p"])


def test_correlations_pool_every_dataset_encoder_pair():
    scores, refs = scores_and_refs()
    table = selection.correlations(scores, refs)
    pooled = row(table, scope="pooled", reference="AMI")
    assert pooled["dataset"] == "all" and pooled["n"] == 7
    rho = scipy.stats.spearmanr(SIL + [0.9, 0.1], AMI + [0.3, 0.8]).statistic
    exact = stats.rank_correlation(SIL + [0.9, 0.1], AMI + [0.3, 0.8])  # n = 7: exact
    assert pooled["spearman_rho"] == pytest.approx(rho) and pooled["spearman_p"] == exact["p"]
    assert list(table["scope"]) == ["dataset", "dataset", "dataset", "pooled", "pooled"]


def test_correlations_without_references_are_empty():
    scores, _ = scores_and_refs()
    table = selection.correlations(scores, tidy_refs([]))
    assert table.empty and "spearman_rho" in table.columns


# ---------------------------------------------------------------------------------------------- encoder choice


def test_encoder_choice_regret_when_the_top_pick_is_not_the_best():
    scores, refs = scores_and_refs()
    choice = selection.encoder_choice(scores, refs, reference="AMI")
    assert list(choice.columns) == [
        "dataset",
        "score",
        "rank",
        "encoder",
        "value",
        "reference_value",
        "picked",
        "best_by_reference",
        "regret",
        "spearman_rho",
    ]
    x = choice[choice["dataset"] == "x"]
    assert list(x["encoder"]) == ["d", "b", "e", "c", "a"]  # by silhouette, descending
    assert list(x["rank"]) == [1, 2, 3, 4, 5]
    assert list(x["picked"]) == [True, False, False, False, False]
    assert list(x["best_by_reference"]) == [False, True, False, False, False]
    assert list(x["reference_value"]) == [0.6, 0.7, 0.4, 0.1, 0.2]
    assert x["regret"].tolist() == pytest.approx([0.7 - 0.6] * 5)
    assert x["spearman_rho"].tolist() == pytest.approx([scipy.stats.spearmanr(SIL, AMI)[0]] * 5)
    y = choice[choice["dataset"] == "y"]
    assert list(y["encoder"]) == ["a", "b"] and y["regret"].tolist() == pytest.approx([0.5, 0.5])
    assert y["spearman_rho"].isna().all()  # 2 encoders < min_n

    rec = selection.recommendation(choice)
    columns = ["dataset", "score", "recommended", "runner_up", "regret", "top_pick_is_best", "spearman_rho", "n"]
    assert list(rec.columns) == columns
    assert rec.to_dict("records")[0] | {"regret": 0, "spearman_rho": 0} == {
        "dataset": "x",
        "score": "silhouette_og_kmeans",
        "recommended": "d",
        "runner_up": "b",
        "regret": 0,
        "top_pick_is_best": False,
        "spearman_rho": 0,
        "n": 5,
    }
    assert rec["regret"].iloc[0] == pytest.approx(0.1)
    assert rec["spearman_rho"].iloc[0] == pytest.approx(scipy.stats.spearmanr(SIL, AMI)[0])  # the Spearman the caption promises
    assert math.isnan(rec["spearman_rho"].iloc[1]) and rec["n"].iloc[1] == 2  # dataset y: too few encoders


def test_encoder_choice_zero_regret_when_the_pick_is_best():
    scores = tidy_scores([("x", "a", "s", 2.0), ("x", "b", "s", 1.0)])
    refs = tidy_refs([("x", "a", "AMI", 0.9), ("x", "b", "AMI", 0.2)])
    choice = selection.encoder_choice(scores, refs)
    assert list(choice["best_by_reference"]) == [True, False] and (choice["regret"] == 0).all()
    assert bool(selection.recommendation(choice)["top_pick_is_best"].iloc[0]) is True


def test_encoder_choice_without_references_still_ranks():
    scores, _ = scores_and_refs()
    choice = selection.encoder_choice(scores, tidy_refs([]))
    assert list(choice[choice["dataset"] == "x"]["encoder"]) == ["d", "b", "e", "c", "a"]
    assert choice["picked"].sum() == 2  # one per (dataset, score)
    assert not choice["best_by_reference"].any()
    assert choice[["reference_value", "regret", "spearman_rho"]].isna().all().all()
    rec = selection.recommendation(choice)
    assert list(rec["recommended"]) == ["d", "a"] and list(rec["runner_up"]) == ["b", "b"]
    assert rec["regret"].isna().all() and rec["top_pick_is_best"].isna().all()


def test_encoder_choice_breaks_ties_by_name_and_skips_nan_scores():
    scores = tidy_scores([("x", "c", "s", 1.0), ("x", "a", "s", 1.0), ("x", "b", "s", math.nan), ("x", "d", "s", 0.5)])
    choice = selection.encoder_choice(scores, None)
    assert list(choice["encoder"]) == ["a", "c", "d"]
    rec = selection.recommendation(selection.encoder_choice(tidy_scores([("x", "a", "s", 1.0)]), None))
    assert rec["recommended"].iloc[0] == "a" and rec["runner_up"].iloc[0] is None


def test_a_score_whose_registry_entry_says_lower_is_better_flips_the_order_and_the_sign(monkeypatch):
    scores, refs = scores_and_refs()
    higher = selection.encoder_choice(scores, refs)
    # silhouette_og_kmeans is a score of the registry's silhouette_og entry: declared lower-is-better here
    monkeypatch.setitem(labelfree.SCORES["silhouette_og"].info, "direction", "lower")
    lower = selection.encoder_choice(scores, refs)
    x = lower[lower["dataset"] == "x"]
    assert list(x["encoder"]) == ["a", "c", "e", "b", "d"]  # ascending silhouette
    assert list(x["value"]) == sorted(SIL)  # values are never negated
    assert x["regret"].tolist() == pytest.approx([0.7 - 0.2] * 5)
    assert x["spearman_rho"].iloc[0] == pytest.approx(-higher["spearman_rho"].iloc[0])
    corr = row(selection.correlations(scores, refs), scope="dataset", dataset="x", reference="AMI")
    assert corr["spearman_rho"] == pytest.approx(scipy.stats.spearmanr([-v for v in SIL], AMI)[0])
    assert corr["kendall_tau"] == pytest.approx(-scipy.stats.kendalltau(SIL, AMI)[0])


# ---------------------------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize(
    "label, step", [("ep010", 10.0), ("step_5000", 5000.0), ("ep2", 2.0), ("last", None), ("best", None), ("", None)]
)
def test_checkpoint_step_is_the_trailing_integer(label, step):
    assert selection.checkpoint_step(label) == step


def checkpoint_inputs():
    labels = ["ep100", "ep2", "last", "ep10"]  # deliberately out of order
    series = {f"run@{label}": {"series": "run", "checkpoint": label, "step": None} for label in labels}
    series["other@s1"] = {"series": "other", "checkpoint": "s1", "step": 7}
    values = {"ep2": 1.0, "ep10": 2.0, "ep100": 3.0, "last": 4.0}
    scores = [("x", f"run@{c}", "effective_rank", v) for c, v in values.items()]
    scores += [("x", f"run@{c}", "agreement_ami_mean", -v) for c, v in values.items()]
    scores += [("x", "other@s1", "effective_rank", 9.0), ("x", "not_a_checkpoint", "effective_rank", 5.0)]
    refs = [("x", f"run@{c}", "AMI", v / 10) for c, v in values.items()]
    return tidy_scores(scores), tidy_refs(refs), series


def test_checkpoint_table_orders_by_step_in_natural_order():
    scores, refs, series = checkpoint_inputs()
    table = selection.checkpoint_table(scores, refs, series)
    assert list(table.columns) == [
        "dataset",
        "series",
        "checkpoint",
        "step",
        "encoder",
        "effective_rank",
        "agreement_ami_mean",
        "AMI",
    ]
    assert list(table["checkpoint"]) == ["ep2", "ep10", "ep100", "last", "s1"]  # series in `series` order; no step last
    assert table["step"].tolist()[:3] == [2.0, 10.0, 100.0] and math.isnan(table["step"].iloc[3])
    assert table["step"].iloc[4] == 7.0  # a given step wins over the label
    assert list(table["series"]) == ["run"] * 4 + ["other"]
    assert table["effective_rank"].tolist() == [1.0, 2.0, 3.0, 4.0, 9.0]
    assert math.isnan(table["AMI"].iloc[4])  # no reference for it


def test_checkpoint_correlations_on_a_monotone_series():
    scores, refs, series = checkpoint_inputs()
    table = selection.checkpoint_table(scores, refs, series)
    corr = selection.checkpoint_correlations(table, ["effective_rank", "agreement_ami_mean"], ["AMI"])
    assert list(corr.columns) == [
        "dataset",
        "series",
        "score",
        "reference",
        "n",
        "spearman_rho",
        "spearman_p",
        "kendall_tau",
        "kendall_p",
    ]
    rank = row(corr, series="run", score="effective_rank")
    assert rank["n"] == 4 and rank["spearman_rho"] == pytest.approx(1.0) and rank["kendall_tau"] == pytest.approx(1.0)
    assert row(corr, series="run", score="agreement_ami_mean")["spearman_rho"] == pytest.approx(-1.0)
    other = row(corr, series="other", score="effective_rank")
    assert other["n"] == 0 and math.isnan(other["spearman_rho"])
    # without a dataset column: grouped by series only
    plain = selection.checkpoint_correlations(table.drop(columns="dataset"), ["effective_rank"], ["AMI"])
    assert list(plain.columns)[:2] == ["series", "score"] and list(plain["series"]) == ["run", "other"]


def test_deterministic():
    scores, refs = scores_and_refs()
    first = selection.encoder_choice(scores, refs)
    second = selection.encoder_choice(scores.sample(frac=1, random_state=1), refs.sample(frac=1, random_state=2))
    pd.testing.assert_frame_equal(
        first.sort_values(["dataset", "rank"]).reset_index(drop=True),
        second.sort_values(["dataset", "rank"]).reset_index(drop=True),
    )


# ---------------------------------------------------------------------------------------------- pipelines


def runs_table(rows) -> pd.DataFrame:
    """runs.parquet-like rows: (dataset, encoder, reducer, clusterer, seed, status, AMI, k, silhouette_umap, silhouette_og)."""
    columns = ["dataset", "encoder", "reducer", "clusterer", "seed", "status", "AMI", "n_clusters_pred", "silhouette_umap",
               "silhouette_og"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).assign(split="all")


# dataset "x": the UMAP silhouette picks (a, umap, km), 0.05 AMI behind the best pipeline (b, umap, ac);
# (b, none, hdbscan) found a single cluster (no silhouette), (c, none, km) was skipped.
PIPELINES = runs_table(
    [
        ("x", "a", "umap", "km", 1, "ran", 0.80, 10, 0.70, 0.10),
        ("x", "a", "umap", "km", 2, "ran", 0.70, 10, 0.60, 0.12),  # two seeds: medians 0.75, 0.65
        ("x", "a", "none", "km", 1, "ran", 0.50, 10, 0.30, 0.20),
        ("x", "b", "umap", "ac", 1, "ran", 0.80, 10, 0.55, 0.05),
        ("x", "b", "none", "hdbscan", 1, "ran", 0.00, 1, math.nan, math.nan),
        ("x", "c", "none", "km", 1, "skipped", math.nan, math.nan, math.nan, math.nan),
        ("x", "c", "umap", "km", 1, "ran", 0.20, 2, 0.90, 0.30),  # two clusters, the highest silhouette
        ("u", "a", "umap", "km", 1, "ran", math.nan, 5, 0.40, 0.10),  # unlabelled
        ("u", "b", "umap", "km", 1, "ran", math.nan, 5, 0.50, 0.20),
    ]
)


def test_pipeline_table_takes_medians_over_seeds_and_leaves_out_runs_that_did_not_run():
    table = selection.pipeline_table(PIPELINES)
    assert list(table.columns[:6]) == ["dataset", "encoder", "reducer", "clusterer", "k", "AMI"]
    assert len(table) == 7 and not ((table["encoder"] == "c") & (table["reducer"] == "none")).any()
    a = row(table, dataset="x", encoder="a", reducer="umap")
    assert a["AMI"] == pytest.approx(0.75) and a["silhouette_umap"] == pytest.approx(0.65) and a["k"] == 10
    assert table["davies_bouldin"].isna().all()  # not in the input: NaN


def test_recommend_picks_the_top_silhouette_pipeline_and_reports_runner_up_margin_and_regret():
    pipelines = selection.pipeline_table(PIPELINES)
    rec = selection.recommend(pipelines).set_index("dataset")
    x = rec.loc["x"]
    # c/umap/km has the highest silhouette (0.90) with 2 clusters: a pitfall the validation table measures
    assert (x["encoder"], x["reducer"], x["clusterer"], x["k"]) == ("c", "umap", "km", 2)
    assert (x["runner_up_encoder"], x["runner_up_reducer"]) == ("a", "umap")  # the best pipeline of another encoder
    assert x["margin"] == pytest.approx(0.90 - 0.65) and x["candidates"] == 4  # the single-cluster pipeline is no candidate
    assert x["regret"] == pytest.approx(100 * (0.80 - 0.20)) and not x["ami_best"]
    u = rec.loc["u"]
    assert u["encoder"] == "b" and math.isnan(u["regret"]) and pd.isna(u["ami_best"]) and pd.isna(u["agreeing"])
    # the encoder-level scores that agree with the pick are counted
    votes = tidy_scores([("u", "a", "s1", 1.0), ("u", "b", "s1", 0.0), ("u", "b", "s2", 1.0), ("u", "a", "s2", 0.0)])
    choice = selection.encoder_choice(votes, None)
    counted = selection.recommend(pipelines, choice).set_index("dataset").loc["u"]
    assert (counted["agreeing"], counted["scores"]) == (1, 2)
    # another score: the original-space silhouette
    assert selection.recommend(pipelines, score="silhouette_og").set_index("dataset").loc["x", "encoder"] == "c"


def test_score_choices_and_validation_measure_each_score_against_ami():
    pipelines = selection.pipeline_table(PIPELINES)
    encoder_ami = pd.DataFrame({"dataset": "x", "encoder": ["a", "b", "c"], "value": [0.62, 0.40, 0.20]})
    scores = tidy_scores([("x", e, "effective_rank", v) for e, v in (("a", 3.0), ("b", 9.0), ("c", 1.0))])
    choices = selection.score_choices(pipelines, scores, encoder_ami)
    assert set(choices["dataset"]) == {"x"}  # the unlabelled dataset has nothing to compare with
    umap = row(choices, level="pipeline", score="silhouette_umap")
    # candidates: a/umap (0.65, AMI 0.75), a/none (0.30, 0.50), b/umap (0.55, 0.80), c/umap (0.90, 0.20)
    assert umap["n"] == 4 and not umap["hit"] and umap["regret"] == pytest.approx(60.0)
    assert umap["spearman_rho"] == pytest.approx(scipy.stats.spearmanr([0.65, 0.30, 0.55, 0.90], [0.75, 0.50, 0.80, 0.20])[0])
    rank = row(choices, level="encoder", score="effective_rank")
    assert rank["family"] == "effective rank" and rank["regret"] == pytest.approx(100 * (0.62 - 0.40)) and not rank["hit"]
    best = row(choices, level="encoder", score="silhouette_og (best pipeline)")  # c's best pipeline: 0.30; a's: 0.20
    assert best["family"] == "silhouette, original space, best pipeline" and best["regret"] == pytest.approx(42.0)

    table = selection.score_validation(choices)
    assert list(table.columns) == ["level", "family", "primary", "scores", "datasets", "choices", "mean_spearman",
                                   "n_spearman", "hit_rate", "mean_regret", "worst_regret"]  # fmt: skip
    assert list(table["level"]) == sorted(table["level"], key=["pipeline", "encoder"].index)
    pipeline = table[table["level"] == "pipeline"]
    assert pipeline["mean_regret"].is_monotonic_increasing
    assert table.loc[table["primary"], "family"].tolist() == ["silhouette, UMAP-50 space"]


def test_score_validation_pools_a_familys_scores_over_datasets():
    choices = pd.DataFrame(
        [
            ("encoder", "Gaussian entropy", "entropy_gaussian", "x", 5, 0.5, True, 0.0),
            ("encoder", "Gaussian entropy", "entropy_gaussian_per_dim", "x", 5, -0.5, False, 10.0),
            ("encoder", "Gaussian entropy", "entropy_gaussian", "y", 2, math.nan, False, 30.0),
            ("encoder", "effective rank", "effective_rank", "x", 5, 0.9, True, 0.0),
        ],
        columns=["level", "family", "score", "dataset", "n", "spearman_rho", "hit", "regret"],
    )
    table = selection.score_validation(choices).set_index("family")
    assert list(table.index) == ["effective rank", "Gaussian entropy"]  # by mean regret
    entropy = table.loc["Gaussian entropy"]
    assert (entropy["scores"], entropy["datasets"], entropy["choices"], entropy["n_spearman"]) == (2, 2, 3, 2)
    assert entropy["mean_spearman"] == pytest.approx(0.0) and entropy["hit_rate"] == pytest.approx(1 / 3)
    assert entropy["mean_regret"] == pytest.approx(40 / 3) and entropy["worst_regret"] == 30.0


def test_score_family_groups_the_label_free_scores():
    assert selection.score_family("silhouette_umap_kmeans_umap50") == "silhouette, UMAP-50 space, one pipeline"
    assert selection.score_family("agreement_umap_ari_min") == "K-Means agreement across seeds, UMAP-50 space"
    assert selection.score_family("entropy_gaussian_per_dim") == "Gaussian entropy"
    assert selection.score_family("something_new") == "something_new"
