"""Statistics every output shares: p-values corrected for a family of tests, and rank correlations
whose p-values hold at small n (docs/outputs.md#statistics).

A leaf module (numpy and scipy only), so that the study's tables and the label-free answers use the
same corrections without importing each other.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

# The correction every family of tests reports beside its raw p-values (docs/outputs.md#statistics says why).
CORRECTION = "holm"
CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
# Up to this n, a rank correlation's p-value is exact: every permutation of one variable is enumerated.
EXACT_MAX_N = 8
PERMUTATIONS = 9_999  # above it, a seeded Monte-Carlo permutation test of this many resamples
PERMUTATION_SEED = 0
# Above this n, scipy's asymptotic p-value (t approximation for rho, normal for tau) is accurate and
# a permutation test would only cost time (Kendall's is O(n^2) per resample).
ASYMPTOTIC_MIN_N = 51


def adjust_pvalues(p, method: str = CORRECTION) -> np.ndarray:
    """p-values corrected for the family `p` (array-like; NaN = no test, left NaN and not counted).

    "holm": Holm's step-down correction, which bounds the family-wise error rate under any dependence
    between the tests; "bh": Benjamini-Hochberg's step-up correction, which bounds the false discovery
    rate for independent or positively dependent tests. Both are monotone in the raw p-value and never
    below it; they are capped at 1."""
    if method not in CORRECTIONS:
        raise ValueError(f"method must be one of {', '.join(CORRECTIONS)}, not {method!r}")
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="mergesort")]
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(m, 0, -1) * ranked[::-1]))[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def rank_correlation(x, y, method: str = "spearman") -> dict:
    """Spearman's rho or Kendall's tau-b of x and y (pairs with a NaN dropped) with a two-sided p-value
    that holds at small n: exact (every permutation of y enumerated) up to EXACT_MAX_N pairs, a
    permutation test of PERMUTATIONS seeded resamples up to 50, scipy's asymptotic p above. Returns
    {"n", "statistic", "p", "p_method"} (p_method: exact, permutation or asymptotic); statistic and p
    are NaN below 3 pairs or when either variable is constant.

    scipy's spearmanr gives an asymptotic p-value (0.000 for rho = 1 at n = 4, where the exact
    two-sided p is 2/24 = 0.083), and kendalltau's exact p needs data without ties; a permutation
    test (scipy.stats.permutation_test, permuting the pairing of y with x) is right for both, ties
    included. The statistic is the same as scipy's spearmanr / kendalltau (tau-b)."""
    import scipy.stats

    if method not in ("spearman", "kendall"):
        raise ValueError(f"method must be 'spearman' or 'kendall', not {method!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(len(x))
    out = {"n": n, "statistic": math.nan, "p": math.nan, "p_method": ""}
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    if n >= ASYMPTOTIC_MIN_N:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = (scipy.stats.spearmanr if method == "spearman" else scipy.stats.kendalltau)(x, y)
        return out | {"statistic": float(result.statistic), "p": float(result.pvalue), "p_method": "asymptotic"}
    statistic = _spearman_of(x) if method == "spearman" else _kendall_of(x)
    data = scipy.stats.rankdata(y) if method == "spearman" else y
    exact = n <= EXACT_MAX_N
    result = scipy.stats.permutation_test(
        (data,),
        statistic,
        permutation_type="pairings",
        vectorized=True,
        n_resamples=math.inf if exact else PERMUTATIONS,
        batch=max(1, 4_000_000 // (n * n)),
        alternative="two-sided",
        rng=np.random.default_rng(PERMUTATION_SEED),
    )
    return out | {
        "statistic": float(result.statistic),
        "p": float(result.pvalue),
        "p_method": "exact" if exact else "permutation",
    }


def _spearman_of(x: np.ndarray):
    """Spearman's rho of x with the rank vectors along the last axis (Pearson's r of the ranks)."""
    import scipy.stats

    rx = scipy.stats.rankdata(x)
    rx = (rx - rx.mean()) / np.sqrt(((rx - rx.mean()) ** 2).sum())

    def statistic(ranks, axis=-1):
        ranks = np.moveaxis(ranks, axis, -1)
        centred = ranks - ranks.mean(axis=-1, keepdims=True)
        return (centred @ rx) / np.sqrt((centred**2).sum(axis=-1))

    return statistic


def _kendall_of(x: np.ndarray):
    """Kendall's tau-b of x with the vectors along the last axis: the sum of concordant minus
    discordant pairs over the square root of the untied pairs of each variable."""
    sx = np.sign(x[:, None] - x[None, :])
    untied_x = (sx != 0).sum() / 2

    def statistic(values, axis=-1):
        values = np.moveaxis(values, axis, -1)
        sy = np.sign(values[..., :, None] - values[..., None, :])
        untied_y = (sy != 0).sum(axis=(-2, -1)) / 2
        return (sx * sy).sum(axis=(-2, -1)) / 2 / np.sqrt(untied_x * untied_y)

    return statistic
