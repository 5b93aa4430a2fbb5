"""Label-free scores (zsc.labelfree) and labelled reference accuracies (zsc.probes) on data whose answer is known."""

import inspect
import math

import numpy as np
import pytest

from zsc import labelfree, probes

GAUSSIAN_ENTROPY_PER_DIM = 0.5 * math.log(2 * math.pi * math.e)  # of N(0, 1), in nats


def planted(separation: float, seed: int = 0, n_per_class: int = 60, n_classes: int = 4, d: int = 10):
    """Gaussian clusters of unit spread around centres drawn at scale `separation` (same centres for every seed)."""
    centres = np.random.default_rng(123).normal(size=(n_classes, d)) * separation
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + np.random.default_rng(seed).normal(size=(len(y), d)), y


SEPARATIONS = (0.3, 1.0, 3.0)


def strictly_increasing(values) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


# ---------------------------------------------------------------------------------------------- planted clusters


def test_kmeans_agreement_grows_with_cluster_separation():
    scores = [labelfree.kmeans_agreement(planted(s)[0], 4, [0, 1, 2]) for s in SEPARATIONS]
    for key in ("agreement_ami_mean", "agreement_ari_mean", "agreement_ami_min", "agreement_ari_min"):
        assert strictly_increasing([score[key] for score in scores]), key
    assert scores[-1]["agreement_ami_min"] == pytest.approx(1.0)
    assert scores[0]["agreement_ami_mean"] < 0.5


def test_knn_and_linear_probe_accuracy_grow_with_cluster_separation():
    knn, probe = [], []
    for s in SEPARATIONS:
        (train_X, train_y), (test_X, test_y) = planted(s, seed=0), planted(s, seed=1)
        knn.append(probes.weighted_knn_accuracy(train_X, train_y, test_X, test_y, ks=(1, 20))["knn_top1_k20"])
        probe.append(probes.linear_probe_accuracy(train_X, train_y, test_X, test_y)["linear_probe_top1"])
    assert strictly_increasing(knn) and strictly_increasing(probe)
    assert knn[-1] == probe[-1] == 1.0
    assert knn[0] < 0.6 and probe[0] < 0.6  # 4 classes: chance is 0.25


def test_kmeans_agreement_returns_every_seeds_labels_and_nan_without_a_pair():
    X, _ = planted(3.0)
    scores = labelfree.kmeans_agreement(X, 4, [7])
    assert set(scores["labels"]) == {7} and scores["labels"][7].shape == (len(X),)
    assert all(math.isnan(scores[key]) for key in scores if key != "labels")


# ---------------------------------------------------------------------------------------------- pairwise agreement


def test_pairwise_agreement_rows_follow_the_dict_order_and_keep_noise_as_a_label():
    a = np.array([0, 0, 1, 1, -1, -1])
    relabelled = np.array([5, 5, 3, 3, 9, 9])  # a with other names: noise (-1) counted as a cluster of its own
    other = np.array([0, 1, 0, 1, 0, 1])
    table = labelfree.pairwise_agreement({"a": a, "relabelled": relabelled, "other": other})
    assert list(table.columns) == ["a", "b", "AMI", "ARI"]
    assert list(zip(table["a"], table["b"])) == [("a", "relabelled"), ("a", "other"), ("relabelled", "other")]
    assert table["AMI"][0] == pytest.approx(1.0) and table["ARI"][0] == pytest.approx(1.0)
    assert table["ARI"][1] < 0.5
    assert len(labelfree.pairwise_agreement({"only": a})) == 0


# ---------------------------------------------------------------------------------------------- Gaussian entropy


def closed_form(correlation: np.ndarray) -> float:
    return 0.5 * np.linalg.slogdet(2 * np.pi * np.e * correlation)[1]


def test_gaussian_entropy_of_independent_dimensions_is_that_of_a_standard_normal():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 4)) * [1.0, 10.0, 0.1, 3.0] + [0, 5, -2, 1]  # scales and means are standardised away
    scores = labelfree.gaussian_entropy(X)
    assert scores["entropy_gaussian"] == pytest.approx(closed_form(np.eye(4)), abs=0.02)
    assert scores["entropy_gaussian_per_dim"] == pytest.approx(GAUSSIAN_ENTROPY_PER_DIM, abs=0.005)
    assert scores["entropy_gaussian_dims"] == 4 and scores["entropy_gaussian_shrinkage"] == 0.0
    assert scores["effective_rank"] == pytest.approx(4.0, abs=0.01)


def test_gaussian_entropy_of_correlated_dimensions_matches_the_closed_form_of_their_correlation():
    std = np.array([2.0, 1.0, 0.5])
    correlation = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]])
    covariance = correlation * np.outer(std, std)
    X = np.random.default_rng(1).multivariate_normal(np.zeros(3), covariance, size=50000)
    scores = labelfree.gaussian_entropy(X)
    assert scores["entropy_gaussian"] == pytest.approx(closed_form(correlation), abs=0.03)
    assert closed_form(correlation) < closed_form(np.eye(3)) - 0.5  # the correlation is visible at this tolerance
    eigenvalues = np.linalg.eigvalsh(correlation)
    p = eigenvalues / eigenvalues.sum()
    assert scores["effective_rank"] == pytest.approx(np.exp(-np.sum(p * np.log(p))), abs=0.02)


def test_gaussian_entropy_is_finite_when_rank_deficient():
    rng = np.random.default_rng(2)
    fewer_points_than_dims = rng.normal(size=(50, 200))
    low_rank = rng.normal(size=(1000, 3)) @ rng.normal(size=(3, 10))  # N > d but rank 3: eigenvalue floor
    with_constant_dims = np.hstack([rng.normal(size=(100, 5)), np.ones((100, 2))])
    wide = labelfree.gaussian_entropy(fewer_points_than_dims)
    assert np.isfinite(wide["entropy_gaussian"]) and 0 < wide["entropy_gaussian_shrinkage"] <= 1
    assert wide["entropy_gaussian_per_dim"] <= GAUSSIAN_ENTROPY_PER_DIM + 1e-9
    assert wide["effective_rank"] <= 49 + 1e-6  # centred 50 points span 49 directions
    flat = labelfree.gaussian_entropy(low_rank)
    assert np.isfinite(flat["entropy_gaussian"]) and flat["entropy_gaussian_shrinkage"] == 0.0
    assert flat["entropy_gaussian_per_dim"] < GAUSSIAN_ENTROPY_PER_DIM - 1  # collapsed onto 3 of 10 directions
    assert flat["effective_rank"] < 3 + 1e-6
    assert labelfree.gaussian_entropy(with_constant_dims)["entropy_gaussian_dims"] == 5


# ---------------------------------------------------------------------------------------------- kNN entropy


@pytest.mark.parametrize("d", [2, 3])
def test_knn_entropy_is_close_to_that_of_a_standard_normal_at_low_dimension(d):
    X = np.random.default_rng(d).normal(size=(8000, d)) * 4.0 + 1.0
    scores = labelfree.knn_entropy(X, k=5, max_samples=5000, seed=0)
    assert scores["entropy_knn_samples"] == 5000 and scores["entropy_knn_dims"] == d
    assert scores["entropy_knn"] == pytest.approx(d * GAUSSIAN_ENTROPY_PER_DIM, abs=0.1)
    assert scores["entropy_knn_per_dim"] == pytest.approx(scores["entropy_knn"] / d)


def test_knn_entropy_is_finite_with_duplicate_points():
    X = np.random.default_rng(3).normal(size=(100, 3))
    duplicated = np.vstack([X] * 6)  # every point's 5 nearest others are copies of it, at distance 0
    half = np.vstack([X[:50]] * 6 + [X[50:]])
    assert np.isfinite(labelfree.knn_entropy(half)["entropy_knn"])
    assert math.isnan(labelfree.knn_entropy(duplicated)["entropy_knn"])  # nothing left to estimate from


# ---------------------------------------------------------------------------------------------- label-free and deterministic


def test_label_free_scores_take_no_labels_and_are_deterministic():
    for score in (labelfree.kmeans_agreement, labelfree.gaussian_entropy, labelfree.knn_entropy):
        assert not any("label" in name or name in ("y", "target") for name in inspect.signature(score).parameters)
    X, y = planted(1.0)
    shuffled = np.random.default_rng(0).permutation(y)  # the same points under other labels: same inputs, same scores
    for compute in (
        lambda X, y: labelfree.kmeans_agreement(X, 4, [0, 1, 2]),
        lambda X, y: labelfree.gaussian_entropy(X),
        lambda X, y: labelfree.knn_entropy(X, max_samples=100, seed=4),
    ):
        first, again, relabelled = compute(X, y), compute(X, y), compute(X, shuffled)
        for key in first:
            if key == "labels":
                assert all(np.array_equal(first[key][s], again[key][s]) for s in first[key])
            else:
                assert first[key] == again[key] == relabelled[key]


def test_entropies_do_not_depend_on_the_order_of_the_points():
    X = np.random.default_rng(5).normal(size=(300, 6)) @ np.random.default_rng(6).normal(size=(6, 6))
    order = np.random.default_rng(7).permutation(len(X))
    for compute in (labelfree.gaussian_entropy, lambda X: labelfree.knn_entropy(X, max_samples=None)):
        first, permuted = compute(X), compute(X[order])
        assert all(first[key] == pytest.approx(permuted[key], rel=1e-9) for key in first)


# ---------------------------------------------------------------------------------------------- weighted kNN


def brute_force_weighted_knn(train_X, train_y, test_X, test_y, k, temperature):
    """DINO's weighted kNN written out: neighbours by cosine similarity (lower index first among equals),
    votes exp(similarity / T), the class sorting first among equal votes."""
    correct = 0
    for query, truth in zip(test_X, test_y):
        similarities = []
        for j, point in enumerate(train_X):
            cosine = sum(q * p for q, p in zip(query, point)) / (
                math.sqrt(sum(q * q for q in query)) * math.sqrt(sum(p * p for p in point))
            )
            similarities.append((cosine, j))
        neighbours = sorted(similarities, key=lambda pair: (-pair[0], pair[1]))[: min(k, len(train_X))]
        votes = {c: 0.0 for c in sorted(set(train_y))}
        for cosine, j in neighbours:
            votes[train_y[j]] += math.exp(cosine / temperature)
        best = max(votes.values())
        predicted = min(c for c, v in votes.items() if v == best)
        correct += predicted == truth
    return correct / len(test_X)


def test_weighted_knn_accuracy_matches_a_brute_force_reference():
    rng = np.random.default_rng(8)
    train_X, train_y = rng.normal(size=(60, 5)), rng.integers(0, 4, size=60)
    train_X[40:50] = train_X[0:10]  # exact ties in similarity, under other labels: broken by the lower index
    train_y[40:50] = (train_y[0:10] + 1) % 4
    test_X, test_y = rng.normal(size=(23, 5)), rng.integers(0, 4, size=23)
    test_X[:5] = train_X[:5] * 2.0  # queries exactly on a duplicated train point
    ks = (1, 2, 3, 10, 200)  # 200 > 60 train points: clipped
    for batch_size in (1024, 7):
        scores = probes.weighted_knn_accuracy(train_X, train_y, test_X, test_y, ks=ks, temperature=0.1, batch_size=batch_size)
        assert list(scores) == [f"knn_top1_k{k}" for k in ks]
        for k in ks:
            assert scores[f"knn_top1_k{k}"] == brute_force_weighted_knn(train_X, train_y, test_X, test_y, k, 0.1), (k, batch_size)
    assert probes.weighted_knn_accuracy(train_X, train_y, train_X[:10], train_y[:10], ks=(1,))["knn_top1_k1"] == 1.0


def test_weighted_knn_accuracy_breaks_ties_by_lower_train_index():
    rng = np.random.default_rng(9)
    directions = rng.normal(size=(6, 4))
    train_X, train_y = directions[rng.integers(0, 6, size=80)], rng.integers(0, 3, size=80)  # 6 points, many copies
    test_X, test_y = rng.normal(size=(40, 4)), rng.integers(0, 3, size=40)
    ks = (1, 2, 3, 5, 10, 30)
    for batch_size in (1024, 3):
        scores = probes.weighted_knn_accuracy(train_X, train_y, test_X, test_y, ks=ks, temperature=0.07, batch_size=batch_size)
        for k in ks:
            assert scores[f"knn_top1_k{k}"] == brute_force_weighted_knn(train_X, train_y, test_X, test_y, k, 0.07), (
                k,
                batch_size,
            )


# ---------------------------------------------------------------------------------------------- linear probe and splits


def test_linear_probe_picks_the_smallest_of_equally_good_Cs():
    X, y = planted(5.0)
    scores = probes.linear_probe_accuracy(X, y, X, y, Cs=(100, 1, 0.01))
    assert scores == {"linear_probe_top1": 1.0, "linear_probe_C": 0.01, "linear_probe_val_top1": 1.0}


def test_probe_split_is_a_seeded_stratified_partition():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    probe, rest = probes.probe_split(labels, 0.2, seed=0)
    assert np.array_equal(np.sort(np.concatenate([probe, rest])), np.arange(100))
    assert np.all(np.diff(probe) > 0) and np.all(np.diff(rest) > 0)
    assert np.bincount(labels[probe]).tolist() == [10, 6, 4]
    again, _ = probes.probe_split(labels, 0.2, seed=0)
    other, _ = probes.probe_split(labels, 0.2, seed=1)
    assert np.array_equal(probe, again) and not np.array_equal(probe, other)
    with_singleton = np.append(labels, 3)  # a class of one point cannot be stratified: an unstratified split instead
    probe, rest = probes.probe_split(with_singleton, 0.2, seed=0)
    assert len(probe) + len(rest) == 101 and len(probe) == pytest.approx(20, abs=1)


def test_the_labelfree_stage_gives_identical_scores_with_shuffled_labels(tmp_path):
    """The stage itself (labelfree.score_embeddings) reads no label but their count: its rows for an
    embeddings file and for the same file with the labels permuted are equal, value for value."""
    import pandas as pd

    from zsc import tables

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (4, 12))
    labels = np.repeat(np.arange(4), 50)
    X = (centres[labels] + rng.normal(0, 1, (200, 12))).astype(np.float32)
    clusters = {"kmeans": labels, "other": (labels + (rng.random(200) < 0.1)) % 4}  # two clusterers' partitions
    rows = {}
    for name, y in {"labels": labels, "shuffled": rng.permutation(labels)}.items():
        tables.write(tmp_path / f"{name}.parquet", {"index": np.arange(200), "label": y, tables.VECTOR: X})
        runs = []
        for clusterer, pred in clusters.items():
            path = tmp_path / f"{name}-{clusterer}.parquet"
            tables.write(path, {"index": np.arange(200), "label_pred": pred})
            keys = {"dataset": "d", "split": "test", "encoder": "e", "reducer": "none", "clusterer": clusterer, "seed": 1}
            runs.append({"run": keys, "clusters": str(path), "reduced": str(tmp_path / f"{name}.parquet")})
        settings = {"agreement_seeds": 3, "entropy_knn_k": 5, "entropy_max_samples": None}
        labelfree.score_embeddings(tmp_path / f"{name}.parquet", runs, tmp_path / f"{name}-scores.parquet", settings, None, 1)
        rows[name] = pd.read_parquet(tmp_path / f"{name}-scores.parquet")
    pd.testing.assert_frame_equal(rows["labels"], rows["shuffled"])
    scores = rows["labels"].set_index("score")["value"]
    assert set(scores.index) == {
        *(f"agreement_og_{m}" for m in ("ami_mean", "ami_min", "ari_mean", "ari_min")),
        "clusterer_agreement_ami", "clusterer_agreement_ari",
        "entropy_gaussian", "entropy_gaussian_per_dim", "effective_rank", "entropy_knn", "entropy_knn_per_dim",
    }  # fmt: skip
    assert scores["agreement_og_ami_mean"] > 0.9 and 0.6 < scores["clusterer_agreement_ami"] < 1
