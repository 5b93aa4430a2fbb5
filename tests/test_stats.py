"""zsc.stats: the corrections every family of tests reports, and rank correlations with small-n p-values."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from zsc import stats


def test_holm_by_hand_leaves_missing_tests_out_of_the_family():
    p = [0.01, 0.04, 0.03, np.nan, 0.5]
    # four tests: sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08, 0.5; made monotone: 0.08 -> 0.09
    np.testing.assert_allclose(stats.adjust_pvalues(p, "holm"), [0.04, 0.09, 0.09, np.nan, 0.5])
    np.testing.assert_allclose(stats.adjust_pvalues([0.3, 0.6], "holm"), [0.6, 0.6])
    np.testing.assert_allclose(stats.adjust_pvalues([0.4, 0.5, 0.9]), [1.0, 1.0, 1.0])  # capped at 1; Holm by default
    assert stats.adjust_pvalues([np.nan, np.nan]).tolist() == [pytest.approx(np.nan, nan_ok=True)] * 2


def test_benjamini_hochberg_is_scipys():
    p = np.array([0.001, 0.2, 0.03, 0.04, 0.5, 0.011])
    np.testing.assert_allclose(stats.adjust_pvalues(p, "bh"), scipy.stats.false_discovery_control(p))
    with pytest.raises(ValueError, match="method must be one of holm, bh"):
        stats.adjust_pvalues(p, "bonferroni")


def test_a_perfect_ordering_of_four_is_not_significant():
    # The case: scipy's spearmanr prints p = 0.000 for rho = 1 at n = 4; exactly, 2 of 24 orderings are as extreme.
    for method in ("spearman", "kendall"):
        result = stats.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40], method)
        assert result == {"n": 4, "statistic": 1.0, "p": pytest.approx(2 / 24), "p_method": "exact"}


def _enumerated_p(x, y, statistic) -> float:
    observed = abs(statistic(x, y))
    values = [abs(statistic(x, np.asarray(perm))) for perm in itertools.permutations(y)]
    return float(np.mean([v >= observed - 1e-12 for v in values]))


def test_exact_p_with_ties_is_the_enumeration_of_every_permutation():
    x = np.array([1.0, 2, 2, 3, 5, 6])
    y = np.array([2.0, 1, 3, 3, 6, 4])
    rho = stats.rank_correlation(x, y, "spearman")
    assert rho["statistic"] == pytest.approx(scipy.stats.spearmanr(x, y).statistic)
    assert rho["p"] == pytest.approx(_enumerated_p(x, y, lambda a, b: scipy.stats.spearmanr(a, b).statistic))
    tau = stats.rank_correlation(x, y, "kendall")
    assert tau["statistic"] == pytest.approx(scipy.stats.kendalltau(x, y).statistic)
    assert tau["p"] == pytest.approx(_enumerated_p(x, y, lambda a, b: scipy.stats.kendalltau(a, b).statistic))


def test_medium_n_is_a_seeded_permutation_test_and_large_n_scipys_asymptotic_p():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = x + rng.normal(scale=2, size=30)
    first, again = stats.rank_correlation(x, y), stats.rank_correlation(x, y)
    assert first == again and first["p_method"] == "permutation"
    assert first["p"] == pytest.approx(scipy.stats.spearmanr(x, y).pvalue, abs=0.02)  # the t approximation is close here
    x, y = rng.normal(size=200), rng.normal(size=200)
    big = stats.rank_correlation(x, y, "kendall")
    assert big["p_method"] == "asymptotic" and big["p"] == scipy.stats.kendalltau(x, y).pvalue


def test_too_few_pairs_or_a_constant_give_no_correlation():
    assert stats.rank_correlation([1, 2], [2, 1])["n"] == 2 and math.isnan(stats.rank_correlation([1, 2], [2, 1])["p"])
    assert math.isnan(stats.rank_correlation([1, 2, 3, 4], [5, 5, 5, 5])["statistic"])
    assert stats.rank_correlation([1, 2, np.nan, 4, 5], [1, 3, 2, np.nan, 5])["n"] == 3  # pairs with a NaN dropped
