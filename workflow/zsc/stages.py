"""The workflow's rules, listed once, in the order the DAG runs them (docs/architecture.md).

Everything that goes per stage is derived from STAGES: the files of each stage's jobs and the jobs
of a config (zsc.dag: outputs, logs and benchmarks of a stage share its key), the benchmarks that
results/tables/stage_times.csv collects and whose time and memory `python -m zsc plan` predicts
(the timed stages), and (checked by a test, since a profile is plain YAML) the stages
profiles/slurm sends to SLURM as one group job.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str  # the rule, and the folder of its logs and benchmarks
    key: str | None  # the wildcards of one job, as a path; None: the rule has one job
    timed: bool = False  # its jobs' benchmarks go into stage_times.csv; the plan predicts their time and memory
    grouped: bool = False  # on SLURM: part of the `clustering` group job of each embeddings (profiles/slurm)


STAGES = (
    Stage("prepare_dataset", "{dataset}/{split}"),  # a local rule: a download
    Stage("fetch_weights", "{source}"),  # a local rule: a download
    Stage("embed", "{dataset}/{split}/{encoder}", timed=True),
    Stage("reduce", "{dataset}/{split}/{encoder}/seed{seed}/{reducer}", timed=True, grouped=True),
    Stage("cluster", "{dataset}/{split}/{encoder}/seed{seed}/{reducer}/{clusterer}", timed=True, grouped=True),
    Stage("evaluate", "{dataset}/{split}/{encoder}/seed{seed}", timed=True, grouped=True),
    Stage("labelfree", "{dataset}/{split}/{encoder}/seed{seed}", timed=True, grouped=True),
    Stage("probes", "{dataset}/{split}/{encoder}", timed=True, grouped=True),
    Stage("search", "{encoder}"),
    Stage("search_params", None),
    Stage("aggregate", None),
    Stage("render", "{name}"),
    Stage("all", None),
)
KEY = {stage.name: stage.key for stage in STAGES}
TIMED = [stage.name for stage in STAGES if stage.timed]
GROUPED = [stage.name for stage in STAGES if stage.grouped]
