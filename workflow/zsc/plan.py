"""What a config will cost before it runs (`python -m zsc plan`), and afterwards how that compared.

For every job the workflow's DAG holds (zsc.dag, the description workflow/rules/common.smk builds
the rules from; the tests compare the counts with `snakemake -n`), the plan gives the data's shape,
the predicted peak memory and seconds (zsc.resources), whether it embeds on a GPU, and for a cluster
job whether the memory guard (zsc.clusterers.too_big) will skip it, with the guard's own reason.

Shapes come from the files already written when there are any (a prepared manifest, embeddings,
reductions), else from the registries: N is the dataset's size for its split (the dataset entry's
`sizes`) capped by max_samples; d is what the encoder outputs (a study encoder states it; any other
network is built on torch's meta device, which allocates nothing, and run once to read its output
width and count its FLOPs; raw pixels are 3 x size^2 at the smaller of image_size and the dataset's
native size) and what the reducer keeps (n_components; a PCA by fraction of variance keeps at most
min(N, d)). The predictions are for this project's machine (2 cores, one job per core) and, for
networks on a GPU, an assumed rate (zsc.resources.GPU_NET_FLOPS).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import dag, failures, resources
from .stages import KEY, STAGES, TIMED

REPO = Path(__file__).resolve().parents[2]

# A network whose facts cannot be read on the meta device: about a ViT-B/16's FLOPs at 224 px.
UNKNOWN_FLOPS = 3.5e10


class PlanError(ValueError):
    """A fact the plan needs and cannot find (one line naming the dataset or file)."""


@dataclass
class Job:
    stage: str
    key: str  # the job's keys as in its benchmark file name (zsc.stages.KEY); a single job's rule name otherwise
    n: int = 0
    d: int = 0
    mem_mb: int = 0  # predicted peak
    seconds: float = 0.0
    gpu: bool = False
    skipped: str | None = None  # the memory guard's reason, for a cluster job it will skip
    failed: str | None = None  # why a reduce or cluster job will record a failed cell (docs/failures.md)
    estimated: bool = True  # False: a stage without a time and memory model (a download, the search, a local rule)


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
        out = {stage.name: [] for stage in STAGES}
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
        return f"timm:{encoder['model']}", (
            {"global_pool": encoder["global_pool"]} if encoder.get("global_pool") is not None else {}
        )
    if encoder["type"] == "torchvision":
        return f"torchvision:{encoder['model']}", {}
    return None


class Shapes:
    """N, d and model facts of a config's data: from the files written so far, else the registries."""

    def __init__(self, config, workdir: Path, notes: list[str]):
        self.config, self.workdir, self.notes = config, workdir, notes

    def _file(self, pattern: str, **keys) -> Path | None:
        path = self.workdir / pattern.format(**keys)
        return path if path.exists() else None

    def pixels(self, dataset: str, encoder: str) -> int:
        """The side of the images raw pixels are taken at: image_size, never above the dataset's native size."""
        from .datasets import native_size

        size = self.config.entry("encoders", encoder)["image_size"]
        native = native_size(self.config.entry("datasets", dataset)["type"])
        return size if native is None else min(size, native)

    @functools.lru_cache(maxsize=None)
    def n(self, dataset: str, split: str) -> int:
        manifest = self._file(dag.MANIFEST, dataset=dataset, split=split)
        if manifest:
            return resources.table_shape(manifest)[0]
        spec = self.config.entry("datasets", dataset)
        cap = spec["max_samples"] if split == spec["split"] else spec["probe_max_samples"]
        size = self.config.info("datasets", dataset)["sizes"].get(split)
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
        embeddings = self._file(dag.EMBEDDINGS, dataset=dataset, split=split, encoder=encoder)
        if embeddings:
            return resources.table_shape(embeddings)[1], flops, weights
        if not info["neural"]:
            return 3 * self.pixels(dataset, encoder) ** 2, flops, weights
        if facts:
            return facts[0], flops, weights
        dim = resources.embedding_dim(spec, info)
        self.notes.append(
            f"encoder {encoder}: not built on the meta device; its dimension taken as {dim}, its FLOPs as {UNKNOWN_FLOPS:.0e}"
        )
        return dim, flops, weights

    def reduced(self, run: dict) -> int:
        """Dimensions of the space a run's clusterer works in."""
        d = self.encoder(run["dataset"], run["split"], run["encoder"])[0]
        reducer = self.config.entry("reducers", run["reducer"])
        if self.config.info("reducers", run["reducer"])["identity"]:
            return d
        written = self._file(dag.REDUCED, **run)
        if written:
            return resources.table_shape(written)[1]
        n = self.n(run["dataset"], run["split"])
        components = reducer.get("n_components")
        if components is None:
            return d
        if isinstance(components, float) and components < 1:
            return min(n, d)  # a fraction of the variance: at most every dimension
        return min(int(components), n, d) if reducer["type"] == "pca" else int(components)

    @functools.lru_cache(maxsize=None)
    def n_clusters(self, dataset: str, split: str) -> int:
        """The clusters the cluster jobs will ask for (zsc.clusterers.n_clusters_asked): the dataset's
        n_clusters, else the classes present in its prepared manifest; before it is prepared, the
        dataset entry's class count (10 where it has none)."""
        from . import tables
        from .clusterers import n_clusters_asked

        spec = self.config.entry("datasets", dataset)
        manifest = self._file(dag.MANIFEST, dataset=dataset, split=split)
        if manifest or spec["n_clusters"] is not None:
            labels = tables.read(manifest, columns=["label"])[0]["label"] if manifest else None
            try:
                return n_clusters_asked(labels, spec["n_clusters"], f"datasets.{dataset}")
            except ValueError as error:
                raise PlanError(str(error)) from None
        return self.config.info("datasets", dataset)["n_classes"] or 10


# ---------------------------------------------------------------------------------------------
# The jobs


def make_plan(
    config, workdir: Path, config_name: str = "", memory_gb: float | None = None, cores: int = 2, gpu: bool = True
) -> Plan:
    """The plan of a loaded config (zsc.config.Config) run in `workdir`: every job of zsc.dag's
    description, estimated. `memory_gb`: the machine's memory; the guard's limit is the config's
    limits.memory_gb, else 90% of it (what the jobs see). `gpu`: whether the machine has one, so that
    `embedding.device: auto` embeds there (a neural encoder's job asks for one, see resources.smk)."""
    from .clusterers import memory_limit
    from .config import left_out_lines
    from .outputs import facts, produced

    configured = config["limits"]["memory_gb"]
    if configured is not None:
        guard, source = memory_limit(configured), "limits.memory_gb"
    elif memory_gb is not None:
        guard, source = int(0.9 * memory_gb * 2**30), f"90% of --memory-gb {memory_gb:g}"
    else:
        guard, source = memory_limit(None), "90% of this machine's memory"
    plan = Plan(config_name, guard, source, None if memory_gb is None else int(memory_gb * 1024), cores)
    plan.left_out = left_out_lines(config)
    estimate = _Estimates(config, Shapes(config, workdir, plan.notes), guard, gpu, cores)
    jobs = dag.DAG(config, produced(facts(config)))
    for stage in STAGES:
        for wildcards in jobs.jobs(stage.name):
            key = stage.key.format(**wildcards) if stage.key else stage.name
            if stage.timed:
                plan.jobs.append(getattr(estimate, stage.name)(key, wildcards, jobs))
            else:
                n = estimate.shapes.n(wildcards["dataset"], wildcards["split"]) if stage.name == "prepare_dataset" else 0
                plan.jobs.append(Job(stage.name, key, n=n, estimated=False))
    if jobs.jobs("search"):
        plan.notes.append("search jobs are counted, not estimated")
    return plan


class _Estimates:
    """Per timed stage: one job's Job, its data's shape and predicted memory and time."""

    def __init__(self, config, shapes: Shapes, guard: int, gpu: bool, cores: int):
        self.config, self.shapes, self.guard = config, shapes, guard
        embedding = config["embedding"]
        self.gpu_embedding = embedding["device"].startswith("cuda") or (embedding["device"] == "auto" and gpu)
        workers = embedding["num_workers"]
        self.workers = min(8, max(1, cores - 1)) if workers == "auto" else max(1, workers)
        self.reduce_failures = {}  # reduce job key -> why it will record a failure (its clusterers' reason)

    def embed(self, key, job, jobs) -> Job:
        config, shapes = self.config, self.shapes
        n = shapes.n(job["dataset"], job["split"])
        dim, flops, weights = shapes.encoder(job["dataset"], job["split"], job["encoder"])
        spec = config.entry("encoders", job["encoder"])
        neural = config.info("encoders", job["encoder"])["neural"]
        on_gpu = neural and self.gpu_embedding
        size = spec["image_size"] if neural else shapes.pixels(job["dataset"], job["encoder"])
        mem = resources.embed_mem_mb(n, dim, neural, size, config["embedding"]["batch_size"], gpu=on_gpu, weights_mb=weights)
        seconds = resources.embed_seconds(n, flops, gpu=on_gpu, workers=self.workers)
        return Job("embed", key, n, dim, mem, seconds, on_gpu)

    def reduce(self, key, job, jobs) -> Job:
        from .reducers import reducer_problem

        n = self.shapes.n(job["dataset"], job["split"])
        d = self.shapes.encoder(job["dataset"], job["split"], job["encoder"])[0]
        reducer = self.config.entry("reducers", job["reducer"])
        failed = reducer_problem(job["reducer"], reducer, n, d)  # as the reduce job will check it
        if failed:
            failed += f" of {failures.embeddings_name(job['dataset'], job['split'], job['encoder'])}"
            self.reduce_failures[key] = failed
        return Job(
            "reduce", key, n, d, resources.reduce_mem_mb(n, d, reducer), resources.reduce_seconds(n, d, reducer), failed=failed
        )

    def cluster(self, key, run, jobs) -> Job:
        from . import choose_k
        from .clusterers import CLUSTERERS, too_big

        n, d = self.shapes.n(run["dataset"], run["split"]), self.shapes.reduced(run)
        spec = self.config.clusterer(run)
        failed = self.reduce_failures.get(KEY["reduce"].format(**run))
        if failed:  # the job only records its reduction's failure
            cell = failures.reduction_not_run(failures.FAILED, failed)
            return Job("cluster", key, n, d, resources.cluster_mem_mb(0, n, d), resources.START_S, failed=cell)
        entry = CLUSTERERS[spec["type"]]
        need = entry.info["memory"](n, d, spec)
        reason = too_big(spec, n, d, self.guard)
        chooses = choose_k.may_choose(self.config, run)  # its candidate k and their silhouettes on top
        need += choose_k.memory_bytes(n, spec) if chooses else 0
        mem = resources.cluster_mem_mb(0 if reason else need, n, d)  # a skipped job only reads its data
        if reason:
            seconds = resources.START_S
        elif chooses:
            seconds = resources.choosing_cluster_seconds(n, d, spec)
        else:
            k = self.shapes.n_clusters(run["dataset"], run["split"]) if entry.info["uses_n_clusters"] else 0
            seconds = resources.cluster_seconds(n, d, k, spec)
        return Job("cluster", key, n, d, mem, seconds, skipped=reason)

    def evaluate(self, key, job, jobs) -> Job:
        n, d, dims, runs = self._spaces(job, jobs)
        silhouette_n = self.config["metrics"]["silhouette_max_samples"]
        return Job(
            "evaluate",
            key,
            n,
            d,
            resources.evaluate_mem_mb(n, dims, silhouette_n),
            resources.evaluate_seconds(n, dims, len(runs), silhouette_n),
        )

    def _spaces(self, job, jobs):
        """(N, d, the dimensions of every space evaluate scores in: the embeddings first, the runs) of one (embeddings, seed)."""
        runs = jobs.runs_of(job["dataset"], job["split"], job["encoder"], job["seed"])
        n = self.shapes.n(job["dataset"], job["split"])
        d = self.shapes.encoder(job["dataset"], job["split"], job["encoder"])[0]
        spaces = {run["reducer"]: self.shapes.reduced(run) for run in runs if not jobs.is_identity(run["reducer"])}
        if self.config.umap_reducer:
            spaces[self.config.umap_reducer] = self.shapes.reduced({**runs[0], "reducer": self.config.umap_reducer})
        return n, d, [d, *spaces.values()], runs

    def labelfree(self, key, job, jobs) -> Job:
        n = self.shapes.n(job["dataset"], job["split"])
        d = self.shapes.encoder(job["dataset"], job["split"], job["encoder"])[0]
        seeds = self.config["labelfree"]["agreement_seeds"]
        return Job("labelfree", key, n, d, resources.labelfree_mem_mb(n, d), resources.labelfree_seconds(n, d, seeds))

    def probes(self, key, job, jobs) -> Job:
        n = self.shapes.n(job["dataset"], job["split"])
        d = self.shapes.encoder(job["dataset"], job["split"], job["encoder"])[0]
        plan = jobs.probe_plans[job["dataset"]]
        if plan["mode"] == "split":
            n_train = self.shapes.n(job["dataset"], plan["split"])
        elif plan["mode"] == "carve":
            carve = self.config.entry("datasets", job["dataset"])["probe_max_samples"]
            n_train = min(carve, n // 2) if carve else n // 2
        else:
            n_train = 0
        n_cs = len(self.config["probes"]["Cs"])
        return Job("probes", key, n, d, resources.probes_mem_mb(n_train, n, d), resources.probes_seconds(n_train, n, d, n_cs))


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
        f"memory guard: {plan.guard_bytes / 2**30:.1f} GiB ({plan.guard_source}); times for this "
        f"project's machine, one job per core",
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
    predicted = {f"results/benchmarks/{job.stage}/{job.key}": job for job in plan.jobs if job.stage in TIMED}
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
        f"{'stage':<11}{'jobs':>6}{'pred. s':>10}{'meas. s':>10}{'ratio':>7}"
        f"{'pred. MB':>10}{'meas. MB':>10}{'ratio':>7}{'over':>6}",
    ]
    for r in rows:
        lines.append(
            f"{r['stage']:<11}{r['jobs']:>6}{r['predicted_s']:>10.1f}{r['measured_s']:>10.1f}{r['time_ratio']:>7.2f}"
            f"{r['predicted_peak_mb']:>10,}{r['measured_peak_mb']:>10,.0f}{r['peak_ratio']:>7.2f}{r['over']:>6}"
        )
    lines.append(
        "(seconds: sums over the stage's jobs; MB: the largest job; ratio: measured / predicted; over: "
        "jobs above their prediction)"
    )
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """`python -m zsc plan` (arguments parsed in zsc.__main__)."""
    import sys

    from . import choose_k
    from .config import ConfigError

    workdir = Path(args.directory) if args.directory else workdir_of(Path.cwd())
    try:
        path = find_config(args.configfile, workdir)
        config = load_config(path, workdir)
        choose_k.check(config)  # as the workflow refuses it: a dataset with no k to give its clusterers
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
