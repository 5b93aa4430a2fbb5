"""What jobs ask a scheduler for (zsc.resources): read from the data's size, growing with it."""

import re

import numpy as np
import pytest
import yaml

from zsc import resources, tables
from zsc.clusterers import CLUSTERERS
from zsc.encoders import ENCODERS


def test_table_shape_reads_rows_and_dimension_from_the_footer(tmp_path):
    vectors = np.zeros((120, 7), dtype=np.float32)
    tables.write(tmp_path / "emb.parquet", {"index": np.arange(120), "embedding": vectors})
    tables.write(tmp_path / "manifest.parquet", {"index": np.arange(30), "label": np.zeros(30, dtype=int)})
    assert resources.table_shape(tmp_path / "emb.parquet") == (120, 7)
    assert resources.table_shape(tmp_path / "manifest.parquet") == (30, 0)


def test_a_file_not_written_yet_is_named_so_snakemake_asks_again_later(tmp_path):
    # Snakemake takes a FileNotFoundError whose filename is one of the job's inputs as "not known yet"
    missing = str(tmp_path / "later.parquet")
    with pytest.raises(FileNotFoundError) as error:
        resources.table_shape(missing)
    assert error.value.filename == missing


def test_embedding_dimension_bounds():
    raw = ENCODERS["raw"]
    assert resources.embedding_dim({"image_size": 32}, raw.info) == 3 * 32 * 32
    assert resources.embedding_dim({}, ENCODERS["resnet50"].info) == 2048  # a study encoder states its own
    assert resources.embedding_dim({}, ENCODERS["timm"].info) == resources.UNKNOWN_DIM


def test_embedding_memory_and_time_grow_with_the_dataset():
    small, large = resources.embed_mem_mb(1_000, 2048, True), resources.embed_mem_mb(100_000, 2048, True)
    assert small < large
    # 100,000 x 2048 float32 vectors are 781 MiB; three copies of them, beside torch and the model
    assert large - small == pytest.approx(3 * 4 * 99_000 * 2048 / 2**20, abs=2)
    # raw pixels need no model: neither its weights nor a forward pass's activations
    assert resources.embed_mem_mb(1_000, 2048, False) < small - resources.WEIGHTS_MB
    assert resources.embed_runtime(1_000) < resources.embed_runtime(100_000)


def need(name, n, d=50, limit=None):
    spec = {**CLUSTERERS[name].defaults(), "type": name, "name": name}
    return resources.cluster_need(CLUSTERERS[name].info["memory"], n, d, spec, limit)


def test_clustering_memory_follows_the_method():
    # Affinity Propagation holds N x N matrices: 10x the points, 100x the need; K-Means grows linearly
    assert need("affinity_propagation", 20_000) == 100 * need("affinity_propagation", 2_000)
    assert need("kmeans", 20_000) == 10 * need("kmeans", 2_000)
    ap = resources.cluster_mem_mb(need("affinity_propagation", 20_000), 20_000, 50)
    kmeans = resources.cluster_mem_mb(need("kmeans", 20_000), 20_000, 50)
    assert ap > 10_000 > 2_000 > kmeans  # AP on 20k points: about 12 GiB
    assert resources.cluster_runtime(need("affinity_propagation", 20_000), 20_000) > resources.cluster_runtime(
        need("kmeans", 20_000), 20_000
    )


def test_clustering_never_asks_more_than_the_configured_limit():
    # over limits.memory_gb the job records the run as skipped instead of starting the clusterer
    limit = 4 * 2**30
    assert need("affinity_propagation", 100_000, limit=limit) == limit
    assert need("kmeans", 1_000, limit=limit) == need("kmeans", 1_000)


def test_reduction_and_scoring_grow_with_points_and_dimensions():
    assert resources.reduce_mem_mb(10_000, 2048) > resources.reduce_mem_mb(10_000, 50) > resources.reduce_mem_mb(1_000, 50)
    assert resources.reduce_runtime(50_000, 2048) > resources.reduce_runtime(1_000, 2048)
    # silhouettes: memory linear in N (distances come in blocks), time quadratic
    assert resources.evaluate_mem_mb(1_000, [2048, 50]) < resources.evaluate_mem_mb(10_000, [2048, 50])

    def scoring_minutes(n):
        return resources.evaluate_runtime(n, [2048, 50]) - resources.MIN_RUNTIME

    assert scoring_minutes(200_000) > 50 * scoring_minutes(20_000)  # 10x the points: about 100x (rounded up)


SCHEDULED = {
    "seeds": [1],
    "datasets": {"digits": {"max_samples": 300}},
    "encoders": {"raw": {}},
    "reducers": {"none": {}, "umap5": {"type": "umap", "n_components": 5, "n_neighbors": 15}},
    "clusterers": {"spectral": {"type": "spectral"}, "kmeans": {}},
    "labelfree": {"enabled": False},
    "probes": {"enabled": False},
    "outputs": {"embedding_maps": False},
}
CLUSTERS = "results/clusters/digits/test/raw/seed1/{}.parquet"


def jobs_listed(output: str) -> list[list[tuple[str, dict]]]:
    """Snakemake's job listing, split where a job finishes: per stretch, each job's rule and fields
    (wildcards, threads, priority)."""
    stretches, job = [[]], None
    for line in output.splitlines():
        if line.startswith("Finished jobid"):
            stretches.append([])
        elif m := re.match(r"^(?:local)?rule (\w+):$", line):
            job = (m[1], {})
            stretches[-1].append(job)
        elif job and (m := re.match(r"^\s+(wildcards|threads|priority): (.*)$", line)):
            job[1][m[1]] = m[2]
    return stretches


def test_a_reduction_starts_first_and_the_embeddings_clusterer_leaves_it_a_core(tmp_path):
    """On 2 cores, a seeded UMAP (one thread, priority) and Spectral on the embeddings themselves
    (its entry asks for 4 threads) start together, instead of Spectral alone on both cores and the
    reduction after it; with more cores, Spectral keeps its threads but one."""
    from conftest import snakemake

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(SCHEDULED))
    targets = [CLUSTERS.format("none/spectral"), CLUSTERS.format("umap5/kmeans")]
    for cores, spectral_threads in (("2", None), ("6", "4")):  # snakemake lists threads above 1 only
        planned = snakemake(tmp_path, "-n", "--cores", cores, "--configfile", "config.yaml", "--", *targets)
        assert planned.returncode == 0, planned.stderr[-3000:]
        jobs = [job for stretch in jobs_listed(planned.stdout + planned.stderr) for job in stretch]
        (spectral,) = [fields for rule, fields in jobs if rule == "cluster" and "spectral" in fields["wildcards"]]
        (reduce,) = [fields for rule, fields in jobs if rule == "reduce"]
        assert spectral.get("threads") == spectral_threads and reduce.get("priority") == "1"
    ran = snakemake(tmp_path, "--cores", "2", "--configfile", "config.yaml", "--", *targets)
    assert ran.returncode == 0, ran.stderr[-3000:]
    started_together = next(stretch for stretch in jobs_listed(ran.stdout + ran.stderr) if any(r == "reduce" for r, _ in stretch))
    assert sorted(rule for rule, _ in started_together) == ["cluster", "reduce"]
    assert "spectral" in [fields for rule, fields in started_together if rule == "cluster"][0]["wildcards"]
