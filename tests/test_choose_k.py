"""Choosing the number of clusters without labels (zsc.choose_k): the choice itself, the labels it
gives, the checks before any job, and an unlabelled folder run end to end with the default clusterers."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_limits

from conftest import snakemake, snakemake_errors
from zsc import choose_k, tables
from zsc import config as cfg
from zsc.clusterers import CLUSTERERS, candidates, cluster, n_clusters_asked
from zsc.metrics import silhouettes


def spec(kind: str, **options) -> dict:
    """A resolved clusterer entry of registry type `kind`."""
    return {"type": kind, "name": kind, **CLUSTERERS[kind].defaults(), **options}


def blobs(n=400, centres=4, d=6, seed=0) -> np.ndarray:
    X, _ = make_blobs(n, n_features=d, centers=centres, cluster_std=0.8, center_box=(-12, 12), random_state=seed)
    return X.astype(np.float32)


METHODS = [
    spec("kmeans"),
    spec("agglomerative"),  # ward: fastcluster's tree on the vectors
    spec("agglomerative", linkage="average", metric="cosine"),  # the condensed matrix
    spec("agglomerative", linkage="single"),  # scikit-learn's own spanning tree
    spec("spectral"),
    spec("spectral", eigen_solver="lanczos"),
]


def test_the_number_of_clusters_is_given_then_counted_then_none():
    labels = np.array([3, 3, 7, 1, 7])
    assert n_clusters_asked(labels, 12) == 12
    assert n_clusters_asked(labels, None) == 3
    assert n_clusters_asked(np.full(5, -1), None) is None  # a flat folder: the run chooses
    assert n_clusters_asked(np.full(5, -1), 4) == 4
    with pytest.raises(ValueError, match=r"^search.datasets.flat: no labels to count clusters from"):
        n_clusters_asked(np.full(5, -1), None, "search.datasets.flat")  # where a count is needed


@pytest.mark.parametrize("method", METHODS, ids=lambda s: f"{s['type']}-{s.get('linkage', '')}{s.get('eigen_solver', '')}")
def test_choose_k_finds_the_blobs_and_gives_the_labels_of_a_run_given_that_k(method):
    X = blobs()
    choice = choose_k.choose(method, X, None, 3, candidates)
    assert choice.k == 4 and choice.criterion == "silhouette_reduced"
    assert list(choice.curve) == list(range(2, 21))  # default k_max: floor(sqrt(400)) = 20
    assert max(choice.curve, key=choice.curve.get) == 4
    direct = CLUSTERERS.build(method, n_clusters=4, n_samples=len(X), seed=3).fit_predict(X)
    np.testing.assert_array_equal(choice.labels, direct)


@pytest.mark.parametrize("method", [spec("agglomerative"), spec("agglomerative", linkage="single")], ids=["ward", "single"])
def test_one_tree_cut_at_every_k_gives_every_direct_runs_labels(method):
    X = blobs(n=150, centres=5)
    cuts, _ = CLUSTERERS[method["type"]].info["candidates"](method, X, [2, 3, 7, 12], 1)
    for k, labels in cuts.items():
        np.testing.assert_array_equal(labels, CLUSTERERS.build(method, n_clusters=k, n_samples=len(X), seed=1).fit_predict(X))


def test_each_k_is_scored_by_its_silhouette_in_the_space_given():
    X = blobs(n=300, centres=3)
    space = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)  # another space: other scores
    choice = choose_k.choose(spec("kmeans", choose_k={"k_max": 6}), X, space, 2, candidates)
    assert choice.criterion == "silhouette_umap" and list(choice.curve) == [2, 3, 4, 5, 6]
    for k, score in choice.curve.items():
        labels = CLUSTERERS.build(spec("kmeans"), n_clusters=k, n_samples=300, seed=2).fit_predict(X)
        assert score == silhouettes(space, {k: labels}, 10000, 2)[k]
    on_X = choose_k.choose(spec("kmeans", choose_k={"k_max": 6, "criterion": "silhouette_reduced"}), X, space, 2, candidates)
    assert on_X.criterion == "silhouette_reduced" and on_X.k == 3 and on_X.curve != choice.curve


def test_the_choice_is_the_same_on_a_rerun_and_on_any_thread_count():
    X = blobs(n=500, centres=6, d=10, seed=4)
    space = X[:, :5] * 2
    runs = []
    for threads in (1, 2, 1):
        with threadpool_limits(limits=threads):
            runs += [choose_k.choose(method, X, space, 7, candidates) for method in (METHODS[0], METHODS[1], METHODS[4])]
    first, second, third = runs[:3], runs[3:6], runs[6:]
    for a, b, c in zip(first, second, third):
        assert a.record() == b.record() == c.record()
        np.testing.assert_array_equal(a.labels, b.labels)


def test_the_candidates_are_k_min_to_a_cap_that_grows_with_n():
    defaults = choose_k.settings({})
    assert choose_k.candidate_ks(defaults, 60) == list(range(2, 8))  # floor(sqrt(60)) = 7
    assert choose_k.candidate_ks(defaults, 1797) == list(range(2, 43))
    assert choose_k.candidate_ks(defaults, 100_000) == list(range(2, 51))  # capped at 50
    assert choose_k.candidate_ks({**defaults, "k_min": 3, "k_max": 30}, 12) == list(range(3, 12))  # k < N
    with pytest.raises(choose_k.ChooseKError, match=r"^choose_k: no k from k_min 5 to k_max 9 can be scored on 4 points"):
        choose_k.candidate_ks({**defaults, "k_min": 5, "k_max": 9}, 4)


def test_auto_chooses_only_without_a_count_always_chooses_never_does_not():
    for when, counted, expected in [
        ("auto", True, False),
        ("auto", False, True),
        ("always", True, True),
        ("never", False, False),
    ]:
        assert choose_k.chooses(spec("kmeans", choose_k={"when": when}), counted) is expected
    assert choose_k.chooses(spec("hdbscan"), False) is False  # finds k itself


def write_embeddings(path, X, labels):
    tables.write(path, {"index": np.arange(len(X)), "label": np.asarray(labels, dtype=np.int64), tables.VECTOR: X})


def three_kinds(n=20, seed=0) -> np.ndarray:
    X, _ = make_blobs(3 * n, n_features=4, centers=3, cluster_std=0.5, center_box=(-10, 10), random_state=seed)
    return X.astype(np.float32)


def test_a_cluster_job_on_unlabelled_data_records_the_chosen_k_and_its_curve(tmp_path, caplog):
    X = three_kinds()
    write_embeddings(tmp_path / "emb.parquet", X, np.full(len(X), -1))
    caplog.set_level(logging.INFO)
    cluster(tmp_path / "emb.parquet", tmp_path / "emb.parquet", tmp_path / "c.parquet", spec("kmeans"), seed=1, dataset="flat")
    labels, meta = tables.read(tmp_path / "c.parquet")
    assert meta["k_chosen"] == 3 and meta["k_criterion"] == "silhouette_reduced"  # no UMAP space given
    assert list(json.loads(meta["k_curve"])) == [str(k) for k in range(2, 8)]
    assert len(np.unique(labels["label_pred"])) == 3 and "kmeans chose k=3 by silhouette_reduced" in caplog.text
    # labelled data: the classes present, nothing chosen
    write_embeddings(tmp_path / "labelled.parquet", X, np.repeat([0, 1, 2, 3], 15))
    cluster(tmp_path / "labelled.parquet", tmp_path / "labelled.parquet", tmp_path / "l.parquet", spec("kmeans"), seed=1)
    labels, meta = tables.read(tmp_path / "l.parquet")
    assert "k_chosen" not in meta and len(np.unique(labels["label_pred"])) == 4
    # never: the job stops with the two ways out (the config check says it before any job)
    with pytest.raises(ValueError, match=r"set datasets.flat.n_clusters, or let clusterers.kmeans choose it"):
        cluster(
            tmp_path / "emb.parquet",
            tmp_path / "emb.parquet",
            tmp_path / "n.parquet",
            spec("kmeans", choose_k={"when": "never"}),
            seed=1,
            dataset="flat",
        )


def test_too_few_points_to_choose_is_a_failed_cell_naming_the_key(tmp_path):
    write_embeddings(tmp_path / "emb.parquet", three_kinds(n=1), np.full(3, -1))
    cluster(
        tmp_path / "emb.parquet", tmp_path / "emb.parquet", tmp_path / "c.parquet", spec("kmeans", choose_k={"k_min": 3}), seed=1
    )
    assert tables.not_run(tmp_path / "c.parquet") == (
        "failed",
        "clusterers.kmeans.choose_k: no k from k_min 3 to k_max 1 can be scored on 3 points (2 <= k < N)",  # floor(sqrt(3))
    )


def test_all_noise_is_said_in_the_log_and_kept_as_a_note(tmp_path, caplog):
    X = three_kinds()  # three groups of 20: above HDBSCAN's largest cluster (20% of 60 = 12), so all noise
    write_embeddings(tmp_path / "emb.parquet", X, np.full(len(X), -1))
    cluster(tmp_path / "emb.parquet", tmp_path / "emb.parquet", tmp_path / "h.parquet", spec("hdbscan"), seed=1)
    labels, meta = tables.read(tmp_path / "h.parquet")
    assert (labels["label_pred"] == -1).all()
    assert meta["note"] == "all points noise: hdbscan (hdbscan) found no cluster in N=60"
    assert "WARNING" in caplog.text and meta["note"] in caplog.text


# ---------------------------------------------------------------------------------------------
# Before any job


def flat_folder(root, per_kind=20, seed=0):
    """`per_kind` generated images of each of three kinds (red, green, blue, with noise), in one flat folder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for c, colour in enumerate([(250, 10, 10), (10, 250, 10), (10, 10, 250)]):
        for i in range(per_kind):
            noisy = np.clip(np.array(colour) + rng.normal(0, 8, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / f"{c}_{i:02d}.png")
    return root


def folder_config(root, clusterers=None, **dataset):
    return {
        "datasets": {"flat": {"type": "imagefolder", "root": str(root), **dataset}},
        "encoders": {"raw": {"image_size": 16}},
        "reducers": {"none": {}},
        "clusterers": clusterers or {"kmeans": {}, "ac_ward": {"type": "agglomerative", "linkage": "ward"}, "hdbscan": {}},
    }


NEVER = {
    "kmeans": {"choose_k": {"when": "never"}},
    "ac_ward": {"type": "agglomerative", "choose_k": {"when": "never"}},
    "hdbscan": {},
}


def test_never_without_labels_or_n_clusters_is_refused_in_one_line(tmp_path):
    root = flat_folder(tmp_path / "flat", per_kind=2)
    with pytest.raises(cfg.ConfigError) as refused:
        cfg.check_config(cfg.load(folder_config(root, NEVER)))
    assert str(refused.value) == (
        "datasets.flat: no labels (a flat image folder) and no n_clusters, and clusterers kmeans, ac_ward are given a number "
        "of clusters with choose_k.when: never: set datasets.flat.n_clusters, or let choose_k choose it (choose_k.when: auto)"
    )
    cfg.check_config(cfg.load(folder_config(root, NEVER, n_clusters=3)))  # a number given
    cfg.check_config(cfg.load(folder_config(root)))  # auto: chosen
    (tmp_path / "classes" / "a").mkdir(parents=True)
    (tmp_path / "classes" / "a" / "0.png").write_bytes((root / "0_00.png").read_bytes())  # a class folder with an image
    cfg.check_config(cfg.load(folder_config(tmp_path / "classes", NEVER)))  # class folders: counted
    with pytest.raises(cfg.ConfigError, match=r"^clusterers.kmeans.choose_k.k_max: 3 is below k_min 5$"):
        cfg.check_config(cfg.load(folder_config(root, {"kmeans": {"choose_k": {"k_min": 5, "k_max": 3}}})))


def test_only_runs_that_choose_wait_for_the_umap_space(tmp_path):
    root = flat_folder(tmp_path / "flat", per_kind=2)
    config = cfg.load({**folder_config(root), "datasets": {"flat": {"type": "imagefolder", "root": str(root)}, "digits": {}}})
    chooses = {(r["dataset"], r["clusterer"]): choose_k.may_choose(config, r) for r in config.runs()}
    assert chooses == {
        ("flat", "kmeans"): True, ("flat", "ac_ward"): True, ("flat", "hdbscan"): False,
        ("digits", "kmeans"): False, ("digits", "ac_ward"): False, ("digits", "hdbscan"): False,
    }  # fmt: skip


def test_the_plan_counts_the_candidates_and_refuses_never(tmp_path):
    import subprocess
    import sys

    from zsc import plan as planning

    root = flat_folder(tmp_path / "flat", per_kind=2)

    def cluster_jobs(clusterers=None, **dataset):
        config = folder_config(root, clusterers, max_samples=5000, **dataset)  # the folder's size is not known before
        (tmp_path / "plan.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        plan = planning.make_plan(planning.load_config(tmp_path / "plan.yaml"), tmp_path, gpu=False)
        return {job.key.rsplit("/", 1)[1]: job for job in plan.jobs if job.stage == "cluster"}

    chosen, given = cluster_jobs(), cluster_jobs(n_clusters=3)
    for name in ("kmeans", "ac_ward"):  # 49 candidates and their silhouettes on 5,000 points
        assert chosen[name].seconds > given[name].seconds + 1 and chosen[name].mem_mb > given[name].mem_mb
    assert chosen["hdbscan"] == given["hdbscan"]
    cluster_jobs(NEVER)  # make_plan itself plans what it is given; the command refuses it
    command = [sys.executable, "-m", "zsc", "plan", "--configfile", str(tmp_path / "plan.yaml"), "--directory", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert (
        result.returncode == 1 and result.stderr.startswith("plan: datasets.flat: no labels") and result.stderr.count("\n") == 1
    )


@pytest.mark.integration
def test_snakemake_refuses_never_before_any_job(tmp_path):
    flat_folder(tmp_path / "flat", per_kind=2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(folder_config("flat", NEVER), sort_keys=False))
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "1")
    assert result.returncode != 0
    assert [line for line in snakemake_errors(result) if line] == [
        "config error: datasets.flat: no labels (a flat image folder) and no n_clusters, and clusterers kmeans, ac_ward are "
        "given a number of clusters with choose_k.when: never: set datasets.flat.n_clusters, or let choose_k choose it "
        "(choose_k.when: auto)"
    ]
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------------------------
# End to end: a flat folder of 60 generated images (three kinds), the default clusterers, no n_clusters


@pytest.fixture(scope="module")
def flat_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("flat_nok")
    flat_folder(work / "flat")
    config = {**folder_config("flat"), "outputs": {"embedding_maps": False}}  # one UMAP fewer to wait for
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(work, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return work


@pytest.mark.integration
def test_unlabelled_folder_runs_end_to_end_each_k_chosen_and_recorded(flat_run):
    runs = pd.read_parquet(flat_run / "results/tables/runs.parquet").set_index("clusterer")
    assert (runs["status"] == "ran").all()
    for name in ("kmeans", "ac_ward"):
        row = runs.loc[name]
        assert row["k_chosen"] == 3 and row["n_clusters_pred"] == 3 and row["k_criterion"] == "silhouette_umap"
        curve = json.loads(row["k_curve"])
        assert list(curve) == [str(k) for k in range(2, 8)] and max(curve, key=curve.get) == "3"
        log = (flat_run / f"results/logs/cluster/flat/all/raw/seed1/none/{name}.log").read_text()
        assert f"{name} chose k=3 by silhouette_umap" in log
    # HDBSCAN finds k itself: here every group of 20 is above its largest cluster (20% of 60), so all noise
    hdbscan = runs.loc["hdbscan"]
    assert pd.isna(hdbscan["k_chosen"]) and hdbscan["k_curve"] == "" and hdbscan["n_clusters_pred"] == 0
    assert hdbscan["note"] == "all points noise: hdbscan (hdbscan) found no cluster in N=60"
    assert (
        "- note: flat / raw / none / hdbscan (seed 1): all points noise"
        in (flat_run / "results/tables/ami_summary.md").read_text()
    )
    # the label-free scores' K-Means agreement chose its k the same way
    labelfree = pd.read_parquet(flat_run / "results/tables/labelfree.parquet").set_index("score")["value"]
    assert labelfree["agreement_umap_ami_mean"] == pytest.approx(1.0)
    assert "K-Means agreement at k=3" in (flat_run / "results/logs/labelfree/flat/all/raw/seed1.log").read_text()
    # the figure and table of the choice; the outputs that need labels say so
    assert {p.name for p in (flat_run / "results/outputs/k_selection").glob("k_*")} == {
        "k_selection_flat.png",
        "k_selection_flat.pdf",
    }
    chosen = pd.read_csv(flat_run / "results/outputs/k_chosen/k_chosen.csv")
    assert chosen["k_chosen"].tolist() == [3, 3] and chosen["classes"].isna().all()
    index = pd.read_csv(flat_run / "results/outputs/outputs_index/outputs_index.csv").set_index("output")
    assert index.loc["silhouette_vs_ami", "why not"] == "needs a labelled dataset"


@pytest.mark.integration
def test_the_chosen_k_and_the_tables_are_identical_on_a_rerun(flat_run):
    before = {name: (flat_run / f"results/tables/{name}.parquet").read_bytes() for name in ("runs", "labelfree")}
    result = snakemake(
        flat_run,
        "--configfile",
        "config.yaml",
        "--cores",
        "2",
        "--forcerun",
        "cluster",
        "labelfree",
        "--",
        "results/tables/runs.parquet",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "rule cluster" in result.stdout + result.stderr  # chosen again, in new processes
    for name, data in before.items():
        assert (flat_run / f"results/tables/{name}.parquet").read_bytes() == data, name
