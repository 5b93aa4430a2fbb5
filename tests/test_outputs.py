"""The output registry: which outputs a config can provide, and what the study's tables and the encoder
choice say on a synthetic runs table of the study's full shape (tests/synthetic.py). Every output is
rendered at that size by tests/test_registries.py."""

import pandas as pd
import pytest
import yaml

from conftest import REPO
from synthetic import write_study

from zsc import config as cfg
from zsc import outputs


def test_list_outputs_prints_every_entry_with_kind_needs_and_caption():
    from zsc.__main__ import list_lines

    lines = list_lines("outputs")
    assert [line.split("\t")[0] for line in lines] == outputs.OUTPUTS.names()
    for line in lines:
        name, kind, needs, caption = line.split("\t")
        assert kind in ("table", "figure") and needs and len(caption) > 20


def test_default_config_lists_what_it_cannot_provide_and_why():
    config = cfg.load(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    facts = outputs.facts(config)
    missing = facts["not_produced"]
    # raw pixels and a random-init ResNet-18: no supervised reference, no protocol, no hierarchy
    assert "supervised encoder" in missing["delta_vs_supervised"] and "protocol" in missing["hyperparameters"]
    assert "ImageNet-9" in missing["in9_backgrounds"] and "checkpoint series" in missing["checkpoints"]
    assert {"main_ami", "ami_heatmap", "example_images", "embedding_maps", "encoder_choice"}.isdisjoint(missing)
    assert facts["encoders"]["random_resnet18"] == {"label": "random_resnet18", "architecture": "resnet18", "training": "random"}


def test_study_encoders_with_a_protocol_provide_the_comparisons():
    config = cfg.load(
        {
            "protocol": str(REPO / "config/params/v5.0.yaml"),
            "datasets": {"digits": {}, "inaturalist": {}},
            "encoders": {"resnet50": {}, "dino_resnet50": {}},
            "outputs": {"encoders": {"dino_resnet50": {"label": "DINO (ours)"}}},
        }
    )
    facts = outputs.facts(config)
    assert facts["encoders"]["resnet50"] == {"label": "X-Ent.", "architecture": "ResNet-50", "training": "supervised"}
    assert facts["encoders"]["dino_resnet50"]["label"] == "DINO (ours)"
    assert facts["clusterers"] == ["kmeans", "spectral", "ac_with_c", "ac_without_c", "affinity_propagation", "hdbscan"]
    assert facts["datasets"]["inaturalist"]["levels"][0] == "label_kingdom"
    for name in ("delta_vs_supervised", "hyperparameters", "taxonomy_levels", "label_levels", "clusterer_ranking"):
        assert name not in facts["not_produced"]


def test_outputs_index_lists_the_encoders_the_study_config_leaves_out(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # a fresh clone: the five fine-tuned checkpoints are not there
    facts = outputs.facts(cfg.load(yaml.safe_load((REPO / "config/paper.yaml").read_text())))
    outputs.render("outputs_index", {}, facts, {}, tmp_path / "index")
    left_out = pd.read_csv(tmp_path / "index" / "left_out.csv")
    fine_tuned = ["ft_mocov3_resnet50", "ft_dino_resnet50", "ft_vicreg_resnet50", "ft_mocov3_vit_base", "ft_dino_vitb16"]
    assert list(left_out["encoder"]) == fine_tuned
    assert left_out["runs"].eq(26 * 6).all() and left_out["why"].str.endswith("does not exist (if_missing: skip)").all()
    assert "ft_dino_vitb16" not in facts["encoders"]  # and no output shows them


def test_example_images_naming_a_run_that_does_not_exist_is_a_config_error():
    config = cfg.load(
        {
            "datasets": {"digits": {}},
            "encoders": {"raw": {}},
            "reducers": {"none": {}},
            "clusterers": {"kmeans": {}},
            "outputs": {"example_images": [{"dataset": "digits", "encoder": "raw", "clusterer": "hdbscan"}]},
        }
    )
    with pytest.raises(cfg.ConfigError, match=r"outputs.example_images.0: .*hdbscan.* is not a run of this config"):
        outputs.facts(config)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The synthetic study's result tables on disk and complete facts."""
    folder = tmp_path_factory.mktemp("study")
    tables, facts, _ = write_study(folder)
    return tables, facts, folder


def test_main_table_lists_the_dropped_cells_under_it(study):
    tables, facts, folder = study
    out = folder / "main_only"
    outputs.render("main_ami", tables, facts, {}, out)
    md = (out / "main_ami.md").read_text()
    # Affinity Propagation was not run on ImageNet and iNaturalist (memory): dropped for every encoder
    assert "dropped for every encoder: affinity_propagation on imagenet" in md
    assert "dropped for every encoder: affinity_propagation on inaturalist" in md
    csv = pd.read_csv(out / "main_ami.csv", index_col=[0, 1])  # columns "group / dataset"
    assert csv.shape == (18, 26 + 5 + 1)  # 26 datasets, a mean per group, the overall mean


def test_encoder_choice_recovers_the_planted_best_encoder(study):
    tables, facts, folder = study
    out = folder / "choice"
    outputs.render("encoder_choice", tables, facts, {}, out)
    # one recommendation per dataset: the pipeline with the best UMAP silhouette, planted as 0.1 + 0.6 AMI (noise sd 0.02)
    recommended = pd.read_csv(out / "encoder_choice.csv")
    assert len(recommended) == 29 and recommended["dataset"].is_unique
    print("\nregret of the recommendation (AMI x 100):", recommended["regret (AMI x 100)"].describe().round(2).to_dict())
    assert recommended["regret (AMI x 100)"].mean() < 5 and recommended["scores agreeing"].str.endswith(" of 3").all()
    choice = pd.read_csv(out / "encoder_choice_by_score.csv")
    planted = choice[choice["score"] == "agreement_umap_ami_mean"]
    inverted = choice[choice["score"] == "entropy_gaussian_per_dim"]  # planted against AMI
    assert len(planted) == len(inverted) == 29  # every dataset
    # the score follows AMI (noise sd 0.05): a near-best pick, where the inverted score picks a poor one
    assert planted["regret (AMI x 100)"].mean() < 5 < 20 < inverted["regret (AMI x 100)"].mean()
    assert inverted["AMI-best"].sum() == 0 and planted["spearman_rho"].mean() > 0.5 > 0 > inverted["spearman_rho"].mean()
    ranking = pd.read_csv(out / "pipeline_ranking.csv")
    assert ranking.groupby("dataset", sort=False)["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1))).all()


def test_score_validation_ranks_the_planted_scores(study):
    tables, facts, folder = study
    out = folder / "validation"
    outputs.render("score_validation", tables, facts, {}, out)
    table = pd.read_csv(out / "score_validation.csv").set_index(["level", "family"])
    umap, og = table.loc[("pipeline", "silhouette, UMAP-50 space")], table.loc[("pipeline", "silhouette, original space")]
    # planted: UMAP silhouette 0.6 AMI, original-space 0.2 AMI, same noise: the first tracks AMI more closely
    assert umap["primary"] == "yes" and umap["datasets"] == 29 and umap["mean_spearman"] > og["mean_spearman"]
    assert umap["mean_regret"] <= og["mean_regret"]
    entropy = table.loc[("encoder", "Gaussian entropy")]
    assert entropy["mean_regret"] > table.loc[("encoder", "K-Means agreement across seeds, UMAP-50 space"), "mean_regret"]
