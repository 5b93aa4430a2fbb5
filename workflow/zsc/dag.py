"""The workflow's DAG, described once: the files of every stage, and the jobs of every stage for a
loaded config.

workflow/rules/common.smk builds the rules' inputs and outputs from it, and `python -m zsc plan`
counts and estimates the same jobs (tests/test_plan.py compares both with `snakemake -n`). Paths
are made from each stage's key (zsc.stages): a stage's outputs, logs and benchmarks share it.

A job is its wildcards (a dict). The jobs of a stage come in the order the rules list their
inputs, each once:

- embed: every (dataset, split, encoder) of the runs, then the probe splits' embeddings, then the
  search datasets'; prepare_dataset: their (dataset, split); fetch_weights: the weights they load;
- reduce: every run's reduction that writes a file (not the identity), then the 2-D maps' UMAP
  (drawn for one seed, `shown_seed`) and the silhouettes' shared UMAP-50 space;
- cluster: every run; evaluate and labelfree: every (embeddings, seed); probes: every embeddings;
- search: every encoder; search_params, aggregate, all: one job; render: one per output produced.

Nothing here reads a file: the Snakefile is parsed again by every SLURM job.
"""

from __future__ import annotations

from .stages import KEY

MANIFEST = "resources/datasets/{dataset}/manifest-{split}.parquet"
WEIGHTS_RECEIPT = "resources/weights/{source}.json"  # zsc.weights.receipt_path
EMBEDDINGS = f"results/embeddings/{KEY['embed']}.parquet"
REDUCED = f"results/reduced/{KEY['reduce']}.parquet"
CLUSTERS = f"results/clusters/{KEY['cluster']}.parquet"
METRICS = f"results/metrics/{KEY['evaluate']}.parquet"
LEVELS = f"results/metrics/{KEY['evaluate']}-levels.parquet"  # AMI against every label level
LABELFREE = f"results/labelfree/{KEY['labelfree']}.parquet"
PROBES = f"results/probes/{KEY['probes']}.parquet"
SEARCH_CHOICES = f"results/search/encoders/{KEY['search']}.yaml"
SEARCH_TRACE = f"results/search/encoders/{KEY['search']}-trace.csv"
SEARCH_PARAMS = "results/search/params.yaml"
TABLES = {
    "runs": "results/tables/runs.parquet",
    "labels": "results/tables/labels.parquet",
    "labelfree": "results/tables/labelfree.parquet",
    "probes": "results/tables/probes.parquet",
    "summary_csv": "results/tables/ami_summary.csv",
    "summary_md": "results/tables/ami_summary.md",
    "stage_times": "results/tables/stage_times.csv",
}
OUTPUT_DIR = f"results/outputs/{KEY['render']}"


def log_file(stage: str) -> str:
    return f"results/logs/{stage}/{KEY[stage]}.log" if KEY[stage] else f"results/logs/{stage}.log"


def benchmark_file(stage: str) -> str:
    return f"results/benchmarks/{stage}/{KEY[stage]}.tsv" if KEY[stage] else f"results/benchmarks/{stage}.tsv"


def shown_seed(config) -> int:
    """The seed whose runs the 2-D embedding maps and the example images show: the config's first."""
    return config["seeds"][0]


def probe_plans(config, datasets) -> dict[str, dict]:
    """Where the probes of each dataset of the runs train (zsc.probes.probe_plan); {} with probes
    off. ConfigError for a probe_split the dataset does not have."""
    from .datasets import DATASETS
    from .probes import probe_plan

    if not config["probes"]["enabled"]:
        return {}
    splits = {name: DATASETS[config.entry("datasets", name)["type"]].options["split"]["enum"] for name in datasets}
    return {name: probe_plan(config.entry("datasets", name), splits[name]) for name in datasets}


def _unique(jobs) -> list[dict]:
    return list({tuple(job.items()): job for job in jobs}.values())


class DAG:
    """The jobs of a loaded config (zsc.config.Config), per stage; `outputs`: the names of the
    outputs it renders (zsc.outputs.produced)."""

    def __init__(self, config, outputs=()):
        self.config = config
        self.runs = list(config.runs())
        self.outputs = list(outputs)
        self.probe_plans = probe_plans(config, dict.fromkeys(run["dataset"] for run in self.runs))
        self.search = config["search"] or {}
        self._runs_of = {}
        for run in self.runs:
            self._runs_of.setdefault((run["dataset"], run["split"], run["encoder"], run["seed"]), []).append(run)

    # --- the jobs

    def jobs(self, stage: str) -> list[dict]:
        """The wildcards of every job of `stage`, in order."""
        return getattr(self, f"_{stage}")()

    def files(self, pattern: str, stage: str) -> list[str]:
        """`pattern` filled in for every job of `stage`."""
        return [pattern.format(**job) for job in self.jobs(stage)]

    def _embed(self):
        config, keys = self.config, ("dataset", "split", "encoder")
        jobs = [{k: run[k] for k in keys} for run in self.runs]
        jobs += [{**job, "split": self.probe_plans[job["dataset"]]["split"]} for job in jobs if self.probe_split(job["dataset"])]
        searched = self.search.get("datasets", {})
        jobs += [
            {"dataset": name, "split": config.entry("datasets", name)["split"], "encoder": encoder}
            for encoder in config["encoders"]
            for name in searched
        ]
        return _unique(jobs)

    def _prepare_dataset(self):
        return _unique({"dataset": job["dataset"], "split": job["split"]} for job in self._embed())

    def _fetch_weights(self):
        from .weights import source_id

        sources = [self.weights_source(encoder) for encoder in dict.fromkeys(job["encoder"] for job in self._embed())]
        return _unique({"source": source_id(source)} for source in sources if source)

    def _reduce(self):
        config, keys = self.config, ("dataset", "split", "encoder", "seed", "reducer")
        runs = [run for run in self.runs if not self.is_identity(run["reducer"])]
        runs += [{**run, "reducer": reducer} for reducer in self.own_reducers() for run in self._own_runs(reducer)]
        return _unique({k: run[k] for k in keys} for run in runs)

    def _own_runs(self, reducer: str) -> list[dict]:
        """The runs whose embeddings the workflow's own reduction `reducer` is made of."""
        if reducer == self.config.umap_reducer:
            return self.runs
        return [run for run in self.runs if run["seed"] == shown_seed(self.config)]  # the 2-D maps

    def own_reducers(self) -> list[str]:
        """The workflow's own reductions: the 2-D maps' UMAP, then the silhouettes' UMAP-50 space
        (a reducer of the config, or its own)."""
        from .vocabulary import MAP_REDUCER

        own = [MAP_REDUCER] if MAP_REDUCER in (self.config.metric_reducers or {}) else []
        return own + ([self.config.umap_reducer] if self.config.umap_reducer else [])

    def _cluster(self):
        return [dict(run) for run in self.runs]

    def _evaluate(self):
        keys = ("dataset", "split", "encoder", "seed")
        return [dict(zip(keys, key)) for key in self._runs_of]

    def _labelfree(self):
        return self._evaluate() if self.config["labelfree"]["enabled"] else []

    def _probes(self):
        keys = ("dataset", "split", "encoder")
        return _unique({k: run[k] for k in keys} for run in self.runs) if self.config["probes"]["enabled"] else []

    def _search(self):
        return [{"encoder": encoder} for encoder in self.config["encoders"]] if self.search else []

    def _search_params(self):
        return [{}] if self.search else []

    def _aggregate(self):
        return [{}] if self.runs else []

    def _render(self):
        return [{"name": name} for name in self.outputs] if self.runs else []

    def _all(self):
        return [{}]

    # --- what a job reads

    def is_identity(self, reducer: str) -> bool:
        return self.config.info("reducers", reducer)["identity"]

    def space_file(self, run: dict) -> str:
        """The file of the space a run's clusterer works in: its reduction, or (an identity reducer,
        which writes no file) the embeddings."""
        return (EMBEDDINGS if self.is_identity(run["reducer"]) else REDUCED).format(**run)

    def runs_of(self, dataset: str, split: str, encoder: str, seed: int) -> list[dict]:
        """The runs of one (embeddings, seed): one evaluate job and one labelfree job score them together."""
        return self._runs_of[(dataset, split, encoder, int(seed))]

    def probe_split(self, dataset: str) -> str | None:
        """The split a dataset's probes train on when it is a split of its own (embedded too), else None."""
        plan = self.probe_plans.get(dataset, {})
        return plan["split"] if plan.get("mode") == "split" else None

    def weights_source(self, encoder: str) -> dict | None:
        """Where the encoder's weights are downloaded from (None: random init or a local file)."""
        return self.config.info("encoders", encoder)["weights"](self.config.entry("encoders", encoder))

    def weight_sources(self) -> dict[str, dict]:
        """Every weight source of the config's encoders, by its id (zsc.weights.source_id)."""
        from .weights import source_id

        sources = [self.weights_source(encoder) for encoder in self.config["encoders"]]
        return {source_id(source): source for source in sources if source}
