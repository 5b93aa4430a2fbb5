"""A real training run through the workflow: the checkpoints of a small timm network trained offline on
digits (tests/training_run.py), followed as a folder of checkpoints (`checkpoints: {folder, pattern}`),
embedded as a checkpoint series, scored without labels and probed; a checkpoint added to the folder
later computes only its own jobs."""

import re
import shutil

import pandas as pd
import pytest
import yaml

from conftest import snakemake
from test_workflow import job_counts
from training_run import train_checkpoints

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("series")
    checkpoints = train_checkpoints(work / "ckpt")
    config = {
        "datasets": {"digits": {}},
        "encoders": {
            "run": {
                "type": "timm",
                "model": "resnet10t",
                "image_size": 32,
                "checkpoints": {"folder": "ckpt", "pattern": "ep*.pth"},  # the training run's folder, read in step order
            }
        },
        "reducers": {"none": {}},
        "clusterers": {"kmeans": {}, "ac_ward": {"type": "agglomerative"}},
        "metrics": {"umap_silhouette": False},
        "outputs": {"embedding_maps": False},
        "embedding": {"device": "cpu"},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(work, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return work, list(checkpoints)


def test_probe_accuracy_rises_over_the_checkpoints(series_run):
    work, labels = series_run
    probes = pd.read_parquet(work / "results/tables/probes.parquet").set_index("encoder")
    accuracy = probes.loc[[f"run@{label}" for label in labels], "linear_probe_top1"]
    knn = probes.loc[[f"run@{label}" for label in labels], "knn_top1_k20"]
    print("\nlinear probe:", accuracy.round(3).to_dict(), "\nkNN k=20:", knn.round(3).to_dict())
    # measured: linear probe 0.941 -> 0.988 -> 0.993 (random init is already linearly separable on
    # digits), kNN (k=20) 0.816 -> 0.982 -> 0.986
    assert accuracy.is_monotonic_increasing and accuracy.iloc[-1] > accuracy.iloc[0] + 0.02
    assert knn.is_monotonic_increasing and knn.iloc[-1] > knn.iloc[0] + 0.1


def test_every_checkpoint_has_every_score_and_the_series_is_correlated(series_run):
    work, labels = series_run
    scores = pd.read_parquet(work / "results/tables/labelfree.parquet")
    by_encoder = scores.groupby("encoder")["score"].apply(set)
    assert set(by_encoder.index) == {f"run@{label}" for label in labels}
    assert (
        by_encoder.map(len).nunique() == 1
        and {"agreement_og_ami_mean", "effective_rank", "silhouette_og_kmeans"} <= by_encoder.iloc[0]
    )
    table = pd.read_csv(work / "results/outputs/checkpoints/checkpoints.csv")
    assert list(table["checkpoint"]) == labels and list(table["step"]) == [0, 1, 4]
    correlations = pd.read_csv(work / "results/outputs/checkpoints/checkpoint_correlations.csv")
    assert (correlations["n"] == 3).all() and correlations["spearman_rho"].notna().any()
    printed = table.set_index("checkpoint")[
        ["silhouette_og_kmeans", "agreement_og_ami_mean", "effective_rank", "entropy_gaussian_per_dim", "AMI"]
    ]
    print("\n" + printed.round(3).to_string())
    assert (work / "results/outputs/checkpoint_curves/checkpoint_curves.png").stat().st_size > 10_000


def test_a_checkpoint_added_to_the_folder_computes_only_its_jobs(series_run):
    work, labels = series_run
    assert labels == ["ep000", "ep001", "ep004"]
    shutil.copy(work / "ckpt" / "ep004.pth", work / "ckpt" / "ep010.pth")  # the run saved another checkpoint
    try:
        result = snakemake(work, "-n", "--configfile", "config.yaml")
    finally:
        (work / "ckpt" / "ep010.pth").unlink()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    counts = job_counts(output)
    # its embeddings, its two clusterings, their scoring and probes; then the tables and outputs again
    assert {stage: n for stage, n in counts.items() if stage != "render"} == {
        "embed": 1, "cluster": 2, "evaluate": 1, "labelfree": 1, "probes": 1, "aggregate": 1, "all": 1,
    }  # fmt: skip
    assert set(re.findall(r"encoder=([^,\s]+)", output)) == {"run@ep010"}
