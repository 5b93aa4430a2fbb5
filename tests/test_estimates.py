"""Memory estimates (zsc.resources, the registries' `memory`) are upper bounds of the peaks measured
in docs/measurements.md, within the stated factor: measured <= estimate <= max(MEMORY_FACTOR x
measured, measured + MEMORY_SLACK_MB). tests/test_plan.py checks the same on every job of a real run."""

import pytest

from zsc import resources
from zsc.clusterers import CLUSTERERS

# docs/measurements.md, "Stage time and peak memory against N" (2026-11-23): Fashion-MNIST `all`
# subsamples, raw pixels (2,352-d) and the random-init ResNet-50 (2,048-d), the resnet50 row of
# config/params/v5.0.yaml; silhouettes on at most 10,000 points. Peak MB of each job.
# Re-measured tables replace these rows. HDBSCAN at 10,000 x 50 re-measured 2026-12-02 after `auto`
# moved to scikit-learn's KD-tree up to 64 dimensions (was brute force: 1,766 and 1,745 MB): the peak
# of a process clustering 10,000 points of UMAP-50 with the registry's entry (docs/measurements.md,
# "HDBSCAN neighbour search"). The ward figures are scikit-learn's route; zsc.linkage's is below
# them (tests/test_scale_methods.py). Spectral at 100,000 x 2,048 (2026-12-02): the peak of the
# process of `zsc.bench_scale spectral` on the 100,000-point set (the embeddings read as a job reads
# them, scikit-learn's steps): 4,063 MB up to Lanczos, 12,861 MB with ARPACK's LU. The raw row at
# 100,000 x 2,352 (2026-12-02 and 2026-12-05): the jobs of `zsc.bench_cluster --settings-of raw` on
# the 100,000-point set, the largest peak of the runs that measured it (snakemake samples
# a job's memory now and then, so a short peak is caught in one run and missed in the other).
SCALING = {
    (1000, 2352): {
        "umap": 428,
        "kmeans": 194,
        "spectral": 289,
        "ward": 227,
        "ward_threshold": 222,
        "ap": 339,
        "hdbscan": 220,
        "evaluate": 366,
    },
    (10000, 2352): {
        "umap": 976,
        "kmeans": 225,
        "spectral": 924,
        "ward": 997,
        "ward_threshold": 999,
        "ap": 2254,
        "hdbscan": 327,
        "evaluate": 1392,
    },
    (70000, 2352): {"umap": 4658, "kmeans": 263, "hdbscan": 329, "evaluate": 2414},
    (1000, 2048): {
        "umap": 400,
        "kmeans": 226,
        "spectral": 263,
        "ward": 225,
        "ward_threshold": 217,
        "ap": 344,
        "hdbscan": 217,
        "evaluate": 379,
    },
    (10000, 2048): {
        "umap": 979,
        "kmeans": 215,
        "spectral": 615,
        "ward": 997,
        "ward_threshold": 999,
        "ap": 2255,
        "hdbscan": 327,
        "evaluate": 1413,
    },
    (70000, 2048): {"umap": 4009, "kmeans": 278, "hdbscan": 334, "evaluate": 2983},
    (100000, 2048): {"spectral": 12861, "spectral_lanczos": 4063, "evaluate": 4869},
    (100000, 2352): {
        "umap": 5376,
        "umap2": 5716,
        "zpca200": 8103,
        "zpca80": 6720,
        "zpca90": 6722,
        "spectral_k10": 8151,
        "kmeans_zpca90": 828,
        "evaluate": 5366,
        "labelfree": 4220,
        "probes": 6671,
    },
}
U50 = {"type": "umap", "n_components": 50, "n_neighbors": 30}
# Each scaling job's stage and settings; a clusterer's "width" is that of the reduction it clustered
# (absent: the embeddings themselves). evaluate's spaces (the embeddings first) and silhouettes'
# points: the embeddings and UMAP-50 on at most 10,000 points, but at 100,000 exact on every point in
# every space of the row (the raw row: the pixels, zPCA-90 (250-d), zPCA-200, zPCA-80 (62-d), UMAP-50).
SCALING_JOBS = {
    "umap": ("reduce", U50),
    "umap2": ("reduce", {"type": "umap", "n_components": 2, "n_neighbors": 30}),
    "zpca200": ("reduce", {"type": "pca", "n_components": 200}),
    "zpca80": ("reduce", {"type": "pca", "n_components": 0.8}),
    "zpca90": ("reduce", {"type": "pca", "n_components": 0.9}),
    "kmeans": ("cluster", {"type": "kmeans", "width": 50}),
    "kmeans_zpca90": ("cluster", {"type": "kmeans", "width": 250}),  # zPCA-90 keeps 250 of the 100,000-point set's 2,352 pixels
    "spectral": ("cluster", {"type": "spectral", "n_neighbors": 20}),
    "spectral_lanczos": ("cluster", {"type": "spectral", "n_neighbors": 20, "eigen_solver": "lanczos"}),
    "spectral_k10": ("cluster", {"type": "spectral", "n_neighbors": 10}),
    "ward": ("cluster", {"type": "agglomerative", "linkage": "ward", "metric": "euclidean", "width": 50}),
    "ward_threshold": (
        "cluster",
        {"type": "agglomerative_threshold", "linkage": "ward", "metric": "euclidean", "distance_threshold": 2, "width": 50},
    ),
    "ap": ("cluster", {"type": "affinity_propagation", "damping": 0.9, "width": 50}),
    "hdbscan": ("cluster", {"type": "hdbscan", "metric": "euclidean", "width": 50}),
    "labelfree": ("labelfree", {}),
    "probes": ("probes", {"n_train": 60_000}),  # Fashion-MNIST `train`, the probes' training split
}
EVALUATE_SPACES = {
    (100000, 2048): {"dims": [2048, 50], "silhouette_n": None},
    (100000, 2352): {"dims": [2352, 250, 200, 62, 50], "silhouette_n": None},
}


def scaling_job(job, shape):
    """(stage, settings) of one job of the scaling runs."""
    if job == "evaluate":
        return "evaluate", EVALUATE_SPACES.get(shape, {"dims": [shape[1], 50], "silhouette_n": 10_000})
    return SCALING_JOBS[job]


# docs/measurements.md, "Plan of a config before it runs": the default run (config/config.yaml,
# 2026-12-01), the largest peak of each kind of job: (stage, N, d, settings, measured MB).
DEFAULT_RUN = [
    ("embed", 1797, 512, {"neural": True, "image_size": 224}, 1320),
    ("embed", 4000, 2352, {"neural": False, "image_size": 28}, 904),
    ("reduce", 4000, 2352, {"type": "pca", "n_components": 50}, 563),
    ("reduce", 4000, 2352, {"type": "umap", "n_components": 2, "n_neighbors": 30}, 601),
    ("reduce", 4000, 2352, {**U50}, 599),
    ("cluster", 4000, 2352, {"type": "hdbscan", "metric": "euclidean"}, 657),
    ("cluster", 4000, 2352, {"type": "agglomerative", "linkage": "ward", "metric": "euclidean"}, 583),
    ("cluster", 4000, 2352, {"type": "kmeans"}, 454),
    ("evaluate", 4000, 2352, {"dims": [2352, 50, 50]}, 553),
    ("labelfree", 4000, 2352, {}, 464),
    ("probes", 4000, 2352, {"n_train": 500}, 452),
]


def within_factor(estimate, measured):
    return measured <= estimate <= max(resources.MEMORY_FACTOR * measured, measured + resources.MEMORY_SLACK_MB)


def estimate_mb(stage, n, d, settings):
    """The memory estimate of one job, as the workflow makes it (zsc.resources)."""
    if stage == "embed":
        return resources.embed_mem_mb(n, d, settings["neural"], settings["image_size"], 64, gpu=False)
    if stage == "reduce":
        return resources.reduce_mem_mb(n, d, settings)
    if stage == "cluster":
        spec = {key: value for key, value in settings.items() if key != "width"}
        d = settings.get("width", d)
        entry = CLUSTERERS[spec["type"]]
        spec = {**entry.defaults(), **spec, "name": spec["type"]}
        return resources.cluster_mem_mb(entry.info["memory"](n, d, spec), n, d)
    if stage == "evaluate":
        return resources.evaluate_mem_mb(n, settings["dims"], settings.get("silhouette_n"))
    if stage == "labelfree":
        return resources.labelfree_mem_mb(n, d)
    return resources.probes_mem_mb(settings["n_train"], n, d)


@pytest.mark.parametrize("shape", list(SCALING))
def test_scaling_runs_are_bounded(shape):
    n, dim = shape
    for job, measured in SCALING[shape].items():
        stage, settings = scaling_job(job, shape)
        estimate = estimate_mb(stage, n, dim, settings)
        assert within_factor(estimate, measured), (job, shape, estimate, measured)


def test_default_run_is_bounded():
    for stage, n, d, settings, measured in DEFAULT_RUN:
        estimate = estimate_mb(stage, n, d, settings)
        assert within_factor(estimate, measured), (stage, settings, estimate, measured)


def test_the_bound_can_fail():
    # an estimate far above a small peak, or under it, is caught
    assert not within_factor(5000, 400) and not within_factor(399, 400) and within_factor(1200, 400)


def test_every_reducer_declares_its_memory_and_time():
    from zsc.reducers import REDUCERS

    for entry in REDUCERS:
        spec = {**entry.defaults(), "type": entry.name, "n_components": 50}
        small, large = entry.info["memory"](1_000, 512, spec), entry.info["memory"](100_000, 512, spec)
        assert large >= small >= 0 and entry.info["seconds"](100_000, 512, spec) >= entry.info["seconds"](1_000, 512, spec)
        assert (large > 0) == (not entry.info["identity"])
