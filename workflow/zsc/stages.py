"""The workflow's stages, listed once: the rules whose jobs have their own logs and benchmarks.

Everything that goes per stage is derived from STAGES: the key of each stage's jobs in
workflow/rules/common.smk (outputs, logs and benchmarks of a stage share it), the benchmarks that
results/tables/stage_times.csv collects, and (checked by a test, since a profile is plain YAML) the
stages profiles/slurm sends to SLURM as one group job.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str  # the rule, and the folder of its logs and benchmarks
    key: str  # the wildcards of one job, as a path
    timed: bool  # its jobs' benchmarks go into stage_times.csv
    grouped: bool  # on SLURM: part of the `clustering` group job of each embeddings (profiles/slurm)


STAGES = (
    Stage("prepare_dataset", "{dataset}/{split}", timed=False, grouped=False),  # a local rule: a download
    Stage("embed", "{dataset}/{split}/{encoder}", timed=True, grouped=False),
    Stage("reduce", "{dataset}/{split}/{encoder}/seed{seed}/{reducer}", timed=True, grouped=True),
    Stage("cluster", "{dataset}/{split}/{encoder}/seed{seed}/{reducer}/{clusterer}", timed=True, grouped=True),
    Stage("evaluate", "{dataset}/{split}/{encoder}/seed{seed}", timed=True, grouped=True),
    Stage("labelfree", "{dataset}/{split}/{encoder}/seed{seed}", timed=True, grouped=True),
    Stage("probes", "{dataset}/{split}/{encoder}", timed=True, grouped=True),
)
KEY = {stage.name: stage.key for stage in STAGES}
TIMED = [stage.name for stage in STAGES if stage.timed]
GROUPED = [stage.name for stage in STAGES if stage.grouped]
