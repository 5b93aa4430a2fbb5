"""A person's own unlabelled images through the default pipeline (config/config.yaml's encoders, reducers and
clusterers on a generated folder): one recommended encoder and pipeline with its reason, a file -> cluster
table and a contact sheet per cluster, all three reachable from the report's start page (a real browser)."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageDraw

from conftest import REPO, snakemake

pytestmark = pytest.mark.integration

SHAPES = ("circle", "square", "triangle")  # three kinds of picture, 20 of each, on their own background colour
PER_SHAPE = 20


def draw(shape: str, rng) -> Image.Image:
    """A 48x48 picture of `shape` at a random place and size on its kind's background, with pixel noise."""
    background = {"circle": (200, 60, 60), "square": (60, 160, 60), "triangle": (60, 60, 200)}[shape]
    image = Image.new("RGB", (48, 48), background)
    pen = ImageDraw.Draw(image)
    x, y, r = rng.integers(14, 34), rng.integers(14, 34), rng.integers(8, 13)
    if shape == "circle":
        pen.ellipse([x - r, y - r, x + r, y + r], fill=(250, 250, 250))
    elif shape == "square":
        pen.rectangle([x - r, y - r, x + r, y + r], fill=(20, 20, 20))
    else:
        pen.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=(250, 220, 0))
    noisy = np.asarray(image, dtype=float) + rng.normal(0, 6, (48, 48, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """The default config's pipeline on a flat folder of 60 generated pictures (names do not tell the kind)."""
    work = tmp_path_factory.mktemp("user_images")
    rng = np.random.default_rng(3)
    kinds = {}
    for i, shape in enumerate(np.repeat(SHAPES, PER_SHAPE)[rng.permutation(len(SHAPES) * PER_SHAPE)]):
        (work / "photos").mkdir(exist_ok=True)
        draw(shape, rng).save(work / "photos" / f"IMG_{i:04d}.png")
        kinds[f"IMG_{i:04d}.png"] = shape
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = {"photos": {"type": "imagefolder", "root": "photos", "n_clusters": 3}}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(work, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return work, kinds


def test_one_recommended_encoder_and_pipeline_with_its_reason(folder_run):
    work, _ = folder_run
    recommended = pd.read_csv(work / "results/outputs/encoder_choice/encoder_choice.csv")
    assert len(recommended) == 1
    row = recommended.iloc[0]
    assert row["dataset"] == "photos" and row["encoder"] in ("Raw image", "Rand.") and row["score"] == "silhouette_umap"
    assert row["reducer"] in ("no reduction", "zPCA-50", "UMAP-50") and row["clusterer"] in (
        "K-Means",
        "AC w/ C",
        "HDBSCAN",
    )  # display names
    assert row["runner-up"].split(" / ")[0] != row["encoder"] and row["margin"] >= 0
    assert "regret (AMI x 100)" not in recommended  # no labels: nothing to compare with
    reason = (work / "results/outputs/encoder_choice/encoder_choice.md").read_text()
    assert "Chosen by silhouette_umap: the silhouette of each pipeline's predicted labels in the shared UMAP-50 space" in reason
    print("\n" + recommended.to_string())


def test_a_csv_of_file_path_to_cluster_that_finds_the_kinds_of_picture(folder_run):
    work, kinds = folder_run
    table = pd.read_csv(work / "results/outputs/assignments/assignments_photos.csv")
    assert list(table.columns) == ["path", "cluster"] and sorted(table["path"]) == sorted(kinds)  # every file, as named
    every_run = pd.read_parquet(work / "results/outputs/assignments/assignments_photos.parquet")
    assert len(every_run.columns) == 3 + 2 * 3 * 3 and (every_run["path"] == table["path"]).all()  # index, path, cluster, 18 runs
    from sklearn.metrics import adjusted_mutual_info_score

    ami = adjusted_mutual_info_score(table["path"].map(kinds), table["cluster"])
    print(f"AMI of the recommended clusters against the kinds of picture: {ami:.3f}")
    assert ami > 0.8  # three plain kinds of picture: the recommended pipeline finds them


def test_a_contact_sheet_per_cluster_and_all_three_in_the_report(folder_run):
    from report_browser import open_start_page

    work, _ = folder_run
    clusters = pd.read_csv(work / "results/outputs/assignments/assignments_photos.csv")["cluster"]
    sheets = sorted(p.name for p in (work / "results/outputs/cluster_sheets").glob("*.png"))
    assert sheets == [f"sheet_photos_cluster{c}.png" for c in sorted(set(clusters) - {-1})] + (
        ["sheet_photos_noise.png"] if -1 in set(clusters) else []
    )
    result = snakemake(work, "--configfile", "config.yaml", "--report", "report.html", timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    seen = open_start_page(work / "report.html", work / "report-screenshots", sheets[0])
    assert seen["errors"] == []
    recommended = pd.read_csv(work / "results/outputs/encoder_choice/encoder_choice.csv").iloc[0]
    start = seen["text"]
    pipeline = f"{recommended['encoder']} / {recommended['reducer']} / {recommended['clusterer']}, k = {recommended['k']}"
    assert "Which encoder and pipeline to use" in start and pipeline in start  # the recommendation and its reason
    reason = (
        rf"the highest silhouette_umap of its \d+ pipelines \({recommended['value']:.3f}\); runner-up {recommended['runner-up']}"
    )
    assert re.search(reason, start.replace("\n", " "))
    assert "System Message" not in start  # the page's reStructuredText rendered cleanly
    assert "assignments_photos.csv" in start and sheets[0] in start  # the file -> cluster table and the sheets, linked
    assert min(seen["linked_image_size"]) > 100  # the linked contact sheet opened and decoded
    shutil.rmtree(work / "report-screenshots", ignore_errors=True)
