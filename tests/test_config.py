"""Config validation, defaults and the generated schema/docs."""

import subprocess
import sys

import pytest
import yaml

from zsc import config as cfg
from zsc.__main__ import DOCS_FILE, SCHEMA_FILE, docs_text, schema_text

MINIMAL = {"datasets": {"digits": {}}, "encoders": {"raw": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}


def with_entry(kind, name, value):
    config = {k: dict(v) for k, v in MINIMAL.items()}
    config[kind] = {name: value}
    return config


def test_defaults_are_filled_and_type_defaults_to_name():
    config = cfg.load(with_entry("clusterers", "hdbscan", None))
    hdbscan = config.entry("clusterers", "hdbscan")
    assert hdbscan == {
        "type": "hdbscan",
        "name": "hdbscan",
        "min_cluster_size": 5,
        "min_samples": None,
        "max_cluster_size_fraction": 0.2,
        "metric": "euclidean",
        "cluster_selection_method": "eom",
        "algorithm": "auto",
    }
    assert config["seeds"] == [1]
    assert config["embedding"] == {"device": "auto", "batch_size": 64, "num_workers": "auto", "precision": "float32", "channels_last": True}
    assert config.entry("datasets", "digits")["split"] == "all"


def test_default_config_file_is_valid(repo):
    config = cfg.load(yaml.safe_load((repo / "config" / "config.yaml").read_text()))
    assert set(config["datasets"]) == {"digits", "fashionmnist"}
    assert config.entry("reducers", "umap50") | {} == {
        "type": "umap",
        "name": "umap50",
        "n_components": 50,
        "n_neighbors": 30,
        "min_dist": 0.0,
        "metric": "euclidean",
    }


@pytest.mark.parametrize(
    "kind, name, value, message",
    [
        ("clusterers", "kmean", {}, "clusterers.kmean.type: 'kmean' is not one of ['kmeans', 'agglomerative', "),
        ("encoders", "vit", {"type": "vitt"}, "encoders.vit.type: 'vitt' is not one of ['raw', 'timm', 'torchvision', 'random_resnet50'"),
        ("datasets", "cifar", {}, "datasets.cifar.type: 'cifar' is not one of ['digits', 'cifar10', 'cifar100', 'mnist'"),
        ("clusterers", "kmeans", {"n_init": "two"}, "clusterers.kmeans.n_init: 'two' is not of type 'integer'"),
        ("clusterers", "kmeans", {"n_clusters": 3}, "clusterers.kmeans: Unevaluated properties are not allowed ('n_clusters' was unexpected)"),
        ("reducers", "pca", {}, "reducers.pca: 'n_components' is a required property"),
        ("reducers", "p", {"type": "pca", "n_components": 1.5}, "reducers.p.n_components: 1.5 is greater than or equal to the maximum of 1"),
        ("datasets", "digits", {"split": "test"}, "datasets.digits.split: 'test' is not one of ['all']"),
        ("clusterers", "bad/name", {"type": "kmeans"}, "clusterers: 'bad/name' does not match"),
        (
            "clusterers",
            "ac",
            {"type": "agglomerative", "metric": "l1"},
            "clusterers.ac.metric: 'euclidean' was expected (linkage 'ward' needs metric 'euclidean')",
        ),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(kind, name, value, message):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(with_entry(kind, name, value))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_top_level_errors():
    with pytest.raises(cfg.ConfigError, match=r"^seeds: 1 is not of type 'array'$"):
        cfg.load({**MINIMAL, "seeds": 1})
    with pytest.raises(cfg.ConfigError, match=r"^\(top level\): 'encoders' is a required property$"):
        cfg.load({k: v for k, v in MINIMAL.items() if k != "encoders"})
    with pytest.raises(cfg.ConfigError, match="unexpected"):
        cfg.load({**MINIMAL, "clusterer": {}})


def test_runs_grid_and_hash():
    config = cfg.load({**MINIMAL, "clusterers": {"kmeans": {}, "hdbscan": {}}, "seeds": [1, 2]})
    runs = list(config.runs())
    assert [(r["clusterer"], r["seed"]) for r in runs] == [("kmeans", 1), ("kmeans", 2), ("hdbscan", 1), ("hdbscan", 2)]
    assert all(r["split"] == "all" for r in runs)
    hashes = {config.run_hash(r) for r in runs}
    assert len(hashes) == 4
    changed = cfg.load({**MINIMAL, "clusterers": {"kmeans": {"n_init": 3}, "hdbscan": {}}, "seeds": [1, 2]})
    assert changed.run_hash(runs[0]) != config.run_hash(runs[0])  # kmeans changed
    assert changed.run_hash(runs[2]) == config.run_hash(runs[2])  # hdbscan did not


def test_generated_schema_and_docs_are_up_to_date():
    assert SCHEMA_FILE.read_text() == schema_text(), "run: python -m zsc schema --write"
    assert DOCS_FILE.read_text() == docs_text(), "run: python -m zsc docs --write"


def test_every_option_has_a_description():
    options = {}
    for key, prop in cfg.TOP_LEVEL.items():
        options[key] = prop
        options.update({f"{key}.{sub}": p for sub, p in prop.get("properties", {}).items()})
    for kind, registry in cfg.registries().items():
        options.update({f"{kind}.*.{k}": p for k, p in cfg.COMMON_OPTIONS[kind].items()})
        for entry in registry:
            options.update({f"{kind}.{entry.name}.{k}": p for k, p in entry.options.items()})
    assert len(options) > 20
    assert [key for key, prop in options.items() if not prop.get("description")] == []


@pytest.mark.parametrize("kind", cfg.KINDS)
def test_list_command_prints_registered_names(kind):
    out = subprocess.run([sys.executable, "-m", "zsc", "list", kind], capture_output=True, text=True, check=True).stdout
    names = [line.split("\t")[0] for line in out.splitlines()]
    assert names == cfg.registries()[kind].names()
    expected = {"datasets": "digits", "encoders": "timm", "reducers": "umap", "clusterers": "hdbscan"}[kind]
    assert expected in names


def test_list_datasets_shows_group():
    out = subprocess.run([sys.executable, "-m", "zsc", "list", "datasets"], capture_output=True, text=True, check=True).stdout
    assert "fashionmnist\tFar-OOD\t10 classes\tsplit test\t" in out
    assert "\tIn-domain\t" in out and "cifar100\t" in out and "imagefolder\t" in out


PROTOCOL = "config/params/v5.0.yaml"


def protocol_config(**extra):
    return {"protocol": PROTOCOL, "datasets": {"digits": {}}, "encoders": {"raw": {}, "dino_vitb16": {}}, **extra}


def test_protocol_runs_each_clusterer_on_its_tuned_reducer(repo, monkeypatch):
    monkeypatch.chdir(repo)
    config = cfg.load(protocol_config())
    runs = {(r["encoder"], r["clusterer"]): r["reducer"] for r in config.runs()}
    assert len(runs) == 12
    assert runs[("raw", "kmeans")] == "zpca90" and runs[("raw", "spectral")] == "none"
    assert runs[("dino_vitb16", "spectral")] == "zpca90" and runs[("dino_vitb16", "hdbscan")] == "umap50"
    assert config.entry("reducers", "zpca200d")["n_components"] == 200
    raw_ac = config.clusterer({"dataset": "digits", "encoder": "raw", "clusterer": "ac_without_c"})
    assert (raw_ac["type"], raw_ac["metric"], raw_ac["linkage"], raw_ac["distance_threshold"]) == ("agglomerative_threshold", "cosine", "average", 0.71)
    dino_ap = config.clusterer({"dataset": "digits", "encoder": "dino_vitb16", "clusterer": "affinity_propagation"})
    assert dino_ap["damping"] == 0.85
    run = next(r for r in config.runs() if r["clusterer"] == "kmeans")
    assert config.run_hash(run) != config.run_hash({**run, "encoder": "dino_vitb16", "reducer": "umap50"})


def test_protocol_dataset_settings_apply_on_top(repo, monkeypatch):
    monkeypatch.chdir(repo)
    config = cfg.load(protocol_config(datasets={"celeba": {}, "mnist": {}}))
    assert config.clusterer({"dataset": "celeba", "encoder": "raw", "clusterer": "hdbscan"})["min_cluster_size"] == 2
    assert config.clusterer({"dataset": "mnist", "encoder": "raw", "clusterer": "hdbscan"})["min_cluster_size"] == 5


def test_protocol_errors_name_the_culprit(repo, monkeypatch, tmp_path):
    monkeypatch.chdir(repo)
    with pytest.raises(cfg.ConfigError, match=r"^encoders.mine: the protocol config/params/v5.0.yaml has no settings for it \(it has: raw, "):
        cfg.load(protocol_config(encoders={"mine": {"type": "timm", "model": "resnet18"}}))
    with pytest.raises(cfg.ConfigError, match=r"^clusterers: the protocol config/params/v5.0.yaml names the clusterers; leave them out"):
        cfg.load(protocol_config(clusterers={"kmeans": {}}))
    with pytest.raises(cfg.ConfigError, match=r"^protocol: cannot read nowhere.yaml"):
        cfg.load(protocol_config(protocol="nowhere.yaml"))
    params = yaml.safe_load((repo / PROTOCOL).read_text())
    params["encoders"]["raw"]["affinity_propagation"]["damping"] = 2
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(cfg.ConfigError, match=r"^protocol .*bad.yaml: encoders.raw.affinity_propagation.damping: 2 is greater than or equal to the maximum of 1$"):
        cfg.load(protocol_config(protocol=str(tmp_path / "bad.yaml")))
    params["encoders"]["raw"]["affinity_propagation"] = {"reducer": "umap5", "damping": 0.8}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(cfg.ConfigError, match=r"encoders.raw.affinity_propagation.reducer: 'umap5' is not one of the protocol's reducers"):
        cfg.load(protocol_config(protocol=str(tmp_path / "bad.yaml")))


def test_paper_config_is_the_studys_grid(repo, monkeypatch):
    monkeypatch.chdir(repo)
    config = cfg.load(yaml.safe_load((repo / "config" / "paper.yaml").read_text()))
    runs = list(config.runs())
    assert len(config["datasets"]) == 26 and len(config["encoders"]) == 18
    assert len(runs) == 26 * 18 * 6
    assert config["_protocol"]["paper_clusterers"] == ["kmeans", "spectral", "ac_with_c", "ac_without_c", "affinity_propagation", "hdbscan"]
