"""The whole workflow end to end on tests/configs/tiny.yaml (about a minute on 2 cores)."""

import hashlib
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import timm
import torch
import yaml

from conftest import REPO, snakemake, snakemake_errors
from synthetic import output_suffixes
from zsc import tables
from zsc import config as cfg
from zsc.clusterers import CLUSTERERS
from zsc.outputs import OUTPUTS
from zsc.outputs import facts as outputs_facts_of

pytestmark = pytest.mark.integration

TINY = REPO / "tests" / "configs" / "tiny.yaml"


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run or dry run."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    shutil.copy(TINY, work / "config.yaml")
    result = snakemake(work, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return work


def test_tables_and_figures(workdir):
    runs = pd.read_parquet(workdir / "results/tables/runs.parquet")
    assert len(runs) == 1 * 2 * 3 * 3  # datasets x encoders x reducers x clusterers (1 seed)
    for column in [
        "dataset",
        "group",
        "split",
        "encoder",
        "reducer",
        "clusterer",
        "seed",
        "config_hash",
        "AMI",
        "ARI",
        "n_clusters_true",
        "n_clusters_pred",
        "ratio_clustered",
        "silhouette_og",
        "silhouette_reduced",
        "AMI_clus",
        "FMS",
        "homogeneity",
        "completeness",
        "silhouette_umap",
        "silhouette_og_true",
        "silhouette_umap_true",
        "calinski_harabasz",
        "davies_bouldin",
    ]:
        assert column in runs.columns
    assert not {"k_chosen", "k_criterion", "k_curve"} & set(runs.columns)  # labelled: k = the classes present, nothing chosen
    # One shared UMAP-50 space per embeddings: every run of an encoder has the same true-label silhouette there.
    assert runs.groupby("encoder")["silhouette_umap_true"].nunique().eq(1).all()
    assert runs["n_clusters_true"].eq(10).all() and runs["n_samples"].eq(300).all()
    by_run = runs.set_index(["encoder", "reducer", "clusterer"])
    assert by_run.loc[("raw", "umap5", "kmeans"), "AMI"] > 0.7  # measured 0.81
    assert by_run.loc[("raw", "none", "kmeans"), "n_clusters_pred"] == 10
    none = runs[runs["reducer"] == "none"]
    assert (none["silhouette_og"] == none["silhouette_reduced"]).all()
    assert not (workdir / "results/reduced/digits/all/raw/seed1/none.parquet").exists()  # 'none' writes nothing

    summary = pd.read_csv(workdir / "results/tables/ami_summary.csv")
    assert list(summary.columns) == ["dataset", "encoder", "reducer", "ac_ward", "hdbscan", "kmeans"]  # sorted
    assert len(summary) == 6
    assert "| dataset" in (workdir / "results/tables/ami_summary.md").read_text()
    times = pd.read_csv(workdir / "results/tables/stage_times.csv")
    # reductions: zpca10 and umap5 per encoder, its shared UMAP-50 space and its 2-D map
    counts = {"cluster": 18, "evaluate": 2, "reduce": 8, "embed": 2, "labelfree": 2, "probes": 2}
    assert times["stage"].value_counts().to_dict() == counts
    # AMI against every label level: digits has only its class label
    levels = pd.read_parquet(workdir / "results/tables/labels.parquet")
    assert len(levels) == len(runs) and set(levels["level"]) == {"label"}
    np.testing.assert_allclose(levels["AMI"].to_numpy(), runs["AMI"].to_numpy())
    assert (workdir / "results/logs/embed/digits/all/random_tiny.log").read_text().count("images/s") >= 1


def outputs_facts(workdir):
    return outputs_facts_of(cfg.load(yaml.safe_load((workdir / "config.yaml").read_text())))


def test_finished_workflow_has_nothing_to_do(workdir):
    result = snakemake(workdir, "-n", "--configfile", "config.yaml")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_one_clusterer_parameter_reruns_only_its_jobs(workdir):
    config = yaml.safe_load(TINY.read_text())
    config["clusterers"]["hdbscan"] = {"min_cluster_size": 10}
    (workdir / "changed.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", "changed.yaml")
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    # clustering reruns per run; the evaluate and labelfree jobs of each encoder read all its runs;
    # the outputs are rendered again from the new tables
    rendered = len([e for e in OUTPUTS if not e.info["missing"](outputs_facts(workdir))])
    assert job_counts(output) == {"cluster": 6, "evaluate": 2, "labelfree": 2, "aggregate": 1, "render": rendered, "all": 1}
    clusterers = set(re.findall(r"clusterer=(\w+)", output))
    assert clusterers == {"hdbscan"}


def test_schema_error_stops_before_any_job(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["clusterers"]["kmean"] = {}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--configfile", "bad.yaml", "--cores", "1")
    assert result.returncode != 0
    allowed = CLUSTERERS.names()
    assert snakemake_errors(result) == [f"config error: clusterers.kmean.type: 'kmean' is not one of {allowed} (close: kmeans)"]
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_every_output_the_config_provides_is_rendered_and_the_rest_are_listed(workdir):
    facts = outputs_facts(workdir)
    for entry in OUTPUTS:
        folder = workdir / "results/outputs" / entry.name
        if entry.name in facts["not_produced"]:
            assert not folder.exists(), entry.name
            continue
        files = {p.suffix for p in folder.iterdir() if not p.name.startswith(".")}  # not snakemake's .snakemake_timestamp
        assert files == output_suffixes(entry), entry.name  # the per-image tables add parquet; contact sheets: PNG only
    index = pd.read_csv(workdir / "results/outputs/outputs_index/outputs_index.csv").set_index("output")
    assert index.loc["delta_vs_supervised", "produced"] == "no" and "supervised" in index.loc["delta_vs_supervised", "why not"]
    assert index.loc["main_ami", "produced"] == "yes"
    # the label-free half: scores per encoder without labels, probes with them, the encoder choice
    labelfree = pd.read_parquet(workdir / "results/tables/labelfree.parquet")
    assert {
        "agreement_og_ami_mean",
        "agreement_umap_ami_mean",
        "clusterer_agreement_ami",
        "entropy_gaussian_per_dim",
        "effective_rank",
        "entropy_knn",
        "silhouette_og_kmeans_none",
        "silhouette_umap_kmeans_umap5",
    } <= set(labelfree["score"])
    assert labelfree.groupby("encoder")["score"].nunique().nunique() == 1  # every encoder has every score
    probes = pd.read_parquet(workdir / "results/tables/probes.parquet").set_index("encoder")
    assert (probes["probe_mode"] == "carve").all()  # digits has no train split: a stratified carve
    assert probes.loc["raw", "knn_top1_k10"] > 0.9 and probes.loc["raw", "linear_probe_top1"] > 0.9  # measured 0.98, 0.96
    choice = pd.read_csv(workdir / "results/outputs/encoder_choice/encoder_choice_by_score.csv")
    assert set(choice["recommended"]) <= {"Raw image", "random_tiny"} and choice["regret (AMI x 100)"].notna().all()
    recommended = pd.read_csv(workdir / "results/outputs/encoder_choice/encoder_choice.csv")
    assert list(recommended["dataset"]) == ["Digits"] and recommended["regret (AMI x 100)"].notna().all()
    # the per-image table: each manifest index with its class and the cluster it got in every run
    table = pd.read_parquet(workdir / "results/outputs/assignments/assignments_digits.parquet")
    manifest = pd.read_parquet(workdir / "resources/datasets/digits/manifest-all.parquet")
    assert list(table["index"]) == list(manifest["index"]) and len(table.columns) == 3 + 18  # index, label, cluster, 18 runs
    assert (table["label"] == manifest["label"].astype(str)).all()  # digits' classes are named "0" ... "9"
    sheets = list((workdir / "results/outputs/cluster_sheets").glob("sheet_digits_*.png"))
    assert len(sheets) == table["cluster"].nunique()
    maps = sorted(p.name for p in (workdir / "results/outputs/embedding_maps").glob("*.png"))
    assert maps == ["map_digits.png"]  # one grid per dataset, a panel per encoder


def test_every_figure_of_the_run_passes_the_figure_checks(workdir, tmp_path, monkeypatch):
    from test_outputs import render_checked

    monkeypatch.chdir(workdir)  # the run's files (zsc.dag's paths, relative) and digits' images are where its jobs found them
    facts = outputs_facts(workdir)
    tables = {name: f"results/tables/{name}.parquet" for name in ("runs", "labels", "labelfree", "probes")}
    figures = [e.name for e in OUTPUTS if e.info["kind"] == "figure" and e.name not in facts["not_produced"]]
    problems = render_checked(figures, tables, facts, facts["files"], tmp_path, monkeypatch, save=False)
    assert len(problems) >= len(figures) and {name: found for name, found in problems.items() if found} == {}


def test_the_run_validates_the_scores_and_each_per_image_row_is_that_image(workdir):
    """What the finished run gives a user beside the recommendation: the score validation on its labelled
    dataset, and a per-image table whose every row is the dataset's image of that index."""
    from zsc.datasets import open_split

    outputs = workdir / "results/outputs"
    recommended = pd.read_csv(outputs / "encoder_choice/encoder_choice.csv")
    assert recommended["score"].eq("silhouette_umap").all()
    validation = pd.read_csv(outputs / "score_validation/score_validation.csv")
    primary = validation[validation["primary"] == "yes"]
    assert list(primary["family"]) == ["silhouette, UMAP-50 space"] and primary["datasets"].iloc[0] == 1
    pipeline = validation[validation["level"] == "pipeline"]
    assert pipeline["mean_regret"].is_monotonic_increasing and set(validation["level"]) == {"pipeline", "encoder"}
    print("\n" + recommended.to_string() + "\n" + validation.round(3).to_string())
    # each index of the per-image table is the dataset's image of that index: its class by name, and its pixels are
    # those the raw-pixel encoder embedded in that row
    config = cfg.load(yaml.safe_load((workdir / "config.yaml").read_text()))
    table = pd.read_parquet(outputs / "assignments/assignments_digits.parquet")
    images = open_split(config.entry("datasets", "digits"), workdir / "resources/datasets/digits")
    assert [images.classes[images.labels[i]] for i in table["index"]] == list(table["label"])
    raw = tables.read(workdir / "results/embeddings/digits/all/raw.parquet")[0]
    some = [0, len(table) // 2, len(table) - 1]
    for i in some:  # raw pixels are the image, normalised: they correlate perfectly
        pixels = np.asarray(images.image(int(table["index"][i])).convert("L"), dtype=float).ravel()
        assert np.corrcoef(pixels, raw["embedding"][i].reshape(3, -1)[0])[0, 1] > 0.99


def test_figures_target_renders_from_the_tables_alone(workdir):
    result = snakemake(workdir, "figures", "-n", "--configfile", "config.yaml", "--forcerun", "render")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    rendered = len([e for e in OUTPUTS if not e.info["missing"](outputs_facts(workdir))])
    assert job_counts(output) == {"render": rendered, "figures": 1}


def test_report_opens_in_a_real_browser_with_the_main_table_and_a_figure(workdir):
    from report_browser import open_report

    result = snakemake(workdir, "--configfile", "config.yaml", "--report", "report.html", timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    seen = open_report(workdir / "report.html", workdir / "report-screenshots")
    assert seen["errors"] == []
    assert "raw" in seen["main_table"] and "AMI x 100" in seen["main_table"]
    assert seen["figure_size"][0] > 100 and seen["figure_size"][1] > 100  # the image decoded and laid out
    assert "Index" in seen["categories"] and "Figures" in seen["categories"] and "Tables" in seen["categories"]
    assert (workdir / "report-screenshots/main_table.png").stat().st_size > 10_000


def test_same_config_and_seed_give_identical_tables(workdir):
    # Runs last in this module: it recomputes everything in place.
    tables = [
        f"results/tables/{name}"
        for name in ("runs.parquet", "labels.parquet", "labelfree.parquet", "probes.parquet", "ami_summary.csv", "ami_summary.md")
    ]
    outputs = sorted(p for p in (workdir / "results/outputs").glob("*/*") if not p.name.startswith("."))
    tables += [str(p.relative_to(workdir)) for p in outputs]  # the rendered tables and figures too
    before = {path: (workdir / path).read_bytes() for path in tables}
    result = snakemake(workdir, "--configfile", "config.yaml", "--cores", "2", "--forceall")
    assert result.returncode == 0, result.stderr[-4000:]
    assert {path: (workdir / path).read_bytes() for path in tables} == before


def small_config(encoders: dict) -> dict:
    return {
        "datasets": {"digits": {"max_samples": 100}},
        "encoders": encoders,
        "reducers": {"none": {}},
        "clusterers": {"kmeans": {}},
        "embedding": {"device": "cpu"},
    }


def test_downloaded_weights_are_fetched_by_a_local_rule_then_loaded(tmp_path, server):
    torch.manual_seed(11)
    served, base_url = server
    torch.save(timm.create_model("resnet10t", num_classes=0).state_dict(), served / "r10t.pth")
    digest = hashlib.sha256((served / "r10t.pth").read_bytes()).hexdigest()
    url = f"{base_url}r10t.pth"
    base = {"type": "timm", "model": "resnet10t", "image_size": 32}
    config = small_config(
        {
            "fetched": {**base, "weights_url": url, "weights_sha256": digest[:16]},
            "local": {**base, "weights_file": str(served / "r10t.pth")},
        }
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "localrule fetch_weights" in result.stdout + result.stderr
    assert (tmp_path / "resources/weights/url/r10t.pth").read_bytes() == (served / "r10t.pth").read_bytes()
    fetched = tables.read_vectors(tmp_path / "results/embeddings/digits/all/fetched.parquet")
    local = tables.read_vectors(tmp_path / "results/embeddings/digits/all/local.parquet")
    np.testing.assert_array_equal(fetched, local)


def test_study_encoder_fetches_first_and_asks_for_a_gpu(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(small_config({"dino_vitb16": {}})))
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert job_counts(output)["fetch_weights"] == 1
    embed_job = output.split("rule embed:")[1].split("\n\n")[0]
    assert "resources/weights/url/dino_vitbase16_pretrain.pth.json" in embed_job and "gpu=1" in embed_job


def test_missing_checkpoint_file_stops_before_any_job(tmp_path):
    config = small_config({"ft_dino_vitb16": {"weights_file": "ft-models/absent.pth"}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "1")
    assert result.returncode != 0
    assert "config error: encoders.ft_dino_vitb16.weights_file: ft-models/absent.pth does not exist" in result.stderr.splitlines()
    assert not (tmp_path / "results" / "embeddings").exists()


def test_own_image_folders_labelled_and_unlabelled(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in enumerate([(250, 10, 10), (10, 250, 10), (10, 10, 250)]):
        for i in range(6):
            noisy = np.clip(np.array(colour) + rng.normal(0, 8, (16, 16, 3)), 0, 255).astype(np.uint8)
            (tmp_path / "labelled" / f"class{c}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(noisy).save(tmp_path / "labelled" / f"class{c}" / f"{i}.png")
            (tmp_path / "flat").mkdir(exist_ok=True)
            Image.fromarray(noisy).save(tmp_path / "flat" / f"{c}_{i}.png")
    (tmp_path / "labelled" / "class0" / "broken.jpg").write_bytes(b"")
    config = {
        "datasets": {
            "mine": {"type": "imagefolder", "root": str(tmp_path / "labelled"), "max_samples": 12},
            "flat": {"type": "imagefolder", "root": str(tmp_path / "flat"), "n_clusters": 3},
        },
        "encoders": {"raw": {"image_size": 8}},
        "reducers": {"none": {}},
        "clusterers": {"kmeans": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    runs = pd.read_parquet(tmp_path / "results/tables/runs.parquet").set_index("dataset")
    assert runs.loc["mine", "AMI"] == pytest.approx(1.0) and runs.loc["mine", "n_samples"] == 12
    assert runs.loc["mine", "max_samples"] == 12
    assert np.isnan(runs.loc["flat", "AMI"]) and runs.loc["flat", "n_clusters_pred"] == 3
    assert runs.loc["flat", "silhouette_og"] > 0.5  # label-free metrics still computed
    assert "broken.jpg: empty file" in (tmp_path / "results/logs/prepare_dataset/mine/all.log").read_text()


def test_protocol_dry_run_shares_each_reduction(tmp_path):
    config = {
        "protocol": str(REPO / "config/params/v5.0.yaml"),
        "datasets": {"digits": {}},
        "encoders": {"raw": {}, "resnet50": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    counts = job_counts(output)
    # raw: zpca90, zpca200d (AC w/ and w/o C share it), zpca80, umap50 (+ none, no file); resnet50: umap50 for five;
    # and each encoder's 2-D map
    assert counts["cluster"] == 12 and counts["reduce"] == 5 + 2 and counts["fetch_weights"] == 1
    assert "results/reduced/digits/all/raw/seed1/zpca200d.parquet" in output


def test_search_stage_writes_a_params_file_that_a_later_config_runs(tmp_path):
    shutil.copy(REPO / "tests/configs/search.yaml", tmp_path / "search.yaml")
    result = snakemake(tmp_path, "--configfile", "search.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    assert job_counts(result.stderr) == {"prepare_dataset": 2, "embed": 2, "search": 1, "search_params": 1, "all": 1}
    params = yaml.safe_load((tmp_path / "results/search/params.yaml").read_text())
    # the planted grid's known best: 10-d over 1-d PCA, ward (single linkage chains), the middle threshold
    assert params["encoders"]["raw"] == {
        "kmeans": {"reducer": "zpca10"},
        "ac_c": {"reducer": "zpca10", "linkage": "ward", "metric": "euclidean"},
        "ac_t": {"reducer": "zpca10", "linkage": "ward", "metric": "euclidean", "distance_threshold": 0.5},
    }
    trace = pd.read_csv(tmp_path / "results/search/encoders/raw-trace.csv")
    assert len(trace) == 2 + 2 + 4 + 3 and trace["skipped"].notna().sum() == 1  # ward with l1 is not allowed

    (tmp_path / "use.yaml").write_text(
        yaml.safe_dump(
            {"protocol": "results/search/params.yaml", "datasets": {"digits": {"max_samples": 150}}, "encoders": {"raw": {}}}
        )
    )
    result = snakemake(tmp_path, "--configfile", "use.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    runs = pd.read_parquet(tmp_path / "results/tables/runs.parquet")
    assert sorted(zip(runs["clusterer"], runs["reducer"])) == [("ac_c", "zpca10"), ("ac_t", "zpca10"), ("kmeans", "zpca10")]


def test_probes_train_on_the_train_split_embedded_beside_the_clustered_one(tmp_path):
    from zsc.datasets import DEBIAN_FASHION_MNIST

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    config = {
        "datasets": {
            "fashionmnist": {"max_samples": 300, "probe_max_samples": 200},
            "digits": {"max_samples": 200, "probe_split": "none"},
        },
        "encoders": {"raw": {}},
        "reducers": {"none": {}},
        "clusterers": {"kmeans": {}},
        "metrics": {"umap_silhouette": False},
        "outputs": {"embedding_maps": False},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    train = pd.read_parquet(tmp_path / "resources/datasets/fashionmnist/manifest-train.parquet")
    assert len(train) == 200 and train["label"].value_counts().eq(20).all()  # stratified to probe_max_samples
    probes = pd.read_parquet(tmp_path / "results/tables/probes.parquet").set_index("dataset")
    assert probes.loc["fashionmnist", "probe_mode"] == "split" and probes.loc["fashionmnist", "probe_split"] == "train"
    assert probes.loc["fashionmnist", "n_train"] == 200 and probes.loc["fashionmnist", "n_test"] == 300
    assert 0.5 < probes.loc["fashionmnist", "linear_probe_top1"] <= 1  # raw pixels on 200 images: measured 0.72
    assert probes.loc["digits", "probe_mode"] == "skip" and probes.loc["digits", "skipped"] == "probe_split: none"
    runs = pd.read_parquet(tmp_path / "results/tables/runs.parquet")
    assert list(runs["split"]) == ["all", "test"]  # the train split is embedded for the probes only


def test_a_probe_split_the_dataset_does_not_have_is_a_config_error(tmp_path):
    config = {
        "datasets": {"digits": {"probe_split": "train"}},
        "encoders": {"raw": {}},
        "reducers": {"none": {}},
        "clusterers": {"kmeans": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    assert result.returncode != 0
    assert snakemake_errors(result) == [
        "config error: datasets.digits.probe_split: 'train' is not another split of digits (carve, none)"
    ]
