"""What a config will cost before it runs (`python -m zsc plan`), and afterwards how that compared.

For every job the workflow's DAG holds (the same enumeration as workflow/rules/common.smk; the tests
compare the counts with `snakemake -n`), the plan gives the data's shape, the predicted peak memory
and seconds (zsc.resources), whether it embeds on a GPU, and for a cluster job whether the memory
guard (zsc.clusterers.too_big) will skip it, with the guard's own reason.

Shapes come from the files already written when there are any (a prepared manifest, embeddings,
reductions), else from the catalogue: N is the dataset's size for its split (CATALOGUE_SIZES) capped
by max_samples; d is what the encoder outputs (a study encoder states it; any other network is
built on torch's meta device, which allocates nothing, and run once to read its output width and
count its FLOPs; raw pixels are 3 x size^2 at the smaller of image_size and the dataset's native
size) and what the reducer keeps (n_components; a PCA by fraction of variance keeps at most
min(N, d)). The predictions are for this project's machine (2 cores, one job per core) and, for
networks on a GPU, an assumed rate (zsc.resources.GPU_NET_FLOPS).
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import failures, resources

REPO = Path(__file__).resolve().parents[2]

# The study's clustered split sizes (docs/study.md#2-datasets) and the official sizes of the other splits
# (torchvision's and each dataset's documentation): images per split before max_samples.
CATALOGUE_SIZES = {
    "digits": {"all": 1797},
    "cifar10": {"test": 10000, "train": 50000},
    "cifar100": {"test": 10000, "train": 50000},
    "mnist": {"test": 10000, "train": 60000},
    "fashionmnist": {"test": 10000, "train": 60000, "all": 70000},
    "svhn": {"test": 26032, "train": 73257},
    "flowers102": {"test": 6149, "val": 1020, "train": 1020},
    "dtd": {"test": 1880, "val": 1880, "train": 1880},
    "aircraft": {"test": 3333, "val": 3333, "train": 3334, "trainval": 6667},
    "places365": {"val": 36500},
    "lsun": {"val": 3000},
    "celeba": {"test": 19962, "valid": 19867, "train": 162770},
    "inaturalist": {"val": 100000},
    "eurosat": {"test": 4050, "train": 22950},
    "imagenetv2": {"all": 10000},
    "imagenet-sketch": {"all": 50889},
    "imagenet-o": {"all": 2000},
    "stanfordcars": {"test": 8041},
    **{f"in9{v}": {"test": 4050, "val": 4050, "train": 45405} for v in ("original", "onlyfg", "mixedrand", "nofg", "onlybgt", "mixedsame")},
    "imagenet": {"test": 50000, "val": 50000},
    "imagenette": {"test": 3925, "val": 3925},
    "imagewoof": {"test": 3929, "val": 3929},
    "imagenet-r": {"all": 30000},
    "utkface": {"test": 5926, "train": 17776},
    "breakhis": {"test": 3164, "train": 4745},
    "nabirds": {"test": 24633, "train": 23929},
    "bioscan1m": {"test": 24600},
}
# Side of a dataset's images in pixels where all have one size (raw pixels are never upsampled);
# a dataset not listed is taken at the encoder's image_size (an upper bound).
NATIVE_SIZE = {"digits": 8, "mnist": 28, "fashionmnist": 28, "cifar10": 32, "cifar100": 32, "svhn": 32}
# A network whose facts cannot be read on the meta device: about a ViT-B/16's FLOPs at 224 px.
UNKNOWN_FLOPS = 3.5e10

# Benchmarked stages: their jobs' rows in results/tables/stage_times.csv (KEY of common.smk).
KEY = {
    "embed": "{dataset}/{split}/{encoder}",
    "reduce": "{dataset}/{split}/{encoder}/seed{seed}/{reducer}",
    "cluster": "{dataset}/{split}/{encoder}/seed{seed}/{reducer}/{clusterer}",
    "evaluate": "{dataset}/{split}/{encoder}/seed{seed}",
    "labelfree": "{dataset}/{split}/{encoder}/seed{seed}",
    "probes": "{dataset}/{split}/{encoder}",
}
STAGES = ["prepare_dataset", "fetch_weights", "embed", "reduce", "cluster", "evaluate", "labelfree", "probes", "search", "search_params", "aggregate", "render", "all"]


class PlanError(ValueError):
    """A fact the plan needs and cannot find (one line naming the dataset or file)."""


@dataclass
class Job:
    stage: str
    key: str  # the job's keys as in its benchmark file name (KEY); a local rule's name otherwise
    n: int = 0
    d: int = 0
    mem_mb: int = 0  # predicted peak
    seconds: float = 0.0
    gpu: bool = False
    skipped: str | None = None  # the memory guard's reason, for a cluster job it will skip
    failed: str | None = None  # why a reduce or cluster job will record a failed cell (docs/failures.md)
    estimated: bool = True  # False: a local rule that does no computing of its own


@dataclass
class Plan:
    config: str
    guard_bytes: int
    guard_source: str
    machine_mb: int | None
    cores: int
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # encoders left out of the runs (if_missing: skip), with the reason

    def by_stage(self) -> dict[str, list[Job]]:
        out = {stage: [] for stage in STAGES}
        for job in self.jobs:
            out[job.stage].append(job)
        return {stage: jobs for stage, jobs in out.items() if jobs}

    def counts(self) -> dict[str, int]:
        return {stage: len(jobs) for stage, jobs in self.by_stage().items()}

    def skipped(self) -> list[Job]:
        return [job for job in self.jobs if job.skipped]

    def failed(self) -> list[Job]:
        return [job for job in self.jobs if job.failed]


# ---------------------------------------------------------------------------------------------
# Where things are


def workdir_of(cwd: Path) -> Path:
    """The folder the workflow runs in: the repository when called from its workflow/ folder."""
    return REPO if cwd.resolve() == (REPO / "workflow").resolve() else cwd


def find_config(configfile: str | None, workdir: Path) -> Path:
    if configfile is None:
        for candidate in (workdir / "config/config.yaml", REPO / "config/config.yaml"):
            if candidate.is_file():
                return candidate
    candidates = [Path(configfile), workdir / configfile, REPO / configfile]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise PlanError(f"--configfile: {configfile} not found (looked in {Path.cwd()}, {workdir} and {REPO})")


def load_config(path: Path, workdir: Path | str = "."):
    from .config import load, read_yaml

    return load(read_yaml(str(path)), search=[str(REPO)], workdir=str(workdir))


# ---------------------------------------------------------------------------------------------
# The shape of every job's data


@functools.lru_cache(maxsize=None)
def network_facts(arch: str, arch_kwargs: str, image_size: int) -> tuple[int, float, int] | None:
    """(output width, FLOPs of one image, weights MB) of a network, built on torch's meta device
    (no memory, no weights) and run once there; None if it cannot be built so."""
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from .encoders import build_network

        with torch.device("meta"):
            module = build_network(arch, 0, json.loads(arch_kwargs)).eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                out = module(torch.empty(1, 3, image_size, image_size))
        weights = sum(p.numel() * p.element_size() for p in module.parameters())
        return int(out.shape[-1]), float(counter.get_total_flops()), math.ceil(weights / resources.MB)
    except Exception:  # any model the meta device cannot run: the registry's bounds instead
        return None


def encoder_arch(encoder: dict, info: dict) -> tuple[str, dict] | None:
    study = info.get("study")
    if study:
        return study["arch"], dict(study.get("arch_kwargs") or {})
    if encoder["type"] == "timm":
        return f"timm:{encoder['model']}", ({"global_pool": encoder["global_pool"]} if encoder.get("global_pool") is not None else {})
    if encoder["type"] == "torchvision":
        return f"torchvision:{encoder['model']}", {}
    return None


class Shapes:
    """N, d and model facts of a config's data: from the files written so far, else the catalogue."""

    def __init__(self, config, workdir: Path, notes: list[str]):
        self.config, self.workdir, self.notes = config, workdir, notes

    def _file(self, pattern: str, **keys) -> Path | None:
        path = self.workdir / pattern.format(**keys)
        return path if path.exists() else None

    @functools.lru_cache(maxsize=None)
    def n(self, dataset: str, split: str) -> int:
        manifest = self._file("resources/datasets/{dataset}/manifest-{split}.parquet", dataset=dataset, split=split)
        if manifest:
            return resources.table_shape(manifest)[0]
        spec = self.config.entry("datasets", dataset)
        cap = spec["max_samples"] if split == spec["split"] else spec["probe_max_samples"]
        size = CATALOGUE_SIZES.get(spec["type"], {}).get(split)
        if size is None:
            if cap is None:
                raise PlanError(
                    f"datasets.{dataset}: the size of its {split!r} split is not in the catalogue; prepare it first "
                    f"(snakemake resources/datasets/{dataset}/manifest-{split}.parquet) or set max_samples"
                )
            self.notes.append(f"{dataset}/{split}: size not in the catalogue, taken as max_samples ({cap})")
            return cap
        return size if cap is None else min(size, cap)

    @functools.lru_cache(maxsize=None)
    def encoder(self, dataset: str, split: str, encoder: str) -> tuple[int, float, int]:
        """(embedding dimension, FLOPs an image, weights MB)."""
        spec = self.config.entry("encoders", encoder)
        info = self.config.info("encoders", encoder)
        arch = encoder_arch(spec, info) if info["neural"] else None
        facts = network_facts(arch[0], json.dumps(arch[1], sort_keys=True), spec["image_size"]) if arch else None
        flops, weights = (facts[1], facts[2]) if facts else (UNKNOWN_FLOPS if info["neural"] else 0.0, resources.WEIGHTS_MB)
        embeddings = self._file("results/embeddings/" + KEY["embed"] + ".parquet", dataset=dataset, split=split, encoder=encoder)
        if embeddings:
            return resources.table_shape(embeddings)[1], flops, weights
        if not info["neural"]:
            native = NATIVE_SIZE.get(self.config.entry("datasets", dataset)["type"], spec["image_size"])
            return 3 * min(spec["image_size"], native) ** 2, flops, weights
        if facts:
            return facts[0], flops, weights
        dim = resources.embedding_dim(spec, info)
        self.notes.append(f"encoder {encoder}: not built on the meta device; its dimension taken as {dim}, its FLOPs as {UNKNOWN_FLOPS:.0e}")
        return dim, flops, weights

    def reduced(self, run: dict) -> int:
        """Dimensions of the space a run's clusterer works in."""
        d = self.encoder(run["dataset"], run["split"], run["encoder"])[0]
        reducer = self.config.entry("reducers", run["reducer"])
        if self.config.info("reducers", run["reducer"])["identity"]:
            return d
        written = self._file("results/reduced/" + KEY["reduce"] + ".parquet", **run)
        if written:
            return resources.table_shape(written)[1]
        n = self.n(run["dataset"], run["split"])
        components = reducer.get("n_components")
        if components is None:
            return d
        if isinstance(components, float) and components < 1:
            return min(n, d)  # a fraction of the variance: at most every dimension
        return min(int(components), n, d) if reducer["type"] == "pca" else int(components)

    def n_clusters(self, dataset: str) -> int:
        spec = self.config.entry("datasets", dataset)
        return spec.get("n_clusters") or self.config.info("datasets", dataset)["n_classes"] or 10


# ---------------------------------------------------------------------------------------------
# The jobs


def _probe_plans(config, runs) -> dict:
    from .datasets import DATASETS
    from .labelfree import probe_plan

    if not config["probes"]["enabled"]:
        return {}
    names = dict.fromkeys(run["dataset"] for run in runs)
    return {name: probe_plan(config.entry("datasets", name), DATASETS[config.entry("datasets", name)["type"]].options["split"]["enum"]) for name in names}


def make_plan(config, workdir: Path, config_name: str = "", memory_gb: float | None = None, cores: int = 2, gpu: bool = True) -> Plan:
    """The plan of a loaded config (zsc.config.Config) run in `workdir`. `memory_gb`: the machine's
    memory; the guard's limit is the config's limits.memory_gb, else 90% of it (what the jobs see).
    `gpu`: whether the machine has one, so that `embedding.device: auto` embeds there (a neural
    encoder's job asks for one, see resources.smk)."""
    from .clusterers import CLUSTERERS, memory_limit, too_big
    from .config import reducer_problem
    from .weights import source_id

    configured = config["limits"]["memory_gb"]
    if configured is not None:
        guard, source = memory_limit(configured), "limits.memory_gb"
    elif memory_gb is not None:
        guard, source = int(0.9 * memory_gb * 2**30), f"90% of --memory-gb {memory_gb:g}"
    else:
        guard, source = memory_limit(None), "90% of this machine's memory"
    plan = Plan(config_name, guard, source, None if memory_gb is None else int(memory_gb * 1024), cores)
    from .config import left_out_lines

    plan.left_out = left_out_lines(config)
    shapes = Shapes(config, workdir, plan.notes)
    runs = list(config.runs())
    probe_plans = _probe_plans(config, runs)
    search = config["search"] or {}
    embedding = config["embedding"]
    gpu_embedding = embedding["device"].startswith("cuda") or (embedding["device"] == "auto" and gpu)
    workers = embedding["num_workers"]
    workers = min(8, max(1, cores - 1)) if workers == "auto" else max(1, workers)

    # embed: every (dataset, split, encoder) of the runs, the probe splits, the search datasets
    embeds = [(r["dataset"], r["split"], r["encoder"]) for r in runs]
    embeds += [(r["dataset"], probe_plans[r["dataset"]]["split"], r["encoder"]) for r in runs if probe_plans.get(r["dataset"], {}).get("mode") == "split"]
    embeds += [(name, config.entry("datasets", name)["split"], enc) for enc in config["encoders"] for name in search.get("datasets", {})]
    embeds = list(dict.fromkeys(embeds))
    for dataset, split in dict.fromkeys((d, s) for d, s, _ in embeds):
        plan.jobs.append(Job("prepare_dataset", f"{dataset}/{split}", n=shapes.n(dataset, split), estimated=False))
    sources = {}
    for _, _, encoder in embeds:
        source = config.info("encoders", encoder)["weights"](config.entry("encoders", encoder))
        if source:
            sources[source_id(source)] = source
    plan.jobs += [Job("fetch_weights", name, estimated=False) for name in sources]
    for dataset, split, encoder in embeds:
        n = shapes.n(dataset, split)
        dim, flops, weights = shapes.encoder(dataset, split, encoder)
        spec = config.entry("encoders", encoder)
        neural = config.info("encoders", encoder)["neural"]
        on_gpu = neural and gpu_embedding
        size = spec["image_size"] if neural else min(spec["image_size"], NATIVE_SIZE.get(config.entry("datasets", dataset)["type"], spec["image_size"]))
        mem = resources.embed_mem_mb(n, dim, neural, size, embedding["batch_size"], gpu=on_gpu, weights_mb=weights)
        seconds = resources.embed_seconds(n, flops, gpu=on_gpu, workers=workers)
        plan.jobs.append(Job("embed", KEY["embed"].format(dataset=dataset, split=split, encoder=encoder), n, dim, mem, seconds, on_gpu))

    # reduce: every run's non-identity reducer, the 2-D maps (first seed) and the silhouettes' UMAP space
    reductions = [r for r in runs if not config.info("reducers", r["reducer"])["identity"]]
    from .outputs import MAP_REDUCER

    if MAP_REDUCER in (config.metric_reducers or {}):
        reductions += [{**r, "reducer": MAP_REDUCER} for r in runs if r["seed"] == config["seeds"][0]]
    if config.umap_reducer:
        reductions += [{**r, "reducer": config.umap_reducer} for r in runs]
    seen, reduce_failures = {}, {}
    for run in reductions:
        seen.setdefault(KEY["reduce"].format(**run), run)
    for key, run in seen.items():
        n = shapes.n(run["dataset"], run["split"])
        d = shapes.encoder(run["dataset"], run["split"], run["encoder"])[0]
        reducer = config.entry("reducers", run["reducer"])
        failed = reducer_problem(run["reducer"], reducer, n, d)  # as the reduce job will check it
        if failed:
            failed += f" of {failures.embeddings_name(run['dataset'], run['split'], run['encoder'])}"
            reduce_failures[key] = failed
        plan.jobs.append(
            Job("reduce", key, n, d, resources.reduce_mem_mb(n, d, reducer), resources.reduce_seconds(n, d, reducer), failed=failed)
        )

    # cluster: one job per run; the guard decides on the space clustered
    for run in runs:
        n, d = shapes.n(run["dataset"], run["split"]), shapes.reduced(run)
        spec = config.clusterer(run)
        failed = reduce_failures.get(KEY["reduce"].format(**run))
        if failed:  # the job only records its reduction's failure
            cell = failures.reduction_not_run(failures.FAILED, failed)
            plan.jobs.append(Job("cluster", KEY["cluster"].format(**run), n, d, resources.cluster_mem_mb(0, n, d), resources.START_S, failed=cell))
            continue
        need = CLUSTERERS[spec["type"]].info["memory"](n, d, spec)
        reason = too_big(spec, n, d, guard)
        mem = resources.cluster_mem_mb(0 if reason else need, n, d)  # a skipped job only reads its data
        seconds = resources.START_S if reason else resources.cluster_seconds(n, d, shapes.n_clusters(run["dataset"]), spec)
        plan.jobs.append(Job("cluster", KEY["cluster"].format(**run), n, d, mem, seconds, skipped=reason))

    # evaluate and labelfree: one job per (embeddings, seed); probes one per embeddings
    by_embeddings: dict[tuple, list[dict]] = {}
    for run in runs:
        by_embeddings.setdefault((run["dataset"], run["split"], run["encoder"], run["seed"]), []).append(run)
    silhouette_n = config["metrics"]["silhouette_max_samples"]
    for (dataset, split, encoder, seed), group in by_embeddings.items():
        n = shapes.n(dataset, split)
        d = shapes.encoder(dataset, split, encoder)[0]
        spaces = {run["reducer"]: shapes.reduced(run) for run in group if not config.info("reducers", run["reducer"])["identity"]}
        if config.umap_reducer:
            spaces[config.umap_reducer] = shapes.reduced({**group[0], "reducer": config.umap_reducer})
        dims = [d, *spaces.values()]
        key = KEY["evaluate"].format(dataset=dataset, split=split, encoder=encoder, seed=seed)
        plan.jobs.append(
            Job("evaluate", key, n, d, resources.evaluate_mem_mb(n, dims, silhouette_n), resources.evaluate_seconds(n, dims, len(group), silhouette_n))
        )
        if config["labelfree"]["enabled"]:
            seeds = config["labelfree"]["agreement_seeds"]
            plan.jobs.append(Job("labelfree", key, n, d, resources.labelfree_mem_mb(n, d), resources.labelfree_seconds(n, d, seeds)))
    if config["probes"]["enabled"]:
        n_cs = len(config["probes"]["Cs"])
        for dataset, split, encoder in dict.fromkeys((r["dataset"], r["split"], r["encoder"]) for r in runs):
            n, d = shapes.n(dataset, split), shapes.encoder(dataset, split, encoder)[0]
            probe = probe_plans[dataset]
            if probe["mode"] == "split":
                n_train = shapes.n(dataset, probe["split"])
            elif probe["mode"] == "carve":
                carve = config.entry("datasets", dataset)["probe_max_samples"]
                n_train = min(carve, n // 2) if carve else n // 2
            else:
                n_train = 0
            key = KEY["probes"].format(dataset=dataset, split=split, encoder=encoder)
            plan.jobs.append(Job("probes", key, n, d, resources.probes_mem_mb(n_train, n, d), resources.probes_seconds(n_train, n, d, n_cs)))

    if search:
        plan.jobs += [Job("search", encoder, estimated=False) for encoder in config["encoders"]]
        plan.jobs.append(Job("search_params", "search_params", estimated=False))
        plan.notes.append("search jobs are counted, not estimated")
    if runs:
        from .outputs import OUTPUTS, facts

        patterns = {
            "embeddings": "results/embeddings/" + KEY["embed"] + ".parquet",
            "reduced": "results/reduced/" + KEY["reduce"] + ".parquet",
            "clusters": "results/clusters/" + KEY["cluster"] + ".parquet",
        }
        not_produced = facts(config, patterns)["not_produced"]
        plan.jobs.append(Job("aggregate", "aggregate", estimated=False))
        plan.jobs += [Job("render", entry.name, estimated=False) for entry in OUTPUTS if entry.name not in not_produced]
    plan.jobs.append(Job("all", "all", estimated=False))
    return plan


# ---------------------------------------------------------------------------------------------
# Reports


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}" if seconds else "-"


def summary(plan: Plan) -> list[dict]:
    """Per stage: jobs, CPU and GPU hours, the largest predicted peak and its job."""
    rows = []
    for stage, jobs in plan.by_stage().items():
        estimated = [job for job in jobs if job.estimated]
        largest = max(estimated, key=lambda job: job.mem_mb, default=None)
        rows.append(
            {
                "stage": stage,
                "jobs": len(jobs),
                "cpu_hours": sum(job.seconds for job in estimated if not job.gpu) / 3600,
                "gpu_hours": sum(job.seconds for job in estimated if job.gpu) / 3600,
                "peak_mb": largest.mem_mb if largest else None,
                "largest_job": f"{largest.key} (N={largest.n}, d={largest.d})" if largest else "local rule",
                "skipped": sum(1 for job in jobs if job.skipped),
            }
        )
    return rows


def text(plan: Plan) -> str:
    rows = summary(plan)
    lines = [
        f"Plan of {plan.config}: {sum(1 for j in plan.jobs if j.stage == 'cluster')} runs, {len(plan.jobs)} jobs",
        f"memory guard: {plan.guard_bytes / 2**30:.1f} GiB ({plan.guard_source}); times for this project's machine, one job per core",
        "",
        f"{'stage':<16}{'jobs':>7}{'CPU h':>10}{'GPU h':>9}{'peak MB/job':>13}{'skipped':>9}  largest job",
    ]
    for row in rows:
        peak = f"{row['peak_mb']:,}" if row["peak_mb"] is not None else "-"
        cpu = _hours(row["cpu_hours"] * 3600)
        gpu = _hours(row["gpu_hours"] * 3600)
        lines.append(f"{row['stage']:<16}{row['jobs']:>7,}{cpu:>10}{gpu:>9}{peak:>13}{row['skipped']:>9}  {row['largest_job']}")
    cpu_total = sum(row["cpu_hours"] for row in rows)
    gpu_total = sum(row["gpu_hours"] for row in rows)
    longest = max((job.seconds for job in plan.jobs if job.estimated and not job.gpu), default=0)
    lines += [
        f"{'total':<16}{len(plan.jobs):>7,}{cpu_total:>10.2f}{gpu_total:>9.2f}",
        "",
        f"wall time: about {max(cpu_total / plan.cores, longest / 3600):.2f} h on {plan.cores} cores"
        + (f" plus {gpu_total:.2f} h on one GPU" if gpu_total else ""),
    ]
    if plan.machine_mb is not None:
        over = [job for job in plan.jobs if job.estimated and not job.skipped and job.mem_mb > plan.machine_mb]
        lines.append(f"jobs predicted above the machine's {plan.machine_mb:,} MB: {len(over)}")
        lines += [f"  {job.stage} {job.key}: {job.mem_mb:,} MB" for job in over]
    skipped = plan.skipped()
    lines += ["", f"cells the memory guard will skip: {len(skipped)}"]
    lines += [f"  {job.key}: {job.skipped}" for job in skipped]
    if plan.left_out:
        lines += ["", f"encoders left out (if_missing: skip): {len(plan.left_out)}"]
        lines += [f"  {line}" for line in plan.left_out]
    failed = [job for job in plan.failed() if job.stage == "cluster"]
    if failed:
        lines += ["", f"cells that will be recorded as failed (docs/failures.md): {len(failed)}"]
        lines += [f"  {job.key}: {job.failed}" for job in failed]
    if plan.notes:
        lines += ["", "notes:"] + [f"  {note}" for note in dict.fromkeys(plan.notes)]
    return "\n".join(lines) + "\n"


def as_json(plan: Plan) -> str:
    return json.dumps(
        {
            "config": plan.config,
            "guard_gib": plan.guard_bytes / 2**30,
            "guard_source": plan.guard_source,
            "stages": summary(plan),
            "jobs": [asdict(job) for job in plan.jobs],
            "left_out": plan.left_out,
            "notes": list(dict.fromkeys(plan.notes)),
        },
        indent=1,
    )


def compare(plan: Plan, stage_times: Path) -> list[dict]:
    """Per benchmarked stage: predicted and measured seconds (sums) and peak MB (largest), with
    ratios measured / predicted; `over` counts jobs whose measured peak exceeds their prediction."""
    import pandas as pd

    if not stage_times.is_file():
        raise PlanError(f"--compare: {stage_times} not found; run the workflow first")
    measured = pd.read_csv(stage_times)
    predicted = {f"results/benchmarks/{job.stage}/{job.key}": job for job in plan.jobs if job.stage in KEY}
    rows = []
    for stage, group in measured.groupby("stage", sort=False):
        jobs = [predicted.get(path) for path in group["job"]]
        known = [(job, row) for job, row in zip(jobs, group.itertuples()) if job is not None]
        if not known:
            continue
        p_seconds = sum(job.seconds for job, _ in known)
        m_seconds = sum(row.seconds for _, row in known)
        p_peak = max(job.mem_mb for job, _ in known)
        m_peak = max(row.max_rss_mb for _, row in known)
        rows.append(
            {
                "stage": stage,
                "jobs": len(known),
                "predicted_s": p_seconds,
                "measured_s": m_seconds,
                "time_ratio": m_seconds / p_seconds if p_seconds else math.nan,
                "predicted_peak_mb": p_peak,
                "measured_peak_mb": m_peak,
                "peak_ratio": m_peak / p_peak,
                "over": sum(1 for job, row in known if row.max_rss_mb > job.mem_mb),
                "unmatched": len(group) - len(known),
            }
        )
    return rows


def compare_text(rows: list[dict]) -> str:
    lines = [
        f"{'stage':<11}{'jobs':>6}{'pred. s':>10}{'meas. s':>10}{'ratio':>7}{'pred. MB':>10}{'meas. MB':>10}{'ratio':>7}{'over':>6}",
    ]
    for r in rows:
        lines.append(
            f"{r['stage']:<11}{r['jobs']:>6}{r['predicted_s']:>10.1f}{r['measured_s']:>10.1f}{r['time_ratio']:>7.2f}"
            f"{r['predicted_peak_mb']:>10,}{r['measured_peak_mb']:>10,.0f}{r['peak_ratio']:>7.2f}{r['over']:>6}"
        )
    lines.append("(seconds: sums over the stage's jobs; MB: the largest job; ratio: measured / predicted; over: jobs above their prediction)")
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """`python -m zsc plan` (arguments parsed in zsc.__main__)."""
    import sys

    from .config import ConfigError

    workdir = Path(args.directory) if args.directory else workdir_of(Path.cwd())
    try:
        path = find_config(args.configfile, workdir)
        config = load_config(path, workdir)
        gpu = not args.no_gpu
        if args.compare and config["embedding"]["device"] == "auto":
            import torch

            gpu = torch.cuda.is_available()  # where the run was made: here, as auto decided
        plan = make_plan(config, workdir, str(path), args.memory_gb, args.cores, gpu)
        if args.compare:
            rows = compare(plan, workdir / "results/tables/stage_times.csv")
            sys.stdout.write(json.dumps(rows, indent=1) + "\n" if args.json else compare_text(rows))
            return 0
    except (PlanError, ConfigError) as error:
        print(f"plan: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(as_json(plan) + "\n" if args.json else text(plan))
    return 0
