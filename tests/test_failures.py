"""Failures are results, not holes (docs/failures.md): a method that cannot run on its data is a row
with status `failed` and the reason, and every table and figure is still written; a bug stops the
run; only a network error is tried again; an unreadable intermediate file is named with the command
that recomputes it."""

import http.client
import urllib.error

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.sparse.linalg import ArpackNoConvergence

from conftest import snakemake
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
    for deterministic in (urllib.error.HTTPError("http://127.0.0.1/x", 404, "Not Found", {}, None), ValueError("checksum mismatch")):
        stage, calls = flaky([deterministic])
        with pytest.raises(type(deterministic)):
            failures.retry_network(stage, attempts=3, delay_s=0)()
        assert len(calls) == 1  # the same error every time: raised at once


def _embeddings(path, n=40, d=6):
    rng = np.random.default_rng(0)
    tables.write(path, {"index": np.arange(n), "label": np.arange(n) % 4, tables.VECTOR: rng.normal(size=(n, d)).astype(np.float32)})


def test_a_reduction_that_cannot_run_is_recorded_and_its_clusterings_say_why(tmp_path):
    _embeddings(tmp_path / "emb.parquet")
    pca = {**spec("reducers", "pca", n_components=20), "name": "zpca20"}
    reduce(tmp_path / "emb.parquet", tmp_path / "red.parquet", pca, seed=1, embeddings="the embeddings of digits (split all) by raw")
    status, reason = tables.not_run(tmp_path / "red.parquet")
    assert status == "failed"
    assert reason == "reducers.zpca20.n_components: 20 components exceed the 6 dimensions of the embeddings of digits (split all) by raw"
    kmeans = {**spec("clusterers", "kmeans"), "name": "kmeans"}
    cluster(tmp_path / "red.parquet", tmp_path / "emb.parquet", tmp_path / "clusters.parquet", kmeans, seed=1)
    assert tables.not_run(tmp_path / "clusters.parquet") == ("failed", f"not run, its reduction failed: {reason}")


def test_more_clusters_than_samples_is_a_failed_cell_naming_the_config_key(tmp_path):
    _embeddings(tmp_path / "emb.parquet", n=10)
    kmeans = {**spec("clusterers", "kmeans"), "name": "kmeans"}
    cluster(tmp_path / "emb.parquet", tmp_path / "emb.parquet", tmp_path / "c.parquet", kmeans, seed=1, n_clusters=12, dataset="mine")
    status, reason = tables.not_run(tmp_path / "c.parquet")
    assert status == "failed" and reason == "datasets.mine.n_clusters: 12 clusters of only 10 samples, so kmeans (kmeans) cannot run"


def test_a_bug_in_a_method_stops_the_job(tmp_path, monkeypatch):
    _embeddings(tmp_path / "emb.parquet")
    from sklearn.cluster import KMeans

    monkeypatch.setattr(KMeans, "fit_predict", lambda self, X: {}["no such key"])
    with pytest.raises(KeyError):
        cluster(tmp_path / "emb.parquet", tmp_path / "emb.parquet", tmp_path / "c.parquet", {**spec("clusterers", "kmeans"), "name": "kmeans"}, seed=1)
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


# Digits' raw pixels are 192-d (3 x 8 x 8): the study's zpca200d cannot reduce them (its own code fails
# on such an embedding too); zpca10 can. Each clusterer runs on the one and fails on the other.
IMPOSSIBLE_CELL = {
    "seeds": [1],
    "datasets": {"digits": {"max_samples": 200}},
    "encoders": {"raw": {}},
    "reducers": {"zpca10": {"type": "pca", "n_components": 10}, "zpca200d": {"type": "pca", "n_components": 200}},
    "clusterers": {"kmeans": {}, "ac_ward": {"type": "agglomerative"}},
    "metrics": {"umap_silhouette": False},
    "outputs": {"embedding_maps": False},
}


@pytest.mark.integration
def test_a_grid_with_an_impossible_cell_writes_every_table_and_figure(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(IMPOSSIBLE_CELL))
    result = snakemake(tmp_path, "--configfile", "config.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    runs = pd.read_parquet(tmp_path / "results/tables/runs.parquet")
    assert len(runs) == 4
    failed = runs[runs["reducer"] == "zpca200d"]
    reason = "reducers.zpca200d.n_components: 200 components exceed the 192 dimensions of the embeddings of dataset digits (split all) by encoder raw"
    assert set(failed["status"]) == {"failed"} and set(failed["skipped"]) == {f"not run, its reduction failed: {reason}"}
    assert failed["AMI"].isna().all()
    ran = runs[runs["reducer"] == "zpca10"]
    assert set(ran["status"]) == {"ran"} and (ran["AMI"] > 0.3).all()
    note = f"failed: digits / raw / zpca200d / kmeans (seed 1): not run, its reduction failed: {reason}"
    summary = (tmp_path / "results/tables/ami_summary.md").read_text()
    assert "| digits    | raw       | zpca200d  |           |          |" in summary and f"- {note}" in summary
    main_table = (tmp_path / "results/outputs/main_ami/main_ami.md").read_text()
    assert f"- {note}" in main_table and "| raw pixels     | raw       |" in main_table
    assert (tmp_path / "results/outputs/ami_heatmap/ami_heatmap.png").stat().st_size > 0
    # and the run is finished: the failed cell is a result, not a job to run again
    again = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
