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
* Correlations are scipy.stats.spearmanr and scipy.stats.kendalltau (tau-b, two-sided p-values) on the
  pairs where both the (oriented) score and the reference are finite. They are NaN when fewer than
  `min_n` such pairs remain or when either side is constant (the correlation is undefined then).
* Missing values: NaN label-free values are skipped when averaging; an encoder whose averaged score is
  NaN is not a candidate for that score.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import scipy.stats

from .labelfree import direction

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
    rho, rho_p = scipy.stats.spearmanr(x, y)
    tau, tau_p = scipy.stats.kendalltau(x, y)
    return out | {"spearman_rho": float(rho), "spearman_p": float(rho_p), "kendall_tau": float(tau), "kendall_p": float(tau_p)}


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


def _natural_key(label: str) -> tuple:
    """Sort key of a label in natural order: digit runs compare as numbers ("ep2" < "ep10")."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(label)) if part)


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
    the score's preferred encoders have the higher reference. Statistics as scipy.stats.spearmanr and
    scipy.stats.kendalltau (tau-b) return them, NaN when n < `min_n` or either side is constant. Only
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
    top_pick_is_best], one row per (dataset, score) in the order of `choice`.

    `recommended` is the rank-1 encoder, `runner_up` the rank-2 one (None with a single candidate),
    `regret` as in `encoder_choice` (best reference minus the recommended encoder's, NaN when unknown),
    `top_pick_is_best` whether the recommended encoder has the best reference (regret == 0, ties
    included), as a nullable boolean: <NA> when the regret is unknown.
    """
    columns = ["dataset", "score", "recommended", "runner_up", "regret", "top_pick_is_best"]
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
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"regret": float, "top_pick_is_best": "boolean"})


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
