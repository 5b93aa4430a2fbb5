"""The hyper-parameter search: greedy steps, the weighted objective, and the config's search section."""

import math

import numpy as np
import pytest

from zsc import config as cfg
from zsc.clusterers import CLUSTERERS
from zsc.search import Search, weighted_score


def nested_blobs():
    """Nine tight blobs in three groups: labelled by group (3 classes) or by blob (9 classes)."""
    rng = np.random.default_rng(0)
    centres = np.array([[20.0 * g + b, 0.0] for g in range(3) for b in range(3)])
    X = np.concatenate([c + rng.normal(scale=0.02, size=(20, 2)) for c in centres])
    blob = np.repeat(np.arange(9), 20)
    return X, blob // 3, blob


def load(weights, **plans):
    config = {
        "datasets": {"coarse": {"type": "digits"}, "fine": {"type": "digits"}, "digits": {}},
        "encoders": {"raw": {}},
        "reducers": {"none": {}, "zscore": {}},
        "clusterers": {
            "ac_c": {"type": "agglomerative", "linkage": "single"},
            "cut": {
                "type": "agglomerative_threshold",
                "linkage": "single",
                "distance_threshold": 1.0,
                "average_zscore": False,
                "dimension_correction": False,
            },
        },
        "search": {"datasets": weights, "clusterers": plans},
    }
    return cfg.load(config)


def run(config):
    X, groups, blobs = nested_blobs()
    search = config["search"]
    clusterers = {name: config.entry("clusterers", name) for name in search["clusterers"]}
    reducers = {name: config.entry("reducers", name) for name in config["reducers"]}
    data = {"coarse": (X, groups), "fine": (X, blobs)}
    s = Search(data, search["datasets"], reducers, clusterers, search["seed"])
    return s.run(search["clusterers"]), s.trace


@pytest.mark.parametrize("weights, best", [({"coarse": 2, "fine": 1}, 5.0), ({"coarse": 1, "fine": 2}, 0.5)])
def test_the_weighted_objective_picks_the_planted_best(weights, best):
    # a cut at 5 finds the 3 groups (AMI 1 on coarse, ~0.7 on fine), at 0.5 the 9 blobs (the reverse)
    config = load(weights, cut={"steps": [{"distance_threshold": [0.001, 0.5, 5.0, 100.0]}]})
    chosen, trace = run(config)
    assert chosen["cut"]["options"]["distance_threshold"] == best
    assert chosen["cut"]["reducer"] == "none"  # the reduction step ran first (ties: the first listed)
    assert [row["step"] for row in trace] == [0, 0, 1, 1, 1, 1]
    scores = {row["settings"]: row["score"] for row in trace if row["step"] == 1}
    assert max(scores.values()) == pytest.approx(chosen["cut"]["score"])


def test_later_clusterer_starts_from_an_earlier_ones_choice_and_bad_combinations_are_traced():
    config = load(
        {"coarse": 1, "fine": 1},
        ac_c={"steps": [{"linkage": ["ward", "single"], "metric": ["l1", "euclidean"]}]},
        cut={"after": "ac_c", "steps": [{"distance_threshold": [0.5, 5.0]}]},
    )
    chosen, trace = run(config)
    assert chosen["cut"]["reducer"] == chosen["ac_c"]["reducer"]
    assert {k: chosen["cut"]["options"][k] for k in ("linkage", "metric")} == {
        k: chosen["ac_c"]["options"][k] for k in ("linkage", "metric")
    }
    ward_l1 = [row for row in trace if row["settings"] == '{"linkage": "ward", "metric": "l1"}']
    assert ward_l1[0]["score"] == -math.inf and "needs metric 'euclidean'" in ward_l1[0]["skipped"]
    assert all(row["step"] == 0 for row in trace if row["clusterer"] == "cut")  # no reduction step of its own


def test_skipped_datasets_do_not_count():
    assert weighted_score({"a": 0.9, "b": 0.3}, {"a": 2, "b": 1, "c": 1}) == pytest.approx(0.7)
    config = load({"coarse": 2, "fine": 1}, cut={"skip_datasets": ["coarse"], "steps": [{"distance_threshold": [0.5, 5.0]}]})
    chosen, trace = run(config)
    assert chosen["cut"]["options"]["distance_threshold"] == 0.5  # only the fine labels are scored
    assert all(math.isnan(row["AMI_coarse"]) for row in trace)


def test_search_datasets_are_not_in_the_run_grid():
    config = load({"coarse": 2, "fine": 1}, cut={})
    assert {run["dataset"] for run in config.runs()} == {"digits"}
    assert config["search"]["seed"] == 100 and config["search"]["reducers"] == ["none", "zscore"]


@pytest.mark.parametrize(
    "weights, plans, message",
    [
        ({"nope": 1}, {"cut": {}}, "search.datasets: 'nope' is not one of the config's datasets"),
        ({"fine": 1}, {"kmeans": {}}, "search.clusterers: 'kmeans' is not one of the config's clusterers"),
        (
            {"fine": 1},
            {"cut": {"steps": [{"damping": [0.5]}]}},
            "search.clusterers.cut.steps.0: 'damping' is not a setting of cut",
        ),
        ({"fine": 1}, {"cut": {"steps": [{"linkage": ["wrd"]}]}}, "search.clusterers.cut.steps.0.linkage: 'wrd' is not one of"),
        (
            {"fine": 1},
            {"cut": {"after": "ac_c"}, "ac_c": {}},
            "search.clusterers.cut.after: 'ac_c' is not a clusterer searched before it",
        ),
        ({"fine": 1}, {"cut": {"skip_datasets": ["fine"]}}, "search.clusterers.cut.skip_datasets: skips every search dataset"),
        (
            {"fine": 1},
            {"cut": {"steps": [{"reducer": ["umap9"]}]}},
            "search.clusterers.cut.steps.0.reducer: 'umap9' is not one of",
        ),
    ],
)
def test_bad_search_sections_are_named(weights, plans, message):
    with pytest.raises(cfg.ConfigError) as err:
        load(weights, **plans)
    assert str(err.value).startswith(message)


def test_a_dataset_over_the_memory_limit_does_not_count_and_is_traced():
    X, groups, blobs = nested_blobs()
    config = load({"coarse": 1, "fine": 1}, ac_c={})
    search = config["search"]
    clusterers = {"ac_c": config.entry("clusterers", "ac_c")}
    reducers = {name: config.entry("reducers", name) for name in config["reducers"]}
    small = (X[::3], blobs[::3])  # 60 points fit in the limit, 180 do not
    memory = CLUSTERERS["agglomerative"].info["memory"]
    limit = (memory(60, 2, clusterers["ac_c"]) + memory(180, 2, clusterers["ac_c"])) / 2
    s = Search({"coarse": (X, groups), "fine": small}, search["datasets"], reducers, clusterers, 100, memory_gb=limit / 2**30)
    s.run(search["clusterers"])
    assert all(
        math.isnan(row["AMI_coarse"]) and row["skipped"].startswith("coarse: ac_c (agglomerative) on N=180") for row in s.trace
    )
    assert all(row["score"] == row["AMI_fine"] for row in s.trace)
