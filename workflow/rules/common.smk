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
# numba's compiled code (UMAP, PaCMAP, the package's kernels) is kept on disk in resources/cache/numba
# and reused by every later job instead of being compiled again in each new process (zsc.numba_cache;
# setup.sh fills it: zsc.warm_cache); absolute, so it is the same folder for jobs that run elsewhere
# on a shared file system. OpenBLAS's kernels and numba's instruction set fixed at AVX2 (not chosen
# by each CPU), so the same config gives the same numbers on every x86-64 machine with AVX2
# (docs/reproducibility.md). A user's own NUMBA_CACHE_DIR and pinning variables win.
import zsc.warm_cache

zsc.warm_cache.job_environment(os.environ)

import zsc.config
import zsc.dag
import zsc.datasets
import zsc.failures
import zsc.outputs
import zsc.stages
import zsc.vocabulary
import zsc.weights

DEFAULT_CONFIGFILE = "config/config.yaml"

# The offline default, unless --configfile names the config: files are merged, not replaced, and an
# entry of the default (a dataset, an encoder, ...) would otherwise join every other config's grid.
# Each file is also read strictly (zsc.config.read_yaml), since Snakemake keeps the last of duplicate
# keys silently and names no line on a syntax error. It reads --configfile files before this file
# runs (in its command line, ConfigSettings: no workflow code runs earlier), so a syntax error there
# stops it with "Config file is not valid JSON or YAML" and no line; `python -m zsc check --configfile
# FILE` names it (README: Troubleshooting).
try:
    if not workflow.overwrite_configfiles:
        zsc.config.read_config_file(DEFAULT_CONFIGFILE)
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
    # The study's tables and figures (outputs.smk): what they need to know of the config, and the
    # outputs this config can provide (the others are listed, with the reason, by outputs_index).
    OUTPUT_FACTS = zsc.outputs.facts(CONFIG)
    # Every stage's jobs (zsc.dag, which `python -m zsc plan` counts too); also where each dataset's
    # probes train (zsc.probes.probe_plan), which may find a bad probe_split.
    JOBS = zsc.dag.DAG(CONFIG, zsc.outputs.produced(OUTPUT_FACTS))
except zsc.config.ConfigError as error:
    sys.exit(f"config error: {error}")

# The files of each stage (zsc.dag: outputs, logs and benchmarks of a stage share its key).
MANIFEST = zsc.dag.MANIFEST
EMBEDDINGS = zsc.dag.EMBEDDINGS
REDUCED = zsc.dag.REDUCED
CLUSTERS = zsc.dag.CLUSTERS
METRICS = zsc.dag.METRICS
LEVELS = zsc.dag.LEVELS
LABELFREE = zsc.dag.LABELFREE
PROBES = zsc.dag.PROBES
TABLES = zsc.dag.TABLES
SEARCH_CHOICES = zsc.dag.SEARCH_CHOICES
SEARCH_TRACE = zsc.dag.SEARCH_TRACE
SEARCH_PARAMS = zsc.dag.SEARCH_PARAMS
OUTPUT_DIRS = JOBS.files(zsc.dag.OUTPUT_DIR, "render")
log_file = zsc.dag.log_file
benchmark_file = zsc.dag.benchmark_file


def entry(kind):
    """params: the resolved config entry of the job's dataset/encoder/reducer/clusterer."""
    return lambda wildcards: CONFIG.entry(f"{kind}s", wildcards[kind])


def dataset_root(wildcards):
    return zsc.datasets.root_of(CONFIG.entry("datasets", wildcards.dataset))


def reduced_input(wildcards):
    """The space a run's clusterer works in: its reduction, or the embeddings ('none' writes no file)."""
    return JOBS.space_file(wildcards)


def evaluated_runs(wildcards):
    """The runs an evaluate (or labelfree) job scores: all of its embeddings and seed."""
    return JOBS.runs_of(wildcards.dataset, wildcards.split, wildcards.encoder, wildcards.seed)


def evaluated_clusters(wildcards):
    return [CLUSTERS.format(**run) for run in evaluated_runs(wildcards)]


def evaluated_reductions(wildcards):
    return list(dict.fromkeys(JOBS.space_file(run) for run in evaluated_runs(wildcards)))


def evaluated_jobs(wildcards):
    """params: per run, its keys (run_of) and the files of its clusters and of the space clustered."""
    return [
        {"run": run_of(run), "reduced": JOBS.space_file(run), "clusters": CLUSTERS.format(**run)}
        for run in evaluated_runs(wildcards)
    ]


def umap_space_input(wildcards):
    """The shared UMAP-50 reduction the evaluate job scores silhouettes in (none if turned off)."""
    name = CONFIG.umap_reducer
    return [REDUCED.format(**{**dict(wildcards.items()), "reducer": name})] if name else []


def choose_k_space_input(wildcards):
    """The shared UMAP-50 space in which a run that chooses its number of clusters scores each k
    (zsc.choose_k): only for such runs, so that the others do not wait for it."""
    return JOBS.choose_k_space(wildcards)


WEIGHT_SOURCES = JOBS.weight_sources()


def weights_receipt(wildcards):
    """The fetch_weights receipt the embed job loads from, if the encoder downloads weights."""
    source = JOBS.weights_source(wildcards.encoder)
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
    run = {key: wildcards[key] for key in zsc.vocabulary.RUN_KEYS}
    run["seed"] = int(run["seed"])
    max_samples = CONFIG.entry("datasets", run["dataset"])["max_samples"]
    return {**run, "max_samples": max_samples, "config_hash": CONFIG.run_hash(run)}


# The hyper-parameter search (rules in search.smk).
SEARCH = CONFIG["search"] or {}
SEARCH_REDUCERS = {name: CONFIG.entry("reducers", name) for name in CONFIG["reducers"]}
SEARCH_CLUSTERERS = {name: CONFIG.entry("clusterers", name) for name in SEARCH.get("clusterers", {})}


def search_embeddings(wildcards):
    """input: the embeddings of each search dataset by this encoder, named by dataset."""
    splits = {name: CONFIG.entry("datasets", name)["split"] for name in SEARCH["datasets"]}
    return {name: EMBEDDINGS.format(dataset=name, split=split, encoder=wildcards.encoder) for name, split in splits.items()}


def output_inputs(wildcards):
    return zsc.outputs.inputs(wildcards.name, TABLES, OUTPUT_FACTS)


def output_category(wildcards):
    return "Index" if wildcards.name == "outputs_index" else zsc.outputs.OUTPUTS[wildcards.name].info["category"]


def output_labels(wildcards):
    return {"output": wildcards.name, "file": wildcards.file}


def split_entry(wildcards):
    """params: the dataset's entry for the job's split: as configured, or its probe split (sampled
    to probe_max_samples)."""
    spec = CONFIG.entry("datasets", wildcards.dataset)
    if wildcards.split == spec["split"]:
        return spec
    return {**spec, "split": wildcards.split, "max_samples": spec["probe_max_samples"]}


def probe_train_input(wildcards):
    """The probe split's embeddings, when the dataset's probes train on a split of their own."""
    split = JOBS.probe_split(wildcards.dataset)
    return [EMBEDDINGS.format(**{**dict(wildcards.items()), "split": split})] if split else []


def benchmarks():
    """input: the benchmark files of every job of each timed stage (zsc.stages.TIMED), as times_<stage>."""
    return {f"times_{stage}": JOBS.files(benchmark_file(stage), stage) for stage in zsc.stages.TIMED}
