"""Failures are results, not holes (docs/failures.md): a method that cannot run on its data is a row
with status `failed` and the reason, and every table and figure is still written; a bug stops the
run; only a network error is tried again; an unreadable intermediate file is named with the command
that recomputes it."""

import http.client
import urllib.error

import numpy as np
import pandas as pd
import pytest
from scipy.sparse.linalg import ArpackNoConvergence

from conftest import GUARDED_TARGETS, snakemake
from test_methods import spec
from zsc import failures, resources, tables
from zsc.clusterers import cluster
from zsc.reducers import reduce


@pytest.mark.parametrize(
    "error,recorded",
    [
        (ValueError("n_components=200 must be between 0 and min(n_samples, n_features)=192"), True),
        (ValueError("Cannot extract more clusters than samples: n_clusters=12 > n_samples=10"), True),
        (ValueError("Input X contains NaN."), True),
        (ArpackNoConvergence("ARPACK error -1: No convergence", [], []), True),
        (ValueError("could not convert string to float: 'a'"), False),  # a bug, not the data
        (TypeError("fit() got an unexpected keyword argument 'n_components'"), False),
        (KeyError("n_clusters"), False),
        (MemoryError(), False),
        (FileNotFoundError("results/reduced/x.parquet"), False),
    ],
)
def test_cell_failures_are_the_data_dependent_errors_only(error, recorded):
    assert (failures.cell_failure(error) is not None) == recorded


def test_only_network_errors_are_tried_again():
    def flaky(errors):
        calls = []

        def stage():
            calls.append(1)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            return "done"

        return stage, calls

    stage, calls = flaky([urllib.error.URLError(ConnectionRefusedError(111, "refused")), http.client.IncompleteRead(b"")])
    assert failures.retry_network(stage, attempts=3, delay_s=0)() == "done" and len(calls) == 3
    server_error = urllib.error.HTTPError("http://127.0.0.1/x", 503, "Service Unavailable", {}, None)
    stage, calls = flaky([server_error] * 3)
    with pytest.raises(urllib.error.HTTPError):
        failures.retry_network(stage, attempts=3, delay_s=0)()
    assert len(calls) == 3
    for deterministic in (
        urllib.error.HTTPError("http://127.0.0.1/x", 404, "Not Found", {}, None),
        ValueError("checksum mismatch"),
    ):
        stage, calls = flaky([deterministic])
        with pytest.raises(type(deterministic)):
            failures.retry_network(stage, attempts=3, delay_s=0)()
        assert len(calls) == 1  # the same error every time: raised at once


def _embeddings(path, n=40, d=6):
    rng = np.random.default_rng(0)
    tables.write(
        path, {"index": np.arange(n), "label": np.arange(n) % 4, tables.VECTOR: rng.normal(size=(n, d)).astype(np.float32)}
    )


def test_a_reduction_that_cannot_run_is_recorded_and_its_clusterings_say_why(tmp_path):
    _embeddings(tmp_path / "emb.parquet")
    pca = {**spec("reducers", "pca", n_components=20), "name": "zpca20"}
    reduce(
        tmp_path / "emb.parquet", tmp_path / "red.parquet", pca, seed=1, embeddings="the embeddings of digits (split all) by raw"
    )
    status, reason = tables.not_run(tmp_path / "red.parquet")
    assert status == "failed"
    assert (
        reason
        == "reducers.zpca20.n_components: 20 components exceed the 6 dimensions of the embeddings of digits (split all) by raw"
    )
    kmeans = {**spec("clusterers", "kmeans"), "name": "kmeans"}
    cluster(tmp_path / "red.parquet", tmp_path / "emb.parquet", tmp_path / "clusters.parquet", kmeans, seed=1)
    assert tables.not_run(tmp_path / "clusters.parquet") == ("failed", f"not run, its reduction failed: {reason}")


def test_more_clusters_than_samples_is_a_failed_cell_naming_the_config_key(tmp_path):
    _embeddings(tmp_path / "emb.parquet", n=10)
    kmeans = {**spec("clusterers", "kmeans"), "name": "kmeans"}
    cluster(
        tmp_path / "emb.parquet", tmp_path / "emb.parquet", tmp_path / "c.parquet", kmeans, seed=1, n_clusters=12, dataset="mine"
    )
    status, reason = tables.not_run(tmp_path / "c.parquet")
    assert (
        status == "failed" and reason == "datasets.mine.n_clusters: 12 clusters of only 10 samples, so kmeans (kmeans) cannot run"
    )


def test_a_bug_in_a_method_stops_the_job(tmp_path, monkeypatch):
    _embeddings(tmp_path / "emb.parquet")
    from sklearn.cluster import KMeans

    monkeypatch.setattr(KMeans, "fit_predict", lambda self, X: {}["no such key"])
    with pytest.raises(KeyError):
        cluster(
            tmp_path / "emb.parquet",
            tmp_path / "emb.parquet",
            tmp_path / "c.parquet",
            {**spec("clusterers", "kmeans"), "name": "kmeans"},
            seed=1,
        )
    assert not (tmp_path / "c.parquet").exists()


def test_a_truncated_parquet_is_named_with_the_command_that_recomputes_it(tmp_path):
    path = tmp_path / "results" / "reduced" / "digits" / "all" / "raw" / "seed1" / "zpca10.parquet"
    path.parent.mkdir(parents=True)
    _embeddings(path)
    path.write_bytes(path.read_bytes()[:-200])  # a copy cut short
    expected = (
        f"{path} is not a readable parquet file (truncated?): delete it and run the same snakemake command again, "
        "which recomputes it (rule reduce), or recompute every reduce job: snakemake --cores all --forcerun reduce"
    )
    for read in (tables.read_vectors, resources.table_shape, tables.read_meta):
        with pytest.raises(tables.UnreadableTable) as error:
            read(path)
        assert str(error.value).startswith(expected)
        assert "\n" not in str(error.value)


@pytest.mark.integration
def test_a_grid_with_an_impossible_cell_writes_every_table_and_figure(guarded_run):
    # conftest.GUARDED: the study's zpca200d cannot reduce digits' 192-d raw pixels (the study's own
    # code fails there too); it reduces the network's 512-d embeddings
    work, _ = guarded_run
    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    failed = runs[runs["status"] == "failed"]
    reason = (
        "reducers.zpca200d.n_components: 200 components exceed the 192 dimensions of the embeddings of "
        "dataset digits (split all) by encoder raw"
    )
    assert set(zip(failed["encoder"], failed["reducer"])) == {("raw", "zpca200d")} and len(failed) == 4  # its four clusterers
    assert set(failed["skipped"]) == {f"not run, its reduction failed: {reason}"}
    assert failed["AMI"].isna().all()
    ran = runs[runs["status"] == "ran"]
    assert ("random_tiny", "zpca200d") in set(zip(ran["encoder"], ran["reducer"])) and ran["AMI"].notna().all()
    note = f"failed: digits / raw / zpca200d / kmeans (seed 1): not run, its reduction failed: {reason}"
    summary = (work / "results/tables/ami_summary.md").read_text()
    row = next(line for line in summary.splitlines() if "| raw " in line and "| zpca200d " in line)
    assert set(row.replace(" ", "").split("|")[4:-1]) == {""}  # empty cells, not "nan"
    assert f"- {note}" in summary
    main_table = (work / "results/outputs/main_ami/main_ami.md").read_text()
    assert f"- {note}" in main_table and "| raw pixels " in main_table
    assert (work / "results/outputs/ami_heatmap/ami_heatmap.png").stat().st_size > 0
    # the run is finished: a failed cell is a result, not a job to run again
    again = snakemake(work, *GUARDED_TARGETS, "-n", "--configfile", "config.yaml")  # (--configfile takes every name after it)
    assert "Nothing to be done" in again.stdout + again.stderr


# Grids in which no run runs, each run end to end in one folder (the second reuses the first's
# embeddings): every reduction fails (PCA-5000 on digits' 192-d raw pixels), then every clusterer is over
# the memory limit.
NONE_RAN = {
    "failed": {"reducers": {"p": {"type": "pca", "n_components": 5000}}},
    "skipped": {"reducers": {"none": {}}, "limits": {"memory_gb": 1e-5}},
}
NONE_RAN_REASONS = {
    "failed": "not run, its reduction failed: reducers.p.n_components: 5000 components exceed the 192 dimensions",
    "skipped": "(limits.memory_gb): subsample with the dataset's max_samples",
}


@pytest.fixture(scope="module")
def none_ran_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("none-ran")


@pytest.mark.integration
@pytest.mark.parametrize("status", list(NONE_RAN))
def test_a_grid_in_which_no_run_ran_renders_every_output_saying_why(none_ran_folder, status):
    import yaml

    from zsc import config as cfg
    from zsc.outputs import OUTPUTS, facts

    work = none_ran_folder
    config = {
        "datasets": {"digits": {"max_samples": 200}},
        "encoders": {"raw": {}},
        "clusterers": {"kmeans": {}, "hdbscan": {}},
        "metrics": {"umap_silhouette": False},
        "outputs": {"embedding_maps": False},
        "labelfree": {"enabled": False},
        "probes": {"enabled": False},
        **NONE_RAN[status],
    }
    (work / f"{status}.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(work, "--configfile", f"{status}.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    # the runs that did not run are listed on the terminal, with their reasons
    assert f"2 of 2 runs did not run (2 {status}); the tables and outputs are written without them:" in result.stderr
    assert f"  {status}: digits / raw / {'p' if status == 'failed' else 'none'} / kmeans (seed 1): " in result.stderr
    provided = [e for e in OUTPUTS if e.name not in facts(cfg.load(config))["not_produced"]]
    assert len(provided) == 15  # with the recommendation, score validation, per-image tables and contact sheets
    index = pd.read_csv(work / "results/outputs/outputs_index/outputs_index.csv").set_index("output")
    for entry in provided:
        folder = work / "results/outputs" / entry.name
        files = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
        if entry.name in ("outputs_index", "datasets", "pca_variance"):  # the config's or the embeddings': not empty
            assert index.loc[entry.name, "produced"] == "yes" and len(files) >= 2, entry.name
            continue
        assert index.loc[entry.name, "produced"] == "empty", entry.name
        why = index.loc[entry.name, "why not"]
        assert why.startswith(f"no run of this config ran (2 {status})") and NONE_RAN_REASONS[status] in result.stderr + why
        suffixes = (".csv", ".md", ".tex", ".html") if entry.info["kind"] == "table" else (".png", ".pdf")
        assert files == {entry.name + suffix for suffix in suffixes}, entry.name
        if entry.info["kind"] == "table":
            assert pd.read_csv(folder / f"{entry.name}.csv")["why empty"].tolist() == [why]
            assert f"Empty: {why}." in (folder / f"{entry.name}.md").read_text()


def test_an_error_about_the_users_input_is_one_line_without_a_traceback(tmp_path, capfd):
    from zsc.datasets.base import DatasetError
    from zsc.logs import run_logged

    def prepare():
        raise DatasetError("imagefolder: /data/a/bad\\xff.png: not an image (bad_images: skip would leave it out)")

    def bug():
        return {}["no such key"]

    with pytest.raises(SystemExit) as exit_:
        run_logged(tmp_path / "prepare.log", prepare)
    assert exit_.value.code == 1
    assert (
        capfd.readouterr().err == "error: imagefolder: /data/a/bad\\xff.png: not an image (bad_images: skip would leave it out)\n"
    )
    assert "Traceback" not in (tmp_path / "prepare.log").read_text()
    with pytest.raises(KeyError):  # a bug keeps its traceback, in the log
        run_logged(tmp_path / "bug.log", bug)
    assert "Traceback" in (tmp_path / "bug.log").read_text()


def test_the_user_errors_named_for_the_logs_exist():
    import importlib

    from zsc.logs import USER_ERRORS

    for name in USER_ERRORS:
        module, cls = name.rsplit(".", 1)
        assert issubclass(getattr(importlib.import_module(module), cls), Exception), name
