"""Config validation, defaults and the generated schema/docs; config files read strictly; what a job
would find, checked before any job; the stages listed once."""

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, snakemake, snakemake_errors

from zsc import config as cfg
from zsc.__main__ import DOCS_FILE, SCHEMA_FILE, docs_text, schema_text
from zsc.clusterers import n_clusters_problem
from zsc.reducers import reducer_problem

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
    assert config["embedding"] == {
        "device": "auto",
        "batch_size": "auto",
        "num_workers": "auto",
        "precision": "float32",
        "channels_last": True,
    }
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
        (
            "encoders",
            "vit",
            {"type": "vitt"},
            "encoders.vit.type: 'vitt' is not one of ['raw', 'timm', 'torchvision', 'random_resnet50'",
        ),
        ("datasets", "cifar", {}, "datasets.cifar.type: 'cifar' is not one of ['digits', 'cifar10', 'cifar100', 'mnist'"),
        ("clusterers", "kmeans", {"n_init": "two"}, "clusterers.kmeans.n_init: 'two' is not of type 'integer'"),
        (
            "clusterers",
            "kmeans",
            {"n_clusters": 3},
            "clusterers.kmeans: Unevaluated properties are not allowed ('n_clusters' was unexpected)",
        ),
        ("reducers", "pca", {}, "reducers.pca: 'n_components' is a required property"),
        (
            "reducers",
            "p",
            {"type": "pca", "n_components": 1.5},
            "reducers.p.n_components: 1.5 is greater than or equal to the maximum of 1",
        ),
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
    assert (raw_ac["type"], raw_ac["metric"], raw_ac["linkage"], raw_ac["distance_threshold"]) == (
        "agglomerative_threshold",
        "cosine",
        "average",
        0.71,
    )
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
    with pytest.raises(
        cfg.ConfigError, match=r"^encoders.mine: the protocol config/params/v5.0.yaml has no settings for it \(it has: raw, "
    ):
        cfg.load(protocol_config(encoders={"mine": {"type": "timm", "model": "resnet18"}}))
    with pytest.raises(
        cfg.ConfigError, match=r"^clusterers: the protocol config/params/v5.0.yaml names the clusterers; leave them out"
    ):
        cfg.load(protocol_config(clusterers={"kmeans": {}}))
    with pytest.raises(cfg.ConfigError, match=r"^protocol: cannot read nowhere.yaml"):
        cfg.load(protocol_config(protocol="nowhere.yaml"))
    params = yaml.safe_load((repo / PROTOCOL).read_text())
    params["encoders"]["raw"]["affinity_propagation"]["damping"] = 2
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(
        cfg.ConfigError,
        match=r"^protocol .*bad.yaml: encoders.raw.affinity_propagation.damping: 2 is greater than or equal to the maximum of 1$",
    ):
        cfg.load(protocol_config(protocol=str(tmp_path / "bad.yaml")))
    params["encoders"]["raw"]["affinity_propagation"] = {"reducer": "umap5", "damping": 0.8}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(
        cfg.ConfigError, match=r"encoders.raw.affinity_propagation.reducer: 'umap5' is not one of the protocol's reducers"
    ):
        cfg.load(protocol_config(protocol=str(tmp_path / "bad.yaml")))


FINE_TUNED = ["ft_mocov3_resnet50", "ft_dino_resnet50", "ft_vicreg_resnet50", "ft_mocov3_vit_base", "ft_dino_vitb16"]


def test_paper_config_is_the_studys_grid(repo, monkeypatch, tmp_path):
    paper = yaml.safe_load((repo / "config" / "paper.yaml").read_text())
    # with the five fine-tuned checkpoints in place (here empty placeholders): the whole grid
    for name in FINE_TUNED:
        (tmp_path / "ft-models").mkdir(exist_ok=True)
        (tmp_path / "ft-models" / f"{name}.pth").touch()
    monkeypatch.chdir(repo)
    config = cfg.load(paper, workdir=str(tmp_path))
    runs = list(config.runs())
    assert len(config["datasets"]) == 26 and len(config["encoders"]) == 18 and config.left_out == {}
    assert len(runs) == 26 * 18 * 6
    assert config.protocol["paper_clusterers"] == [
        "kmeans",
        "spectral",
        "ac_with_c",
        "ac_without_c",
        "affinity_propagation",
        "hdbscan",
    ]


def test_paper_config_runs_as_shipped_leaving_out_the_unreleased_checkpoints(repo, monkeypatch):
    monkeypatch.chdir(repo)  # a fresh clone: no ft-models/
    config = cfg.load(yaml.safe_load((repo / "config" / "paper.yaml").read_text()))
    assert len(config["encoders"]) == 13 and list(config.left_out) == FINE_TUNED
    assert len(list(config.runs())) == 26 * 13 * 6
    assert config.left_out_runs() == {name: 26 * 6 for name in FINE_TUNED}
    lines = cfg.check_config(config)  # no error: warnings naming each left-out encoder
    assert lines[0] == (
        "encoders.ft_mocov3_resnet50.weights_file: ft-models/ft_mocov3_resnet50.pth does not exist (if_missing: skip): "
        "its 156 runs are left out"
    )
    assert all("if_missing" not in entry for entry in config["encoders"].values())  # not part of any job's settings


def test_if_missing_skip_leaves_out_only_that_encoder_and_a_corrupt_file_still_stops(tmp_path):
    mine = {"type": "timm", "model": "resnet10t", "weights_file": str(tmp_path / "mine.pth"), "if_missing": "skip"}
    config = cfg.load({**MINIMAL, "encoders": {"raw": {}, "mine": mine}})
    assert list(config["encoders"]) == ["raw"] and config.left_out["mine"].endswith("mine.pth does not exist (if_missing: skip)")
    with pytest.raises(cfg.ConfigError, match=r"^encoders: every encoder is left out: encoders.mine.weights_file: "):
        cfg.load({**MINIMAL, "encoders": {"mine": mine}})
    # the file exists but is corrupt: the encoder runs, and loading it stops with one line naming the file
    (tmp_path / "mine.pth").write_bytes(b"not a checkpoint")
    config = cfg.load({**MINIMAL, "encoders": {"raw": {}, "mine": mine}})
    assert list(config["encoders"]) == ["raw", "mine"]
    from zsc import weights
    from zsc.encoders import build_network

    with pytest.raises(weights.WeightsError, match=r"mine.pth: not a readable checkpoint \(UnpicklingError"):
        weights.load_into(build_network("timm:resnet10t", 0), tmp_path / "mine.pth")


def test_checkpoint_folder_lists_its_files_in_natural_order(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in ("ep10.pth", "ep2.pth", "ep1.pth.tar", "notes.txt", "last.pth"):
        (folder / name).touch()
    run = {"type": "timm", "model": "resnet10t", "checkpoints": {"folder": "ckpt", "pattern": "ep*.pth*"}}
    config = cfg.load({**MINIMAL, "encoders": {"run": run}}, workdir=str(tmp_path))
    assert list(config["encoders"]) == ["run@ep1", "run@ep2", "run@ep10"]  # by the step in the name, not as text
    assert config.entry("encoders", "run@ep10")["weights_file"] == "ckpt/ep10.pth"  # as the folder was given
    assert config.entry("encoders", "run@ep1")["checkpoints"] == {}
    everything = cfg.load({**MINIMAL, "encoders": {"run": {**run, "checkpoints": {"folder": "ckpt"}}}}, workdir=str(tmp_path))
    assert list(everything["encoders"]) == ["run@ep1", "run@ep2", "run@ep10", "run@last", "run@notes.txt"]
    with pytest.raises(cfg.ConfigError, match=r"^encoders.run.checkpoints.folder: nowhere is not a folder$"):
        cfg.load({**MINIMAL, "encoders": {"run": {**run, "checkpoints": {"folder": "nowhere"}}}}, workdir=str(tmp_path))
    with pytest.raises(cfg.ConfigError, match=r"^encoders.run.checkpoints: no file in ckpt matches 'step\*'$"):
        nothing = {**run, "checkpoints": {"folder": "ckpt", "pattern": "step*"}}
        cfg.load({**MINIMAL, "encoders": {"run": nothing}}, workdir=str(tmp_path))
    skipped = {**run, "checkpoints": {"folder": "nowhere"}, "if_missing": "skip"}
    config = cfg.load({**MINIMAL, "encoders": {"raw": {}, "run": skipped}}, workdir=str(tmp_path))
    assert list(config["encoders"]) == ["raw"] and config.left_out_runs() == {"run": None}
    misspelt = {**run, "checkpoints": {"folder": "ckpt", "patern": "x"}}
    with pytest.raises(cfg.ConfigError, match=r"^encoders.run.checkpoints: Additional properties are not allowed \('patern' was"):
        cfg.load({**MINIMAL, "encoders": {"run": misspelt}}, workdir=str(tmp_path))


# --- the user's config as given; derived data apart -------------------------------------------


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "search.yaml"])
def test_load_leaves_the_given_config_unchanged(repo, monkeypatch, name):
    monkeypatch.chdir(repo)
    given = yaml.safe_load((repo / "config" / name).read_text())
    before = copy.deepcopy(given)
    config = cfg.load(given)
    assert given == before
    assert config.given == before and config.given is not given
    # what the workflow derives is held apart from the settings
    assert "umap_reducer" not in config["metrics"] and not any(key.startswith("_") for key in config.settings)
    assert config.umap_reducer in (None, *config["reducers"], "umap_space")


def test_derived_reductions_are_apart_from_the_settings():
    config = cfg.load({**MINIMAL, "reducers": {"umap50": {"type": "umap"}}})
    assert config.umap_reducer == "umap50" and "umap_space" not in config.metric_reducers
    config = cfg.load({**MINIMAL, "metrics": {"umap_silhouette": True}})
    assert config.umap_reducer == "umap_space" and config.entry("reducers", "umap_space")["n_components"] == 50
    assert list(config["reducers"]) == ["none"]


def test_load_does_not_change_a_given_series_or_protocol(repo, monkeypatch):
    monkeypatch.chdir(repo)
    given = {**MINIMAL, "encoders": {"run": {"type": "timm", "model": "resnet10t", "checkpoints": {"a": "a.pth"}}}}
    before = copy.deepcopy(given)
    assert list(cfg.load(given)["encoders"]) == ["run@a"]
    assert given == before
    given = protocol_config()
    before = copy.deepcopy(given)
    cfg.load(given)
    assert given == before


# --- YAML files: one line naming file, line and column -------------------------------------------


def test_duplicate_key_names_file_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("datasets:\n  digits: {}\nencoders:\n  raw: {}\n  raw: {image_size: 8}\n")
    with pytest.raises(cfg.ConfigError) as err:
        cfg.read_yaml(path)
    assert str(err.value) == f"config file {path}:5:3: duplicate key 'raw' (first at line 4)"


def test_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &base {n_init: 1, max_iter: 5}\nkmeans:\n  <<: *base\n  n_init: 3\n")
    assert cfg.read_yaml(path)["kmeans"] == {"n_init": 3, "max_iter": 5}


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("datasets:\n  digits: {}\nencoders:\n  raw: {image_size: 8\nreducers: {}\n")
    with pytest.raises(cfg.ConfigError) as err:
        cfg.read_yaml(path)
    assert str(err.value).startswith(f"config file {path}:5:9: ")
    assert "\n" not in str(err.value)


def test_protocol_file_errors_are_one_line(repo, monkeypatch, tmp_path):
    monkeypatch.chdir(repo)
    binary = tmp_path / "params.yaml"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x00\x08\x08\x00\x00\x00\n\x91\xa2")  # a torch checkpoint (a zip) named by mistake
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(protocol_config(protocol=str(binary)))
    assert str(err.value) == f"protocol {binary}:2: not a text file (byte 0x91 is not UTF-8)"
    text = (repo / PROTOCOL).read_text()
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text(text.replace("encoders:\n", "encoders:\n  raw: {}\n", 1))
    with pytest.raises(cfg.ConfigError, match=rf"^protocol {duplicated}:\d+:3: duplicate key 'raw' \(first at line \d+\)$"):
        cfg.load(protocol_config(protocol=str(duplicated)))


def test_duplicate_key_in_the_configfile_stops_with_one_line(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(MINIMAL) + "seeds: [1]\nseeds: [2]\n")
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    assert result.returncode == 1
    assert snakemake_errors(result) == [
        f"config error: config file {tmp_path / 'config.yaml'}:{len(MINIMAL) * 2 + 2}:1: duplicate key "
        f"'seeds' (first at line {len(MINIMAL) * 2 + 1})"
    ]


def test_syntax_error_in_the_default_config_names_its_line(tmp_path):
    # Snakemake reads --configfile files itself before the workflow (its message names no line:
    # `python -m zsc check FILE` does); the default config/config.yaml is read by the workflow.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("datasets:\n  digits: {}\nencoders: [raw\n")
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 1
    assert snakemake_errors(result) == [
        "config error: config file config/config.yaml:4:1: expected ',' or ']', but got '<stream end>'"
    ]
    check = subprocess.run(
        [sys.executable, "-m", "zsc", "check", "config/config.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 1 and check.stderr == snakemake_errors(result)[0] + "\n"


# --- what a job would find, found before any job ---------------------------------------------


@pytest.mark.parametrize(
    "library, model, message",
    [
        ("timm", "resnet5", "encoders.m.model: 'resnet5' is not a timm model (close: resnet50, "),
        ("torchvision", "resnet19", "encoders.m.model: 'resnet19' is not a torchvision model (close: resnet18, "),
    ],
)
def test_unknown_model_name_names_the_key_with_suggestions(library, model, message):
    config = cfg.load(with_entry("encoders", "m", {"type": library, "model": model}))
    with pytest.raises(cfg.ConfigError) as err:
        cfg.check_config(config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_known_model_names_pass():
    for library, model in (("timm", "resnet50.a1_in1k"), ("timm", "vit_base_patch16_224"), ("torchvision", "vit_b_16")):
        assert cfg.check_config(cfg.load(with_entry("encoders", "m", {"type": library, "model": model}))) == []


def test_model_names_read_from_the_sources_are_the_libraries_lists():
    import timm
    import torchvision.models

    from zsc.config.checks import registered_models

    assert registered_models("timm") == set(timm.list_models())
    assert registered_models("torchvision") == set(torchvision.models.list_models())


def test_missing_weights_file_stops_before_any_job(tmp_path):
    encoders = {"mine": {"type": "timm", "model": "resnet10t", "weights_file": "ckpt/mine.pth"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**MINIMAL, "encoders": encoders}))
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    assert result.returncode == 1
    assert snakemake_errors(result) == ["config error: encoders.mine.weights_file: ckpt/mine.pth does not exist"]
    (tmp_path / "ep1.pth").write_bytes(b"PK\x03\x04")  # a zip archive's first bytes, as torch.save writes
    series = {"run": {"type": "timm", "model": "resnet10t", "checkpoints": {"ep1": str(tmp_path / "ep1.pth"), "ep2": "ep2.pth"}}}
    with pytest.raises(cfg.ConfigError, match=r"^encoders.run.checkpoints.ep2: ep2.pth does not exist$"):
        cfg.check_config(cfg.load({**MINIMAL, "encoders": series}))


def test_weights_file_is_checked_by_its_first_bytes(tmp_path):
    import torch
    from safetensors.torch import save_file

    from zsc.weights import checkpoint_problem

    state = {"w": torch.zeros(2)}
    torch.save(state, tmp_path / "zip.pth")
    torch.save(state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    save_file(state, tmp_path / "w.safetensors")
    assert [checkpoint_problem(tmp_path / name) for name in ("zip.pth", "legacy.pth", "w.safetensors")] == [None] * 3
    (tmp_path / "w.safetensors").rename(tmp_path / "renamed.pth")  # read by torch.load: it would fail
    (tmp_path / "zip.pth").rename(tmp_path / "renamed.safetensors")
    (tmp_path / "empty.pth").write_bytes(b"")
    assert checkpoint_problem(tmp_path / "renamed.pth").startswith("is not a torch checkpoint (a zip archive from torch.save")
    assert checkpoint_problem(tmp_path / "renamed.safetensors") == (
        "is not a safetensors file (8 bytes of header length, then '{'): it starts with b'PK\\x03\\x04\\x00\\x00\\x08\\x08'"
    )
    assert checkpoint_problem(tmp_path / "empty.pth") == "is empty, not a checkpoint"


def test_n_clusters_above_the_samples():
    with pytest.raises(cfg.ConfigError, match=r"^datasets.digits.n_clusters: 50 clusters of at most max_samples 20 samples$"):
        cfg.load(with_entry("datasets", "digits", {"n_clusters": 50, "max_samples": 20}))
    assert cfg.load(with_entry("datasets", "digits", {"n_clusters": 20, "max_samples": 20}))
    # known only once a folder is read: the cluster job's check
    assert n_clusters_problem("mine", 12, 10) == "datasets.mine.n_clusters: 12 clusters of only 10 samples"
    assert n_clusters_problem("mine", 10, 10) is None


def test_unknown_umap_metric_names_the_key():
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load(with_entry("reducers", "u", {"type": "umap", "metric": "euclidian"}))
    assert str(err.value).startswith("reducers.u.metric: 'euclidian' is not one of ['braycurtis', ")
    assert str(err.value).endswith(" (close: euclidean, seuclidean)")


def test_umap_metrics_are_umaps_named_distances():
    import umap.distances

    from zsc.reducers import UMAP_METRICS

    assert UMAP_METRICS == tuple(sorted(umap.distances.named_distances))


def test_pca_components_above_the_dimension():
    reducer = {"type": "pca", "n_components": 200}
    assert (
        reducer_problem("zpca200d", reducer, 1000, 192)
        == "reducers.zpca200d.n_components: 200 components exceed the 192 dimensions"
    )
    assert (
        reducer_problem("zpca200d", reducer, 150, 300) == "reducers.zpca200d.n_components: 200 components exceed the 150 samples"
    )
    assert reducer_problem("zpca200d", reducer, 1000, 200) is None
    assert reducer_problem("zpca95", {"type": "pca", "n_components": 0.95}, 10, 5) is None
    # known before embedding for raw pixels (at most 3 x image_size^2): a warning, the runs recorded as failed
    config = cfg.load(
        {**MINIMAL, "encoders": {"raw": {"image_size": 8}}, "reducers": {"p": {"type": "pca", "n_components": 200}}}
    )
    assert cfg.check_config(config) == [
        "reducers.p.n_components: 200 components exceed the 192 dimensions of encoders.raw: its runs will be recorded as failed"
    ]


# --- the stages, listed once --------------------------------------------------------------


def test_every_stage_is_a_rule_and_the_slurm_groups_are_the_grouped_stages(repo):
    from zsc.stages import GROUPED, STAGES

    rules = "".join(path.read_text() for path in [repo / "Snakefile", *(repo / "workflow" / "rules").glob("*.smk")])
    assert [stage.name for stage in STAGES if f"rule {stage.name}:" not in rules] == []
    profile = yaml.safe_load((repo / "profiles" / "slurm" / "config.yaml").read_text())
    assert list(profile["groups"]) == GROUPED


# --- every kind of bad config, refused before any job ---------------------------------------------

TIMM = {"type": "timm", "model": "resnet10t"}
NOT_A_CHECKPOINT = b"model weights, see README\n"
PHOTOS = {"type": "imagefolder", "root": "photos"}
PARAMS = {"params.yaml": (REPO / PROTOCOL).read_bytes()}
# Each kind of bad config a user may write: (kind, the config (a dict, or the file's text), the one
# line snakemake prints after "config error: " (its start), files to place beside it (None: a folder)).
# fmt: off
BAD_CONFIGS = [
    ("unknown clusterer type", with_entry("clusterers", "kmean", {}), "clusterers.kmean.type: 'kmean' is not one of ['kmeans', ",
     {}),
    ("unknown encoder type", with_entry("encoders", "vit", {"type": "vitt"}), "encoders.vit.type: 'vitt' is not one of ['raw', ",
     {}),
    ("unknown dataset type", with_entry("datasets", "cifar", {}), "datasets.cifar.type: 'cifar' is not one of ['digits', ", {}),
    ("value of the wrong type", with_entry("clusterers", "kmeans", {"n_init": "two"}),
     "clusterers.kmeans.n_init: 'two' is not of type 'integer'", {}),
    ("option the method does not have", with_entry("clusterers", "kmeans", {"n_clusters": 3}),
     "clusterers.kmeans: Unevaluated properties are not allowed ('n_clusters' was unexpected)", {}),
    ("required option missing", with_entry("reducers", "pca", {}), "reducers.pca: 'n_components' is a required property", {}),
    ("number out of range", with_entry("reducers", "p", {"type": "pca", "n_components": 1.5}),
     "reducers.p.n_components: 1.5 is greater than or equal to the maximum of 1", {}),
    ("value not among the allowed", with_entry("datasets", "digits", {"split": "test"}),
     "datasets.digits.split: 'test' is not one of ['all']", {}),
    ("entry name with a slash", with_entry("clusterers", "bad/name", {"type": "kmeans"}), "clusterers: 'bad/name' does not match",
     {}),
    ("options that contradict", with_entry("clusterers", "ac", {"type": "agglomerative", "metric": "l1"}),
     "clusterers.ac.metric: 'euclidean' was expected (linkage 'ward' needs metric 'euclidean')", {}),
    ("unknown UMAP metric", with_entry("reducers", "u", {"type": "umap", "metric": "euclidian"}),
     "reducers.u.metric: 'euclidian' is not one of ", {}),
    ("n_clusters above max_samples", with_entry("datasets", "digits", {"n_clusters": 50, "max_samples": 20}),
     "datasets.digits.n_clusters: 50 clusters of at most max_samples 20 samples", {}),
    ("image folder without root", with_entry("datasets", "mine", {"type": "imagefolder"}),
     "datasets.mine.root: None is not of type 'string'", {}),
    ("seeds not a list", {**MINIMAL, "seeds": 1}, "seeds: 1 is not of type 'array'", {}),
    ("section missing", {k: v for k, v in MINIMAL.items() if k != "encoders"}, "(top level): 'encoders' is a required property",
     {}),
    ("unknown top-level key", {**MINIMAL, "clusterer": {}},
     "(top level): Additional properties are not allowed ('clusterer' was unexpected)", {}),
    ("bad embedding device", {**MINIMAL, "embedding": {"device": "gpu"}}, "embedding.device: 'gpu' does not match ", {}),
    ("memory limit of zero", {**MINIMAL, "limits": {"memory_gb": 0}},
     "limits.memory_gb: 0 is less than or equal to the minimum of 0", {}),
    ("weights_sha256 not hex", with_entry("encoders", "m", {**TIMM, "weights_sha256": "xyz"}),
     "encoders.m.weights_sha256: 'xyz' does not match ", {}),
    ("unknown timm model", with_entry("encoders", "m", {"type": "timm", "model": "resnet5"}),
     "encoders.m.model: 'resnet5' is not a timm model (close: resnet50, ", {}),
    ("unknown torchvision model", with_entry("encoders", "m", {"type": "torchvision", "model": "resnet19"}),
     "encoders.m.model: 'resnet19' is not a torchvision model (close: resnet18, ", {}),
    ("missing weights_file", with_entry("encoders", "m", {**TIMM, "weights_file": "ckpt/m.pth"}),
     "encoders.m.weights_file: ckpt/m.pth does not exist", {}),
    ("missing file of a checkpoint series", with_entry("encoders", "run", {**TIMM, "checkpoints": {"ep1": "ep1.pth"}}),
     "encoders.run.checkpoints.ep1: ep1.pth does not exist", {}),
    ("weights_file that is not a checkpoint", with_entry("encoders", "m", {**TIMM, "weights_file": "m.pth"}),
     "encoders.m.weights_file: m.pth is not a torch checkpoint (a zip archive from torch.save, or a pickle): it starts with b'",
     {"m.pth": NOT_A_CHECKPOINT}),
    ("weights_file that is not a safetensors file", with_entry("encoders", "m", {**TIMM, "weights_file": "m.safetensors"}),
     "encoders.m.weights_file: m.safetensors is not a safetensors file (8 bytes of header length, then '{'): ",
     {"m.safetensors": NOT_A_CHECKPOINT}),
    ("weights_url without a file name", with_entry("encoders", "m", {**TIMM, "weights_url": "https://example.org/models/"}),
     "encoders.m.weights_url: 'https://example.org/models/' ends in '/', not a file name", {}),
    ("weights_url ending in ..", with_entry("encoders", "m", {**TIMM, "weights_url": "https://example.org/models/.."}),
     "encoders.m.weights_url: 'https://example.org/models/..' ends in '..', not a file name", {}),
    ("weights_url that is a path", with_entry("encoders", "m", {**TIMM, "weights_url": "ckpt/m.pth"}),
     "encoders.m.weights_url: 'ckpt/m.pth' is not an http(s), ftp or file URL (a local checkpoint is weights_file)", {}),
    ("image folder root missing", with_entry("datasets", "mine", PHOTOS), "datasets.mine.root: photos does not exist", {}),
    ("image folder root empty", with_entry("datasets", "mine", PHOTOS), "datasets.mine.root: photos holds no files",
     {"photos": None}),
    ("image folder without images", with_entry("datasets", "mine", PHOTOS),
     "datasets.mine.root: photos holds no image files (none has an image extension such as .jpg or .png: e.g. notes.txt)",
     {"photos/notes.txt": b"to do\n"}),
    ("probe split the dataset lacks", with_entry("datasets", "digits", {"probe_split": "train"}),
     "datasets.digits.probe_split: 'train' is not another split of digits (carve, none)", {}),
    ("example images of no run",
     {**MINIMAL, "outputs": {"example_images": [{"dataset": "digits", "encoder": "raw", "clusterer": "hdbscan"}]}},
     "outputs.example_images.0: {'clusterer': 'hdbscan', 'dataset': 'digits', 'encoder': 'raw'} is not a run of this config", {}),
    ("outputs naming no encoder", {**MINIMAL, "outputs": {"encoders": {"nope": {"label": "N"}}}},
     "outputs.encoders.nope: not an encoder of this config (raw)", {}),
    ("search dataset not in the config", {**MINIMAL, "search": {"datasets": {"imagenette": 1}, "clusterers": {"kmeans": {}}}},
     "search.datasets: 'imagenette' is not one of the config's datasets ['digits']", {}),
    ("protocol file missing", protocol_config(protocol="nowhere.yaml"), "protocol: cannot read nowhere.yaml", {}),
    ("protocol and clusterers both", protocol_config(protocol="params.yaml", clusterers={"kmeans": {}}),
     "clusterers: the protocol params.yaml names the clusterers; leave them out of the config", PARAMS),
    ("protocol without the encoder", protocol_config(protocol="params.yaml", encoders={"mine": TIMM}),
     "encoders.mine: the protocol params.yaml has no settings for it (it has: raw, ", PARAMS),
    ("protocol setting out of range", protocol_config(protocol="params.yaml"),
     "protocol params.yaml: encoders.raw.affinity_propagation.damping: 2.",
     {"params.yaml": PARAMS["params.yaml"].replace(b"damping: 0.", b"damping: 2.", 1)}),
    ("protocol that is not text", protocol_config(protocol="params.yaml"),
     "protocol params.yaml:2: not a text file (byte 0x91 is not UTF-8)",
     {"params.yaml": b"PK\x03\x04\x14\x00\x00\x08\x08\x00\x00\x00\n\x91\xa2"}),
    ("duplicate key", yaml.safe_dump(MINIMAL) + "seeds: [1]\nseeds: [2]\n",
     "config file {config}:10:1: duplicate key 'seeds' (first at line 9)", {}),
]
# fmt: on

# Kinds Snakemake refuses itself, reading --configfile before the workflow: its message (on stdout)
# names no line (README: Troubleshooting); `python -m zsc check --configfile` names it.
NOT_YAML = "Config file is not valid JSON or YAML. In case of YAML, make sure to not mix whitespace and tab indentation."
SNAKEMAKE_REFUSES = [
    (
        "YAML syntax error",
        "datasets:\n  digits: {}\nencoders: [raw\n",
        NOT_YAML,
        "config file {config}:4:1: expected ',' or ']', but got '<stream end>'",
    ),
    (
        "bad indent",
        "datasets:\n  digits: {}\n encoders:\n  raw: {}\n",
        NOT_YAML,
        "config file {config}:3:2: expected <block end>, but found '<block mapping start>'",
    ),
    (
        "empty config file",
        "",
        "Config file must be given as JSON or YAML with keys at top level.",
        "config file {config}: empty (a config is a mapping of keys: datasets, encoders, reducers, clusterers)",
    ),
]


def _dry_run(folder, config, files):
    """snakemake -n on `config` (a dict or a file's text) in its own folder, with `files` beside it."""
    folder.mkdir()
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if content is None else path.write_bytes(content)
    (folder / "config.yaml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return snakemake(folder, "-n", "--configfile", "config.yaml")


def test_every_kind_of_bad_config_is_refused_before_any_job(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    cases = [(kind, config, files) for kind, config, _, files in BAD_CONFIGS]
    cases += [(kind, text, {}) for kind, text, *_ in SNAKEMAKE_REFUSES]
    folders = {kind: tmp_path / f"case{i}" for i, (kind, *_) in enumerate(cases)}
    with ThreadPoolExecutor(2) as pool:  # a dry run is a second of CPU, mostly Snakemake's start
        results = dict(zip(folders, pool.map(lambda case: _dry_run(folders[case[0]], *case[1:]), cases)))
    wrong = {}
    for kind, _, message, _ in BAD_CONFIGS:
        result, folder = results[kind], folders[kind]
        lines = snakemake_errors(result)
        expected = "config error: " + message.replace("{config}", str(folder / "config.yaml"))
        if result.returncode != 1 or len(lines) != 1 or not lines[0].startswith(expected):
            wrong[kind] = lines
        if any((folder / path).exists() for path in ("results", "resources", ".snakemake/incomplete")):
            wrong[kind] = "left files behind"
    readme = " ".join((REPO / "README.md").read_text().replace("`", "").split())
    for kind, _, snakemake_message, check_message in SNAKEMAKE_REFUSES:
        result, folder = results[kind], folders[kind]
        if result.returncode != 1 or result.stdout.splitlines() != ["WorkflowError:", snakemake_message]:
            wrong[kind] = result.stdout
        assert f"WorkflowError: {snakemake_message}" in readme  # its troubleshooting quotes it
        check = subprocess.run(
            [sys.executable, "-m", "zsc", "check", "--configfile", "config.yaml"], cwd=folder, capture_output=True, text=True
        )
        if check.returncode != 1 or check.stderr != "config error: " + check_message.replace("{config}", "config.yaml") + "\n":
            wrong[kind] = check.stderr
    assert wrong == {}
    print(
        f"\n{len(cases)} kinds of bad config refused before any job: {len(BAD_CONFIGS)} with one line naming the key or file, "
        f"{len(SNAKEMAKE_REFUSES)} with Snakemake's own message (python -m zsc check --configfile names the line)"
    )
    assert (len(cases), len(BAD_CONFIGS)) == (44, 41)
