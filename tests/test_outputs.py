"""The output registry: which outputs a config can provide, and what the study's tables and the encoder
choice say on a synthetic runs table of the study's full shape (tests/synthetic.py); every output
rendered from a grid of reducers at the study's size and for the default config's run, every figure
passing tests/figure_text.py's check_figure. Every output is rendered at the study's size by
tests/test_registries.py."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from figure_text import check_figure
from synthetic import default_run, output_suffixes, planted_labelfree, write_study

from zsc import config as cfg
from zsc import outputs, plots

# Outputs that read more than the result tables (images, embeddings, 2-D maps): rendered from the
# default run's files (test_the_default_run_renders_every_output...) and by the workflow tests.
READS_FILES = {e.name for e in outputs.OUTPUTS if e.info["files"]}


def render_checked(names, tables, facts, files, folder, monkeypatch, save=True) -> dict[str, list[str]]:
    """Render the outputs `names` into folder/<name>/ and check every figure any of them draws (whatever
    module registered it: every figure goes through zsc.plots.save_figure): figure file stem -> the
    problems check_figure finds. save=False checks without writing the figures."""
    keys, problems, original = outputs.display_keys(facts), {}, plots.save_figure

    def checked(fig, stem, **kwargs):
        problems[Path(stem).name] = check_figure(fig, keys)
        if save:
            return original(fig, stem, **kwargs)
        Path(f"{stem}.png").touch()  # render sees a figure written (else it writes the output empty)
        return []

    monkeypatch.setattr(plots, "save_figure", checked)
    for name in names:
        outputs.render(name, tables, facts, {kind: files[kind] for kind in outputs.OUTPUTS[name].info["files"]}, folder / name)
    return problems


READS_FILES = {e.name for e in outputs.OUTPUTS if e.info["files"]}


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
    assert "two or more dimensions" in missing["reducer_dimensions"]  # one PCA, one UMAP
    assert {"main_ami", "ami_heatmap", "example_images", "embedding_maps", "encoder_choice", "reducer_ami"}.isdisjoint(missing)
    # the config names its random-init ResNet-18 as the study its ResNet-50 (outputs.encoders); without that the user's
    # entry keeps its name; the registry's raw pixels and clusterer and reducer types show theirs
    assert facts["encoders"]["random_resnet18"] == {"label": "Rand.", "architecture": "ResNet-18", "training": "random"}
    unnamed = cfg.load({**yaml.safe_load((REPO / "config/config.yaml").read_text()), "outputs": {}})
    assert outputs.facts(unnamed)["encoders"]["random_resnet18"]["label"] == "random_resnet18"
    assert facts["encoders"]["raw"]["label"] == "Raw image"
    assert facts["clusterer_labels"] == {"kmeans": "K-Means", "ac_ward": "AC w/ C", "hdbscan": "HDBSCAN"}
    assert {r: f["label"] for r, f in facts["reducers"].items()} == {
        "none": "no reduction",
        "zpca50": "zPCA-50",
        "umap50": "UMAP-50",
    }
    assert facts["datasets"]["fashionmnist"]["name"] == "Fashion-MNIST" and facts["datasets"]["fashionmnist"]["label"] == "Fash"
    # without a protocol every clusterer is shown on the U50 reducer, and the captions say so
    assert facts["reducer_of"] == {"kmeans": "umap50", "ac_ward": "umap50", "hdbscan": "umap50"}
    assert outputs.caption("main_ami", facts).endswith(
        "One reducer per clusterer (outputs.reducer): UMAP-50 for K-Means, AC w/ C and HDBSCAN."
    )
    assert "outputs.reducer" not in outputs.caption("reducer_ami", facts)  # it shows every reducer
    assert (
        outputs.display_keys(facts)["fashionmnist"] == "Fashion-MNIST"
        and outputs.display_keys(facts)["random_resnet18"] == "Rand."
    )


def _default_config(**outputs_section) -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return config | {"outputs": outputs_section}


def test_outputs_reducer_names_the_reducer_of_each_clusterer():
    one = outputs.facts(cfg.load(_default_config(reducer="zpca50")))
    assert set(one["reducer_of"].values()) == {"zpca50"}
    some = outputs.facts(cfg.load(_default_config(reducer={"hdbscan": "none"})))
    assert some["reducer_of"] == {"kmeans": "umap50", "ac_ward": "umap50", "hdbscan": "none"}
    assert "no reduction for HDBSCAN" in outputs.pipeline_sentence(some)
    without_u50 = _default_config()
    del without_u50["reducers"]["umap50"]
    assert set(outputs.facts(cfg.load(without_u50))["reducer_of"].values()) == {"none"}  # the first reducer


@pytest.mark.parametrize(
    "given, error",
    [
        ({"reducer": "umap10"}, r"outputs.reducer: 'umap10' is not a reducer of this config \(none, zpca50, umap50\)"),
        ({"reducer": {"spectral": "none"}}, r"outputs.reducer.spectral: 'spectral' is not a clusterer of this config"),
        ({"reducer": {"kmeans": "pca"}}, r"outputs.reducer.kmeans: 'pca' is not a reducer of this config"),
    ],
)
def test_outputs_reducer_naming_what_is_not_there_is_a_config_error(given, error):
    with pytest.raises(cfg.ConfigError, match=error):
        outputs.facts(cfg.load(_default_config(**given)))


def test_outputs_reducer_with_a_protocol_is_a_config_error():
    config = {"protocol": str(REPO / "config/params/v5.0.yaml"), "datasets": {"digits": {}}, "encoders": {"raw": {}}}
    assert outputs.facts(cfg.load(config))["reducer_of"] is None
    with pytest.raises(cfg.ConfigError, match="outputs.reducer: a protocol names each clusterer's reducer"):
        outputs.facts(cfg.load(config | {"outputs": {"reducer": "umap50"}}))


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


def test_outputs_index_lists_the_encoders_the_study_config_leaves_out(study, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # a fresh clone: the five fine-tuned checkpoints are not there
    facts = outputs.facts(cfg.load(yaml.safe_load((REPO / "config/paper.yaml").read_text())))
    outputs.render("outputs_index", study[0], facts, {}, tmp_path / "index")  # the synthetic study's tables
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


def test_a_protocol_leaves_out_the_outputs_of_a_grid_of_reducers(study):
    _, facts, _ = study
    grid_only = {"reducer_ami", "reducer_effect", "reducer_dimensions"}
    assert {name for name in grid_only if "a grid of reducers" in facts["not_produced"].get(name, "")} == grid_only


def test_main_table_lists_the_dropped_cells_under_it(study):
    tables, facts, folder = study
    out = folder / "main_only"
    outputs.render("main_ami", tables, facts, {}, out)
    md = (out / "main_ami.md").read_text()
    # Affinity Propagation was not run on ImageNet and iNaturalist (memory): dropped for every encoder
    assert "dropped for every encoder: Affinity Prop. on ImageNet-1k (missing for all 18 encoders: memory guard" in md
    assert "dropped for every encoder: Affinity Prop. on iNaturalist-2021" in md
    assert "dropped for every encoder: Spectral on Places365 (missing for VICReg (ResNet-50): memory guard" in md
    assert "Each (encoder, clusterer) on the reducer its protocol tuned" in md
    assert md.count("**") >= 2 * 32 and md.count("<u>") >= 32  # a best and a second in every column, as in the LaTeX
    csv = pd.read_csv(out / "main_ami.csv", index_col=[0, 1])  # columns "group / dataset"
    assert csv.shape == (18, 26 + 5 + 1)  # 26 datasets, a mean per group, the overall mean


def test_the_study_sized_grid_renders_every_output_and_every_figure_passes_the_checks(tmp_path, monkeypatch):
    tables, facts, _ = write_study(tmp_path, grid=True)
    folder = tmp_path
    names = [e.name for e in outputs.OUTPUTS if e.name not in facts["not_produced"] and e.name not in READS_FILES]
    assert {"reducer_ami", "reducer_effect", "reducer_dimensions"} <= set(names) and "hyperparameters" not in names
    problems = render_checked(names, tables, facts, {}, folder / "outputs", monkeypatch, save=False)
    assert {name: found for name, found in problems.items() if found} == {}
    assert {"reducer_effect", "reducer_dimensions", "delta_by_domain"} <= set(problems)
    # the reducer finding: UMAP-50 beats zPCA-50 for every trained encoder and clusterer (planted: +8 p.p.)
    table = pd.read_csv(folder / "outputs/reducer_ami/reducer_ami.csv", index_col=[0, 1, 2])
    trained = table.index.get_level_values("encoder").isin(["X-Ent.", "DINO", "MoCo-v3"])
    assert (table.loc[trained, "UMAP-50"] > table.loc[trained, "zPCA-50"] + 5).all()
    md = (folder / "outputs/reducer_ami/reducer_ami.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| raw pixels") and "| K-Means" in line)
    assert "\u2020" in row  # zPCA-200 failed on one dataset for raw pixels: a mean over the others, marked
    long = pd.read_csv(folder / "outputs/reducer_ami/reducer_ami_n.csv")
    assert long.query("encoder == 'Raw image' and reducer == 'zPCA-200'")[
        ["n", "n_datasets"]
    ].drop_duplicates().values.tolist() == [[25, 26]]
    # every average over clusterers is over UMAP-50 alone: the main table equals the UMAP-50 column's mean
    main = pd.read_csv(folder / "outputs/main_ami/main_ami.csv", index_col=[0, 1])
    on_u50 = table["UMAP-50"].groupby(level=["architecture", "encoder"], sort=False).mean()
    assert (
        "One reducer per clusterer (outputs.reducer): UMAP-50 for K-Means"
        in (folder / "outputs/main_ami/main_ami.md").read_text()
    )
    assert main["All / mean"].to_numpy() == pytest.approx(on_u50.reindex(main.index).to_numpy(), abs=1.5)


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    """The default config's run as its render jobs see it (tests/synthetic.py default_run)."""
    from zsc.datasets import DEBIAN_FASHION_MNIST

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("Fashion-MNIST's images need Debian's dataset-fashion-mnist (bash setup.sh as root)")
    folder = tmp_path_factory.mktemp("default")
    tables, facts, files = default_run(folder, REPO / "config/config.yaml")
    labelfree, probes = planted_labelfree(pd.read_parquet(tables["runs"]))
    for name, frame in {"labelfree": labelfree, "probes": probes}.items():
        tables[name] = str(folder / f"{name}.parquet")
        frame.to_parquet(tables[name])
    return tables, facts, files, folder


def test_the_default_run_renders_every_output_and_every_figure_passes_the_checks(default, monkeypatch):
    tables, facts, files, folder = default
    names = [e.name for e in outputs.OUTPUTS if e.name not in facts["not_produced"]]
    assert READS_FILES <= set(names)
    problems = render_checked(names, tables, facts, files, folder / "outputs", monkeypatch)
    assert {name: found for name, found in problems.items() if found} == {}
    out = folder / "outputs"
    for entry in outputs.OUTPUTS:
        if entry.name in names:
            assert {p.suffix for p in (out / entry.name).iterdir()} == output_suffixes(entry), entry.name
    # example images: per dataset, the run of best AMI
    runs = pd.read_parquet(tables["runs"])
    best = runs.loc[runs.groupby("dataset")["AMI"].idxmax(), ["dataset", "encoder", "clusterer"]]
    expected = sorted(f"examples_{d}_{e}_{c}.png" for d, e, c in best.values)
    assert sorted(p.name for p in (out / "example_images").glob("*.png")) == expected
    assert sorted(p.name for p in (out / "embedding_maps").glob("*.png")) == ["map_digits.png", "map_fashionmnist.png"]
    assert {"pca_variance.png", "pca_variance_relative.png"} <= {p.name for p in (out / "pca_variance").iterdir()}
    md = (out / "ami_per_clusterer/ami_kmeans.md").read_text()
    assert md.startswith("**AMI x 100, K-Means on UMAP-50**") and "**" in md.split("\n", 2)[2]
    # the per-image tables: each row's index is the dataset's image of that index, named by its class
    from zsc.datasets import open_split

    for dataset, source in facts["sources"].items():
        table = pd.read_parquet(out / f"assignments/assignments_{dataset}.parquet")
        images = open_split(source["spec"], Path(source["root"]))
        assert len(table) == 300 and list(table["label"]) == [images.classes[images.labels[i]] for i in table["index"]]


def test_the_example_images_show_the_runs_the_config_names(default, monkeypatch, tmp_path):
    tables, facts, files, _ = default
    i = next(i for i, run in enumerate(facts["examples"]) if run["dataset"] == "digits" and run["reducer"] == "none")
    chosen = facts["examples"][i]
    facts = facts | {"examples": [chosen | {"given": True}]}  # as outputs.example_images makes them
    render_checked(["example_images"], tables, facts, files | {"clusters": [files["clusters"][i]]}, tmp_path, monkeypatch)
    expected = [f"examples_digits_{chosen['encoder']}_{chosen['clusterer']}.png"]
    assert [p.name for p in (tmp_path / "example_images").glob("*.png")] == expected


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


def test_every_output_renders_saying_why_when_no_run_ran(study):
    # the study's grid with every run failed or skipped: evaluate writes no metrics for such runs, and
    # there are no AMIs against label levels (the end-to-end runs: tests/test_failures.py)
    tables, facts, folder = study
    runs = pd.read_parquet(tables["runs"])
    metrics = ["AMI", "ARI", "n_clusters_pred", "n_clusters_true", "n_samples", "silhouette_og", "silhouette_umap"]
    metrics.append("silhouette_umap_true")
    failed = runs["clusterer"] != "affinity_propagation"
    runs = runs.drop(columns=metrics).assign(
        status=np.where(failed, "failed", "skipped"),
        skipped=np.where(failed, "reducers.zpca200d.n_components: 200 components exceed", "over the limit (limits.memory_gb)"),
    )
    emptied = {**tables, "runs": str(folder / "runs-none-ran.parquet"), "labels": str(folder / "labels-none.parquet")}
    runs.to_parquet(emptied["runs"])
    pd.read_parquet(tables["labels"]).iloc[:0].to_parquet(emptied["labels"])
    why = f"no run of this config ran ({failed.sum()} failed, {(~failed).sum()} skipped)"
    for entry in outputs.OUTPUTS:
        if entry.name in facts["not_produced"] or entry.name in READS_FILES:
            continue
        out = folder / "none-ran" / entry.name
        outputs.render(entry.name, emptied, facts, {}, out)
        files = {p.name for p in out.iterdir()}
        if entry.info["kind"] == "figure":
            assert files == {f"{entry.name}.png", f"{entry.name}.pdf"} if entry.info["results"] else len(files) >= 2, entry.name
            continue
        assert {p.suffix for p in out.iterdir()} == {".csv", ".md", ".tex", ".html"}, entry.name
        if entry.info["results"] == ("runs",):
            assert pd.read_csv(out / f"{entry.name}.csv").to_dict("list") == {"why empty": [why]}, entry.name
            md = (out / f"{entry.name}.md").read_text()
            assert f"Empty: {why}." in md and "- skipped: imagenet / " in md and "- failed: imagenet / " in md, entry.name
    index = pd.read_csv(folder / "none-ran" / "outputs_index" / "outputs_index.csv").set_index("output")
    produced = index.loc[[e.name for e in outputs.OUTPUTS if e.name not in facts["not_produced"]]]
    empty = produced[produced["produced"] == "empty"]
    # drawn from the config, the embeddings or the label-free scores: not empty
    assert set(produced.index) - set(empty.index) == {
        "outputs_index", "datasets", "hyperparameters", "pca_variance", "labelfree_correlations"
    }  # fmt: skip
    of_labels = [e.name for e in outputs.OUTPUTS if e.info["results"] == ("labels",)]
    assert of_labels == ["label_levels", "taxonomy_levels"]
    assert set(empty.drop(of_labels)["why not"]) == {why}
    no_levels = "results/tables/labels.parquet holds no AMI against a label level besides the class"
    assert set(empty.loc[of_labels, "why not"]) == {no_levels}


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
