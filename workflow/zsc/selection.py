"""Can a score that needs no labels tell which encoder (or which checkpoint) clusters a dataset best?

Pure functions of pandas DataFrames: no files, no plotting. Deterministic: rows follow the order in which
names first appear in the inputs (or the stated sort), never a hash or a clock.

Inputs
------
`labelfree`: tidy label-free scores, one row per (dataset, split, encoder, seed, score) with a `value`
(e.g. "silhouette_og_kmeans", "agreement_ami_mean", "effective_rank", "entropy_knn"; see zsc.labelfree).

`references`: tidy labelled references, one row per (dataset, encoder, reference) with a `value`
(e.g. "AMI": the clusterer-averaged AMI, 0..1; "knn_top1_k20", "linear_probe_top1": accuracies, 0..1).
It may be empty (unlabelled data) or cover only some datasets or encoders.

`series`: encoder -> {"series": run name, "checkpoint": label, "step": number or None} for the encoders
that are checkpoints of one training run (names such as "run@ep010").

Conventions
-----------
* Orientation. Each score's entry in the label-free registry (zsc.labelfree.SCORES) declares whether a
  higher or a lower value is the better encoder (`labelfree.direction`; higher for a name it does not
  know). Wherever scores are ranked or correlated, a lower-is-better score is negated first, so rank 1 is
  always the recommended encoder and a positive correlation always means "the score orders the encoders
  as the reference does". The `value` columns themselves always hold the score as computed (never
  negated). The direction is read at call time.
* Correlations are Spearman's rho and Kendall's tau-b (scipy's statistics) with two-sided p-values that
  hold at small n (zsc.stats.rank_correlation: exact up to 8 pairs, a seeded permutation test up to 50,
  asymptotic above), on the pairs where both the (oriented) score and the reference are finite. They are NaN when fewer than
  `min_n` (and never fewer than 3) such pairs remain or when either side is constant (the correlation is
  undefined then).
* Missing values: NaN label-free values are skipped when averaging; an encoder whose averaged score is
  NaN is not a candidate for that score.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .labelfree import SCORES, direction
from .stats import rank_correlation
from .weights import natural_key as _natural_key  # the order a checkpoint folder is listed in

SCORE_KEYS = ["dataset", "encoder", "score"]
STATISTICS = ["n", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p"]
POOLED = "all"  # the `dataset` of the pooled correlations


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _sign(score: str) -> float:
    """-1.0 for a score whose lower values are better (it is negated before ranking/correlating), else +1.0."""
    return -1.0 if direction(score) == "lower" else 1.0


def _unique(values) -> list:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values))


def _check_unique(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        raise ValueError(
            f"{what} has several rows for the same {tuple(keys)}: {frame.loc[duplicated, keys].head().values.tolist()}"
        )


def _tidy_references(references: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["dataset", "encoder", "reference", "value"]
    if references is None or len(references) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object) for c in columns})
    references = references[columns]
    _check_unique(references, columns[:3], "references")
    return references


def _correlate(x, y, min_n: int = 3) -> dict:
    """n (finite pairs), Spearman rho and p, Kendall tau-b and p of x and y; the statistics are NaN when
    n < min_n or either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    out = {
        "n": int(finite.sum()),
        "spearman_rho": math.nan,
        "spearman_p": math.nan,
        "kendall_tau": math.nan,
        "kendall_p": math.nan,
    }
    if out["n"] < max(min_n, 2) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    rho, tau = rank_correlation(x, y, "spearman"), rank_correlation(x, y, "kendall")
    return out | {
        "spearman_rho": rho["statistic"],
        "spearman_p": rho["p"],
        "kendall_tau": tau["statistic"],
        "kendall_p": tau["p"],
    }


def _paired(scores: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Inner join of scores and references on (dataset, encoder): dataset, encoder, score, reference,
    score_value (oriented: negated where lower is better), reference_value; input order kept."""
    scores = scores[SCORE_KEYS + ["value"]].astype({"value": float})
    _check_unique(scores, SCORE_KEYS, "scores")
    references = _tidy_references(references).astype({"value": float})
    merged = scores.merge(references, on=["dataset", "encoder"], how="inner", suffixes=("_score", "_reference"))
    merged = merged.rename(columns={"value_reference": "reference_value"})
    merged["score_value"] = merged["value_score"] * merged["score"].map(_sign).astype(float)
    return merged


# ---------------------------------------------------------------------------------------------------------
# Encoders of a dataset


def score_table(labelfree: pd.DataFrame) -> pd.DataFrame:
    """Label-free scores per (dataset, encoder): DataFrame[dataset, encoder, score, value].

    `value` is the mean of `labelfree.value` over seeds and splits (a dataset is scored on one split)
    for each (dataset, encoder, score), NaN values skipped (NaN only if every value is NaN). Rows in
    order of first appearance of (dataset, encoder, score) in `labelfree`.
    """
    if len(labelfree) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_KEYS} | {"value": pd.Series(dtype=float)})
    values = labelfree[SCORE_KEYS + ["value"]].astype({"value": float})
    return values.groupby(SCORE_KEYS, sort=False, dropna=False)["value"].mean().reset_index()


def correlations(scores: pd.DataFrame, references: pd.DataFrame, min_n: int = 3) -> pd.DataFrame:
    """How well each label-free score orders encoders like each labelled reference.

    `scores`: DataFrame[dataset, encoder, score, value] (`score_table`); `references`:
    DataFrame[dataset, encoder, reference, value].

    Returns DataFrame[scope, dataset, score, reference, n, spearman_rho, spearman_p, kendall_tau,
    kendall_p], one row per (scope, dataset, score, reference):

    * scope "dataset": per dataset, across its encoders (n = encoders with both values finite);
    * scope "pooled", dataset "all": across every (dataset, encoder) pair with both values finite
      (n = number of such pairs), i.e. one correlation over all datasets together.

    Lower-is-better scores are negated before correlating, so a positive rho/tau always means that
    the score's preferred encoders have the higher reference. Statistics and p-values as `_correlate`
    gives them (small-n exact or permutation p-values), NaN when n < `min_n` or either side is constant. Only
    (dataset, score, reference) combinations with at least one encoder holding both are listed; no
    references gives an empty table. Order: the per-dataset rows (datasets, then scores, then
    references in order of first appearance), then the pooled rows.
    """
    columns = ["scope", "dataset", "score", "reference"] + STATISTICS
    paired = _paired(scores, references)
    rows = []
    for (dataset, score, reference), group in paired.groupby(["dataset", "score", "reference"], sort=False):
        rows.append(
            {"scope": "dataset", "dataset": dataset, "score": score, "reference": reference}
            | _correlate(group["score_value"], group["reference_value"], min_n)
        )
    for (score, reference), group in paired.groupby(["score", "reference"], sort=False):
        rows.append(
            {"scope": "pooled", "dataset": POOLED, "score": score, "reference": reference}
            | _correlate(group["score_value"], group["reference_value"], min_n)
        )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float if c in STATISTICS else object) for c in columns}).astype({"n": int})
    return pd.DataFrame(rows, columns=columns)


def encoder_choice(scores: pd.DataFrame, references: pd.DataFrame, reference: str = "AMI", min_n: int = 3) -> pd.DataFrame:
    """Encoders of each dataset ranked by each label-free score, next to the reference they aim at.

    Returns DataFrame[dataset, score, rank, encoder, value, reference_value, picked, best_by_reference,
    regret, spearman_rho], one row per (dataset, score, encoder) with a finite score value (encoders with
    a NaN score are not candidates and are left out), sorted by dataset and score (order of first
    appearance) then rank:

    * `rank`: 1, 2, ... by the score, best first (descending value; ascending for lower-is-better
      scores); equal values are ordered by encoder name. Rank 1 is the recommended encoder.
    * `value`: the score (as computed, never negated).
    * `picked`: True on rank 1 (with or without references: it is the recommendation).
    * `reference_value`: the encoder's `reference` (e.g. "AMI") on the dataset, NaN where unknown.
    * `best_by_reference`: True on the candidate(s) with the highest finite reference_value (all of them
      when tied); False everywhere when the dataset has no reference value.
    * `regret`: best reference_value among the candidates minus the picked encoder's reference_value, in
      the reference's units (0 when the pick is among the best); the same on every row of the
      (dataset, score); NaN when the picked encoder or every candidate lacks the reference.
    * `spearman_rho`: Spearman correlation across the candidates between the (oriented) score and the
      reference, as in `correlations` (NaN with fewer than `min_n` pairs or a constant side); the same on
      every row of the (dataset, score).

    Without references (or for a dataset without `reference`) the reference columns are NaN/False and the
    table is the recommendation itself.
    """
    columns = [
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
    scores = scores[SCORE_KEYS + ["value"]].astype({"value": float})
    _check_unique(scores, SCORE_KEYS, "scores")
    refs = _tidy_references(references)
    refs = refs.loc[refs["reference"] == reference, ["dataset", "encoder", "value"]].rename(columns={"value": "reference_value"})
    table = scores.merge(refs.astype({"reference_value": float}), on=["dataset", "encoder"], how="left")
    table = table[np.isfinite(table["value"])]
    parts = []
    for (_, score), group in table.groupby(["dataset", "score"], sort=False):
        group = group.assign(_oriented=group["value"] * _sign(score))
        group = group.sort_values(["_oriented", "encoder"], ascending=[False, True], kind="mergesort").drop(columns="_oriented")
        group["rank"] = np.arange(1, len(group) + 1)
        group["picked"] = group["rank"] == 1
        known = group["reference_value"][np.isfinite(group["reference_value"])]
        best = known.max() if len(known) else math.nan
        group["best_by_reference"] = group["reference_value"] == best if len(known) else False
        group["regret"] = best - group["reference_value"].iloc[0]
        group["spearman_rho"] = _correlate(group["value"] * _sign(score), group["reference_value"], min_n)["spearman_rho"]
        parts.append(group)
    if not parts:
        empty = {c: pd.Series(dtype=object) for c in columns}
        return pd.DataFrame(empty).astype(
            {
                "rank": int,
                "value": float,
                "reference_value": float,
                "picked": bool,
                "best_by_reference": bool,
                "regret": float,
                "spearman_rho": float,
            }
        )
    out = pd.concat(parts, ignore_index=True)[columns]
    return out.astype({"rank": int, "picked": bool, "best_by_reference": bool, "regret": float, "spearman_rho": float})


def recommendation(choice: pd.DataFrame) -> pd.DataFrame:
    """The headline of `encoder_choice`: DataFrame[dataset, score, recommended, runner_up, regret,
    top_pick_is_best, spearman_rho, n], one row per (dataset, score) in the order of `choice`.

    `recommended` is the rank-1 encoder, `runner_up` the rank-2 one (None with a single candidate),
    `regret` as in `encoder_choice` (best reference minus the recommended encoder's, NaN when unknown),
    `top_pick_is_best` whether the recommended encoder has the best reference (regret == 0, ties
    included), as a nullable boolean: <NA> when the regret is unknown; `spearman_rho` as in
    `encoder_choice` (NaN with fewer than 3 pairs) and `n` the candidates with a reference value.
    """
    columns = ["dataset", "score", "recommended", "runner_up", "regret", "top_pick_is_best", "spearman_rho", "n"]
    rows = []
    for (dataset, score), group in choice.groupby(["dataset", "score"], sort=False):
        group = group.sort_values("rank", kind="mergesort")
        regret = float(group["regret"].iloc[0])
        rows.append(
            {
                "dataset": dataset,
                "score": score,
                "recommended": group["encoder"].iloc[0],
                "runner_up": group["encoder"].iloc[1] if len(group) > 1 else None,
                "regret": regret,
                "top_pick_is_best": pd.NA if math.isnan(regret) else bool(regret == 0),
                "spearman_rho": float(group["spearman_rho"].iloc[0]),
                "n": int(np.isfinite(group["reference_value"].astype(float)).sum()),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"regret": float, "top_pick_is_best": "boolean", "spearman_rho": float, "n": int})


# ---------------------------------------------------------------------------------------------------------
# Pipelines of a dataset: one recommendation, and which score to trust

# The declared primary score: the silhouette of a run's predicted labels in the shared UMAP-50 space
# (runs.parquet's `silhouette_umap`), the one the study found to track AMI; docs/labelfree.md gives the
# evidence and `score_validation` measures it against every other score on the run's labelled datasets.
PRIMARY = "silhouette_umap"
FALLBACK = "silhouette_og"  # without the UMAP space (metrics.umap_silhouette: false)
# The label-free scores of each run (runs.parquet, the evaluate stage) that can rank pipelines, and the family
# they stand for: entries of zsc.labelfree.SCORES of stage "evaluate" or "run", whose declared direction
# orients them (Davies-Bouldin: lower is better).
PIPELINE_SCORES = {
    "silhouette_umap": "silhouette, UMAP-50 space",
    "silhouette_og": "silhouette, original space",
    "silhouette_reduced": "silhouette, space clustered",
    "calinski_harabasz": "Calinski-Harabasz, space clustered",
    "davies_bouldin": "Davies-Bouldin (lower is better), space clustered",
}
PIPELINE_KEYS = ["dataset", "encoder", "reducer", "clusterer"]
# Families the scores of labelfree.parquet (zsc.labelfree and the per-clusterer silhouettes) are validated
# and shown under, by name prefix (the first match wins): the registry's families (zsc.labelfree.SCORES:
# silhouette, agreement, entropy) told apart by space and estimator.
SCORE_FAMILIES = [
    ("silhouette_umap_", "silhouette, UMAP-50 space, one pipeline"),
    ("silhouette_og_", "silhouette, original space, one pipeline"),
    ("agreement_og_", "K-Means agreement across seeds, original space"),
    ("agreement_umap_", "K-Means agreement across seeds, UMAP-50 space"),
    ("clusterer_agreement_", "agreement between the clusterers"),
    ("entropy_gaussian", "Gaussian entropy"),
    ("effective_rank", "effective rank"),
    ("entropy_knn", "k-NN entropy"),
]
LEVELS = ("pipeline", "encoder")
VALIDATION_STATISTICS = ["datasets", "choices", "mean_spearman", "n_spearman", "hit_rate", "mean_regret", "worst_regret"]


def score_family(score: str) -> str:
    """The family of a score of labelfree.parquet: SCORE_FAMILIES' (by name prefix), else its registry
    entry's (zsc.labelfree.SCORES), else its name."""
    family = next((family for prefix, family in SCORE_FAMILIES if score.startswith(prefix)), None)
    return family or (SCORES[score].info["family"] if score in SCORES else score)


def pipeline_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per pipeline that ran: DataFrame[dataset, encoder, reducer, clusterer, k, AMI, <each of
    PIPELINE_SCORES>], each the median over the pipeline's seeds (`k`: clusters found, noise not counted,
    rounded to a whole number; `AMI` 0-1, NaN without labels). Skipped and failed runs are left out; a
    score runs.parquet lacks is NaN. Rows in order of first appearance."""
    ran = runs[runs["status"] == "ran"] if "status" in runs else runs
    ran = ran.reindex(columns=[*PIPELINE_KEYS, "AMI", "n_clusters_pred", *PIPELINE_SCORES]).astype(
        {c: float for c in ["AMI", "n_clusters_pred", *PIPELINE_SCORES]}
    )
    table = ran.groupby(PIPELINE_KEYS, sort=False).median().reset_index().rename(columns={"n_clusters_pred": "k"})
    table["k"] = table["k"].round().astype("Int64")
    return table[[*PIPELINE_KEYS, "k", "AMI", *PIPELINE_SCORES]]


def _oriented(values: pd.Series, score: str) -> pd.Series:
    return values.astype(float) * _sign(score)


def ranked_pipelines(pipelines: pd.DataFrame, score: str = PRIMARY) -> pd.DataFrame:
    """The candidate pipelines of each dataset ranked by `score`: those with a finite score and at least
    2 clusters (a single cluster has no silhouette), best first; ties by encoder, reducer, clusterer
    name. `pipelines`: pipeline_table's. Adds `rank` (1 = recommended); order: dataset (first appearance),
    then rank."""
    parts = []
    for _, group in pipelines.groupby("dataset", sort=False):
        group = group[np.isfinite(group[score].astype(float)) & (group["k"].fillna(0) >= 2)]
        group = group.assign(_oriented=_oriented(group[score], score))
        keys = ["_oriented", "encoder", "reducer", "clusterer"]
        group = group.sort_values(keys, ascending=[False, True, True, True], kind="mergesort")
        parts.append(group.drop(columns="_oriented").assign(rank=np.arange(1, len(group) + 1)))
    if not parts:
        return pipelines.iloc[:0].assign(rank=pd.Series(dtype=int))
    return pd.concat(parts, ignore_index=True)


def recommend(pipelines: pd.DataFrame, choice: pd.DataFrame | None = None, score: str = PRIMARY) -> pd.DataFrame:
    """One pipeline per dataset, chosen by one score: the top of `ranked_pipelines`.

    Returns DataFrame[dataset, encoder, reducer, clusterer, k, score, value, runner_up_encoder,
    runner_up_reducer, runner_up_clusterer, runner_up_value, margin, agreeing, scores, ami_best, regret,
    candidates], one row per dataset with a candidate, in order of first appearance:

    * `value`: the recommended pipeline's score; `runner_up_*`: the best pipeline of another encoder
      (of the same encoder when there is only one), `margin` = value - runner_up_value (oriented: >= 0).
    * `agreeing` of `scores`: how many of the encoder-level label-free scores (`choice`, encoder_choice's
      table) rank the recommended encoder first; <NA> of 0 without them.
    * `ami_best` (nullable boolean) and `regret`: whether the recommended pipeline has the best AMI of
      every pipeline of the dataset that ran, and the AMI x 100 it is behind that best (0 when it is the
      best; NaN without labels).
    * `candidates`: the pipelines the score ranked.
    """
    columns = [
        "dataset", "encoder", "reducer", "clusterer", "k", "score", "value", "runner_up_encoder", "runner_up_reducer",
        "runner_up_clusterer", "runner_up_value", "margin", "agreeing", "scores", "ami_best", "regret", "candidates",
    ]  # fmt: skip
    ranked = ranked_pipelines(pipelines, score)
    picks = choice[choice["rank"] == 1] if choice is not None and len(choice) else None
    rows = []
    for dataset, group in ranked.groupby("dataset", sort=False):
        top = group.iloc[0]
        others = group[group["encoder"] != top["encoder"]]
        runner = (others if len(others) else group.iloc[1:]).head(1)
        runner = runner.iloc[0] if len(runner) else None
        ami = pipelines.loc[pipelines["dataset"] == dataset, "AMI"].astype(float)
        known = ami[np.isfinite(ami)]
        regret = 100 * (known.max() - float(top["AMI"])) if len(known) and np.isfinite(float(top["AMI"])) else math.nan
        voted = picks[picks["dataset"] == dataset] if picks is not None else None
        rows.append(
            {
                "dataset": dataset,
                "encoder": top["encoder"],
                "reducer": top["reducer"],
                "clusterer": top["clusterer"],
                "k": top["k"],
                "score": score,
                "value": float(top[score]),
                "runner_up_encoder": None if runner is None else runner["encoder"],
                "runner_up_reducer": None if runner is None else runner["reducer"],
                "runner_up_clusterer": None if runner is None else runner["clusterer"],
                "runner_up_value": math.nan if runner is None else float(runner[score]),
                "margin": math.nan if runner is None else float(_oriented(pd.Series([top[score] - runner[score]]), score)[0]),
                "agreeing": pd.NA if voted is None or not len(voted) else int((voted["encoder"] == top["encoder"]).sum()),
                "scores": 0 if voted is None else len(voted),
                "ami_best": pd.NA if math.isnan(regret) else bool(regret == 0),
                "regret": regret,
                "candidates": len(group),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"k": "Int64", "agreeing": "Int64", "scores": int, "ami_best": "boolean", "candidates": int}).astype(
        {"value": float, "runner_up_value": float, "margin": float, "regret": float}
    )


def _choice_row(candidates: pd.DataFrame, oriented: pd.Series, best: float) -> dict:
    """n, Spearman rho with AMI, hit and regret (AMI x 100) of picking the top of `oriented` (the score,
    higher is better) among `candidates` (with an `AMI` column); ties: the first listed."""
    oriented, ami = oriented.to_numpy(dtype=float), candidates["AMI"].to_numpy(dtype=float)
    picked = ami[np.lexsort((np.arange(len(ami)), -oriented))[0]]
    rho = _correlate(oriented, ami, 3)["spearman_rho"]
    return {"n": len(ami), "spearman_rho": rho, "hit": bool(picked == best), "regret": 100 * (best - picked)}


def score_choices(pipelines: pd.DataFrame, scores: pd.DataFrame | None = None, encoder_ami: pd.DataFrame | None = None):
    """What following each label-free score would have chosen on each labelled dataset, against AMI.

    `pipelines`: pipeline_table's (AMI per pipeline); `scores`: score_table's (encoder-level label-free
    scores); `encoder_ami`: DataFrame[dataset, encoder, value], each encoder's clusterer-averaged AMI (0-1).

    Returns DataFrame[level, family, score, dataset, n, spearman_rho, hit, regret], one row per choice:

    * level "pipeline": each of PIPELINE_SCORES ranks the dataset's pipelines (candidates: finite score and
      AMI, at least 2 clusters); the reference is the pipeline's AMI, the best that of the best pipeline
      of the dataset that ran.
    * level "encoder": each score of `scores` ranks the encoders (reference: the clusterer-averaged AMI;
      the best: the best encoder's), and so does each of PIPELINE_SCORES, an encoder scoring the best of
      its pipelines (the encoder its top pipeline recommends; score "<name> (best pipeline)").
    * `n`: candidates; `spearman_rho`: rank correlation of the (oriented) score with the reference across
      them (NaN when n < 3 or a side is constant); `hit`: the pick has the best reference; `regret`: the
      best reference minus the pick's, x 100 (AMI x 100).

    Only datasets with labels (a finite AMI) and scores with at least 2 candidates are listed.
    """
    columns = ["level", "family", "score", "dataset", "n", "spearman_rho", "hit", "regret"]
    rows = []
    eligible = pipelines[pipelines["k"].fillna(0) >= 2]
    for dataset, group in pipelines.groupby("dataset", sort=False):
        ami = group["AMI"].astype(float)
        if not np.isfinite(ami).any():
            continue
        for score, family in PIPELINE_SCORES.items():
            finite = np.isfinite(eligible[score].astype(float)) & np.isfinite(eligible["AMI"].astype(float))
            candidates = eligible[(eligible["dataset"] == dataset) & finite]
            if len(candidates) >= 2:
                choice = _choice_row(candidates, _oriented(candidates[score], score), float(ami.max()))
                rows.append({"level": "pipeline", "family": family, "score": score, "dataset": dataset} | choice)
    if encoder_ami is not None and len(encoder_ami):
        references = encoder_ami[["dataset", "encoder", "value"]].rename(columns={"value": "AMI"}).astype({"AMI": float})
        best = references[np.isfinite(references["AMI"])].groupby("dataset", sort=False)["AMI"].max()
        # every score oriented (higher is better): the encoder-level ones, then each encoder's best pipeline by each per-run score
        oriented = []
        if scores is not None and len(scores):
            given = scores[SCORE_KEYS + ["value"]].astype({"value": float})
            signs = given["score"].map(_sign).astype(float)
            oriented.append(given.assign(value=given["value"] * signs, family=given["score"].map(score_family)))
        for score, family in PIPELINE_SCORES.items():
            ranked = eligible[np.isfinite(eligible[score].astype(float))]
            top = ranked.assign(value=_oriented(ranked[score], score)).groupby(["dataset", "encoder"], sort=False)["value"].max()
            oriented.append(top.reset_index().assign(score=f"{score} (best pipeline)", family=f"{family}, best pipeline"))
        merged = pd.concat(oriented, ignore_index=True).merge(references, on=["dataset", "encoder"], how="inner")
        merged = merged[np.isfinite(merged["value"]) & np.isfinite(merged["AMI"]) & merged["dataset"].isin(best.index)]
        for (dataset, score), candidates in merged.groupby(["dataset", "score"], sort=False):
            if len(candidates) >= 2:
                choice = _choice_row(candidates, candidates["value"], float(best[dataset]))
                family = candidates["family"].iloc[0]
                rows.append({"level": "encoder", "family": family, "score": score, "dataset": dataset} | choice)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("spearman_rho", "regret") else object) for c in columns}).astype(
            {"n": int, "hit": bool}
        )
    return pd.DataFrame(rows, columns=columns)


def score_validation(choices: pd.DataFrame, primary: str = PRIMARY) -> pd.DataFrame:
    """Which score to trust: score_choices' rows summed up per (level, family).

    Returns DataFrame[level, family, primary, scores, datasets, choices, mean_spearman, n_spearman, hit_rate,
    mean_regret, worst_regret]: `scores` the family's scores, `datasets` the labelled datasets, `choices`
    the (dataset, score) choices; `mean_spearman` the mean within-dataset rank correlation with AMI over the
    `n_spearman` choices where it is defined (n >= 3); `hit_rate` the share of choices that picked the
    AMI-best; `mean_regret` and `worst_regret` (max) in AMI x 100. `primary` marks the pipeline-level family
    of the declared primary score. Sorted by level (pipeline, then encoder), then mean regret (lowest
    first), then hit rate and mean Spearman (highest first), then family.
    """
    rows = []
    for (level, family), group in choices.groupby(["level", "family"], sort=False):
        rho = group["spearman_rho"].astype(float)
        rows.append(
            {
                "level": level,
                "family": family,
                "primary": bool(level == "pipeline" and set(group["score"]) == {primary}),
                "scores": group["score"].nunique(),
                "datasets": group["dataset"].nunique(),
                "choices": len(group),
                "mean_spearman": float(rho.mean()) if rho.notna().any() else math.nan,
                "n_spearman": int(rho.notna().sum()),
                "hit_rate": float(group["hit"].astype(float).mean()),
                "mean_regret": float(group["regret"].mean()),
                "worst_regret": float(group["regret"].max()),
            }
        )
    columns = ["level", "family", "primary", "scores", *VALIDATION_STATISTICS]
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:
        return out
    out["_level"] = out["level"].map({level: i for i, level in enumerate(LEVELS)})
    keys = ["_level", "mean_regret", "hit_rate", "mean_spearman", "family"]
    out = out.sort_values(keys, ascending=[True, True, False, False, True], na_position="last", kind="mergesort")
    return out.drop(columns="_level").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# Checkpoints of a training run


def checkpoint_step(label: str) -> float | None:
    """The trailing integer of a checkpoint label as a float ("ep010" -> 10.0, "step_5000" -> 5000.0), or
    None when the label does not end in digits ("last", "best")."""
    match = re.search(r"(\d+)$", str(label))
    return float(match.group(1)) if match else None


def checkpoint_table(scores: pd.DataFrame, references: pd.DataFrame, series: dict) -> pd.DataFrame:
    """The scores and references of the checkpoints of each training run, one row per checkpoint.

    Returns DataFrame[dataset, series, checkpoint, step, encoder, <one column per score>, <one column per
    reference>]: one row per (dataset, encoder) for the encoders in `series` that have at least one score
    or reference on that dataset (the `dataset` column keeps checkpoints evaluated on several datasets
    apart). Score columns (named after the score, values as in `scores`, never negated) come first, then
    reference columns, each in order of first appearance; a missing value is NaN. `step` is the series'
    "step" when given, else `checkpoint_step` of the checkpoint label, else NaN.

    Ordered by dataset (order of first appearance), then series (order of first appearance in `series`),
    then step (NaN last), then the checkpoint label in natural order ("ep2" < "ep10"), then encoder.
    A name that is both a score and a reference raises ValueError.
    """
    scores = scores[SCORE_KEYS + ["value"]]
    _check_unique(scores, SCORE_KEYS, "scores")
    refs = _tidy_references(references)
    score_names, reference_names = _unique(scores["score"]), _unique(refs["reference"])
    if clash := set(score_names) & set(reference_names):
        raise ValueError(f"names that are both a score and a reference: {sorted(clash)}")
    base = ["dataset", "series", "checkpoint", "step", "encoder"]
    values = pd.concat([scores.rename(columns={"score": "name"}), refs.rename(columns={"reference": "name"})], ignore_index=True)
    values = values[values["encoder"].isin(list(series))]
    if len(values) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if c == "step" else object) for c in base}
            | {c: pd.Series(dtype=float) for c in score_names + reference_names}
        )
    wide = values.pivot(index=["dataset", "encoder"], columns="name", values="value")
    wide = wide.reindex(columns=score_names + reference_names).astype(float)
    wide.columns.name = None
    wide = wide.reset_index()

    series_order = {name: i for i, name in enumerate(_unique(info["series"] for info in series.values()))}
    dataset_order = {name: i for i, name in enumerate(_unique(values["dataset"]))}
    info = {e: series[e] for e in wide["encoder"]}
    wide.insert(1, "series", [info[e]["series"] for e in wide["encoder"]])
    wide.insert(2, "checkpoint", [info[e]["checkpoint"] for e in wide["encoder"]])
    steps = []
    for e in wide["encoder"]:
        step = info[e].get("step")
        step = checkpoint_step(info[e]["checkpoint"]) if step is None else step
        steps.append(math.nan if step is None else float(step))
    wide.insert(3, "step", steps)

    def key(row) -> tuple:
        step = row["step"]
        return (
            dataset_order[row["dataset"]],
            series_order[row["series"]],
            math.isnan(step),
            0.0 if math.isnan(step) else step,
            _natural_key(row["checkpoint"]),
            str(row["encoder"]),
        )

    order = sorted(range(len(wide)), key=lambda i: key(wide.iloc[i]))
    return wide.iloc[order].reset_index(drop=True)[base + score_names + reference_names]


def checkpoint_correlations(table: pd.DataFrame, scores: list, references: list, min_n: int = 3) -> pd.DataFrame:
    """How well each score follows each reference across the checkpoints of a training run.

    `table`: `checkpoint_table`'s output (or any frame with a `series` column and one column per score and
    per reference). Returns DataFrame[dataset, series, score, reference, n, spearman_rho, spearman_p,
    kendall_tau, kendall_p], one row per (dataset, series, score, reference) in that nesting order (order
    of first appearance in `table`, then the order of `scores` and `references`); the `dataset` column is
    left out when `table` has none (then one row per (series, score, reference)).

    n is the number of checkpoints with both values finite; statistics as in `correlations` (lower-is-better
    scores negated first, NaN when n < `min_n` or a side is constant).
    """
    groups = (["dataset"] if "dataset" in table.columns else []) + ["series"]
    columns = groups + ["score", "reference"] + STATISTICS
    rows = []
    for keys, group in table.groupby(groups, sort=False):
        keys = dict(zip(groups, keys if isinstance(keys, tuple) else (keys,)))
        for score in scores:
            for reference in references:
                x = group[score].astype(float) * _sign(score)
                rows.append(
                    keys | {"score": score, "reference": reference} | _correlate(x, group[reference].astype(float), min_n)
                )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float if c in STATISTICS else object) for c in columns}).astype({"n": int})
    return pd.DataFrame(rows, columns=columns)
