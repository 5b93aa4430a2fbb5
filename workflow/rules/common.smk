# Config validation and the path/parameter helpers of all rules. Nothing here touches the disk
# (but for the config files and, in the planning snakemake only, zsc.config.check_config's look at
# the files and model names the config names), since every job of a SLURM run parses this again
# and parse time must stay small.
import os
import sys
from pathlib import Path

# zsc is imported from this checkout: here at parse time and, through PYTHONPATH, by every job,
# also inside the conda environments of envs/, which do not install it.
ZSC_PATH = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, ZSC_PATH)
os.environ.update(PYTHONPATH=os.pathsep.join([ZSC_PATH, *filter(None, [os.environ.get("PYTHONPATH")])]))
# numba's compiled code (UMAP, PaCMAP) is kept on disk and reused by every later job instead of being
# compiled again in each new process (zsc.numba_cache); absolute, so it is the same folder for
# jobs that run elsewhere on a shared file system. A user's own NUMBA_CACHE_DIR wins.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.abspath("resources/cache/numba"))
# OpenBLAS's kernels and numba's instruction set fixed at AVX2 (not chosen by each CPU), so the same
# config gives the same numbers on every x86-64 machine with AVX2 (docs/reproducibility.md).
import zsc.portable_numerics

zsc.portable_numerics.pin(os.environ)

import zsc.config
import zsc.datasets
import zsc.failures
import zsc.labelfree
import zsc.outputs
import zsc.stages
import zsc.weights

DEFAULT_CONFIGFILE = "config/config.yaml"

# The offline default, unless --configfile names the config: files are merged, not replaced, and an
# entry of the default (a dataset, an encoder, ...) would otherwise join every other config's grid.
# Each file is also read strictly (zsc.config.read_yaml), since Snakemake keeps the last of duplicate
# keys silently and names no line on a syntax error. It reads --configfile files before this file
# runs: a syntax error there stops it with "Config file is not valid JSON or YAML" and no line;
# `python -m zsc check FILE` names it.
try:
    if not workflow.overwrite_configfiles:
        zsc.config.read_yaml(DEFAULT_CONFIGFILE)
    zsc.config.check_config_files(workflow.overwrite_configfiles)
except zsc.config.ConfigError as error:
    sys.exit(f"config error: {error}")
if not workflow.overwrite_configfiles:

    configfile: DEFAULT_CONFIGFILE


try:
    CONFIG = zsc.config.load(config, search=[workflow.basedir])
    # what would fail in a job (a model name, a missing weights file, ...), before any job; once, in
    # the process that plans the jobs (each job parses this file again)
    if workflow.is_main_process:
        for warning in zsc.config.check_config(CONFIG):
            print(f"config warning: {warning}", file=sys.stderr)
except zsc.config.ConfigError as error:
    sys.exit(f"config error: {error}")

RUNS = list(CONFIG.runs())
# The runs of each (dataset, split, encoder, seed): one evaluate job scores them together.
RUNS_OF_EMBEDDINGS = {}
for _run in RUNS:
    RUNS_OF_EMBEDDINGS.setdefault((_run["dataset"], _run["split"], _run["encoder"], str(_run["seed"])), []).append(_run)


# The key of each stage's jobs; outputs, logs and benchmarks of a stage share it (zsc.stages).
KEY = zsc.stages.KEY
MANIFEST = "resources/datasets/{dataset}/manifest-{split}.parquet"
EMBEDDINGS = f"results/embeddings/{KEY['embed']}.parquet"
REDUCED = f"results/reduced/{KEY['reduce']}.parquet"
CLUSTERS = f"results/clusters/{KEY['cluster']}.parquet"
METRICS = f"results/metrics/{KEY['evaluate']}.parquet"
LEVELS = f"results/metrics/{KEY['evaluate']}-levels.parquet"  # AMI against every label level
LABELFREE = f"results/labelfree/{KEY['labelfree']}.parquet"
PROBES = f"results/probes/{KEY['probes']}.parquet"
TABLES = {
    "runs": "results/tables/runs.parquet",
    "labels": "results/tables/labels.parquet",
    "labelfree": "results/tables/labelfree.parquet",
    "probes": "results/tables/probes.parquet",
    "summary_csv": "results/tables/ami_summary.csv",
    "summary_md": "results/tables/ami_summary.md",
    "stage_times": "results/tables/stage_times.csv",
}


def log_file(stage):
    return f"results/logs/{stage}/{KEY[stage]}.log"


def benchmark_file(stage):
    return f"results/benchmarks/{stage}/{KEY[stage]}.tsv"


def entry(kind):
    """params: the resolved config entry of the job's dataset/encoder/reducer/clusterer."""
    return lambda wildcards: CONFIG.entry(f"{kind}s", wildcards[kind])


def dataset_root(wildcards):
    return zsc.datasets.root_of(CONFIG.entry("datasets", wildcards.dataset))


def is_identity(reducer):
    return CONFIG.info("reducers", reducer)["identity"]


def reduced_input(wildcards):
    """An identity reducer ('none') writes no file: its clusterers read the embeddings."""
    if is_identity(wildcards["reducer"]):
        return EMBEDDINGS.format(**wildcards)
    return REDUCED.format(**wildcards)


def evaluated_runs(wildcards):
    """The runs an evaluate job scores: all of its embeddings and seed."""
    return RUNS_OF_EMBEDDINGS[(wildcards.dataset, wildcards.split, wildcards.encoder, wildcards.seed)]


def evaluated_clusters(wildcards):
    return [CLUSTERS.format(**run) for run in evaluated_runs(wildcards)]


def evaluated_reductions(wildcards):
    return list(dict.fromkeys(reduced_input(run) for run in evaluated_runs(wildcards)))


def evaluated_jobs(wildcards):
    """params: per run, its keys (run_of) and the files of its clusters and of the space clustered."""
    return [
        {"run": run_of(run), "reduced": reduced_input(run), "clusters": CLUSTERS.format(**run)}
        for run in evaluated_runs(wildcards)
    ]


def umap_space_input(wildcards):
    """The shared UMAP-50 reduction the evaluate job scores silhouettes in (none if turned off)."""
    name = CONFIG.umap_reducer
    return [REDUCED.format(**{**dict(wildcards.items()), "reducer": name})] if name else []


def weights_source(encoder):
    """Where the encoder's weights are downloaded from (None: random init or a local file)."""
    return CONFIG.info("encoders", encoder)["weights"](CONFIG.entry("encoders", encoder))


WEIGHT_SOURCES = {zsc.weights.source_id(s): s for s in map(weights_source, CONFIG["encoders"]) if s}


def weights_receipt(wildcards):
    """The fetch_weights receipt the embed job loads from, if the encoder downloads weights."""
    source = weights_source(wildcards.encoder)
    return [zsc.weights.receipt_path(source)] if source else []


def weights_file(wildcards):
    """A local checkpoint named in the config: an input, so a missing file stops the run early."""
    path = CONFIG.entry("encoders", wildcards.encoder).get("weights_file")
    return [path] if path else []


def encoder_gpus(wildcards):
    return int(CONFIG.info("encoders", wildcards.encoder)["neural"])


def run_of(wildcards):
    """params: the run's keys (seed as a number), its subsample size and the hash of every setting
    behind its result."""
    run = {key: wildcards[key] for key in zsc.config.RUN_KEYS}
    run["seed"] = int(run["seed"])
    max_samples = CONFIG.entry("datasets", run["dataset"])["max_samples"]
    return {**run, "max_samples": max_samples, "config_hash": CONFIG.run_hash(run)}


def run_files(pattern, skip_identity=False, with_umap_space=False):
    """`pattern` filled in for every run of the grid, each distinct path once, in grid order; with
    `with_umap_space`, also for the workflow's own reductions (the shared UMAP space of the metrics,
    the 2-D maps)."""
    runs = [run for run in RUNS if not (skip_identity and is_identity(run["reducer"]))]
    if with_umap_space:
        first_seed = [run for run in RUNS if run["seed"] == CONFIG["seeds"][0]]  # the maps are drawn for one seed
        runs += [
            {**run, "reducer": zsc.outputs.MAP_REDUCER} for run in first_seed if zsc.outputs.MAP_REDUCER in CONFIG.metric_reducers
        ]
        if CONFIG.umap_reducer:
            runs += [{**run, "reducer": CONFIG.umap_reducer} for run in RUNS]
    return list(dict.fromkeys(pattern.format(**run) for run in runs))


# The hyper-parameter search's files (rules in search.smk).
SEARCH = CONFIG["search"] or {}
SEARCH_CHOICES = "results/search/encoders/{encoder}.yaml"
SEARCH_PARAMS = "results/search/params.yaml"
SEARCH_REDUCERS = {name: CONFIG.entry("reducers", name) for name in CONFIG["reducers"]}
SEARCH_CLUSTERERS = {name: CONFIG.entry("clusterers", name) for name in SEARCH.get("clusterers", {})}


def search_embeddings(wildcards):
    """input: the embeddings of each search dataset by this encoder, named by dataset."""
    splits = {name: CONFIG.entry("datasets", name)["split"] for name in SEARCH["datasets"]}
    return {name: EMBEDDINGS.format(dataset=name, split=split, encoder=wildcards.encoder) for name, split in splits.items()}


# The study's tables and figures (outputs.smk): what they need to know of the config, and the
# outputs this config can provide (the others are listed, with the reason, by outputs_index).
try:
    OUTPUT_FACTS = zsc.outputs.facts(
        CONFIG, {"embeddings": EMBEDDINGS, "reduced": REDUCED, "clusters": CLUSTERS, "manifest": MANIFEST}
    )
except zsc.config.ConfigError as error:
    sys.exit(f"config error: {error}")
OUTPUT_DIRS = [
    zsc.outputs.OUTPUT_DIR.format(name=e.name) for e in zsc.outputs.OUTPUTS if e.name not in OUTPUT_FACTS["not_produced"]
]


def output_inputs(wildcards):
    return zsc.outputs.inputs(wildcards.name, TABLES, OUTPUT_FACTS)


def output_category(wildcards):
    return "Index" if wildcards.name == "outputs_index" else zsc.outputs.OUTPUTS[wildcards.name].info["category"]


def output_labels(wildcards):
    return {"output": wildcards.name, "file": wildcards.file}


# Where each dataset's probes train (zsc.labelfree.probe_plan): a split of its own, a carve of the
# clustered split, or nowhere (with the reason, recorded in probes.parquet).
def _splits(name):
    return zsc.datasets.DATASETS[CONFIG.entry("datasets", name)["type"]].options["split"]["enum"]


try:
    PROBE_PLANS = {
        name: zsc.labelfree.probe_plan(CONFIG.entry("datasets", name), _splits(name))
        for name in dict.fromkeys(run["dataset"] for run in RUNS)
        if CONFIG["probes"]["enabled"]
    }
except zsc.config.ConfigError as error:
    sys.exit(f"config error: {error}")


def split_entry(wildcards):
    """params: the dataset's entry for the job's split: as configured, or its probe split (sampled
    to probe_max_samples)."""
    spec = CONFIG.entry("datasets", wildcards.dataset)
    if wildcards.split == spec["split"]:
        return spec
    return {**spec, "split": wildcards.split, "max_samples": spec["probe_max_samples"]}


def probe_train_input(wildcards):
    """The probe split's embeddings, when the dataset's probes train on a split of their own."""
    plan = PROBE_PLANS[wildcards.dataset]
    return [EMBEDDINGS.format(**{**dict(wildcards.items()), "split": plan["split"]})] if plan["mode"] == "split" else []


def probe_files(pattern):
    """`pattern` filled in for the probe-split embeddings of every (dataset, encoder) of the grid."""
    pairs = dict.fromkeys(
        (run["dataset"], run["encoder"]) for run in RUNS if PROBE_PLANS.get(run["dataset"], {}).get("mode") == "split"
    )
    return [pattern.format(dataset=d, split=PROBE_PLANS[d]["split"], encoder=e) for d, e in pairs]


def labelfree_files(pattern):
    return run_files(pattern) if CONFIG["labelfree"]["enabled"] else []


def probes_files(pattern):
    return run_files(pattern) if CONFIG["probes"]["enabled"] else []


def benchmarks():
    """input: the benchmark files of every job of each timed stage (zsc.stages.TIMED), as times_<stage>."""
    files = {
        "embed": run_files(benchmark_file("embed")) + probe_files(benchmark_file("embed")),
        "reduce": run_files(benchmark_file("reduce"), skip_identity=True, with_umap_space=True),
        "cluster": run_files(benchmark_file("cluster")),
        "evaluate": run_files(benchmark_file("evaluate")),
        "labelfree": labelfree_files(benchmark_file("labelfree")),
        "probes": probes_files(benchmark_file("probes")),
    }
    return {f"times_{stage}": files[stage] for stage in zsc.stages.TIMED}
