# Zero-shot clustering of unseen datasets with pretrained encoders.
# The logic lives in the `zsc` package (workflow/zsc); rules only wire files and parameters.
from snakemake.utils import min_version

min_version("9.0")


# The config: --configfile's, else the offline default config/config.yaml (read in common.smk, which
# first reads it strictly: a syntax error or a duplicate key is one line naming file:line:col).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"


# A killed run resumes with the same command: before snakemake locks this directory, the jobs a
# killed snakemake left running are stopped and its lock removed; each job ends with its snakemake
# (zsc.jobs). Jobs of a snakemake SLURM started belong to that one.
import zsc.jobs

if workflow.is_main_process:
    zsc.jobs.take_over()
elif workflow.remote_exec:
    zsc.jobs.mark_remote()


wildcard_constraints:
    dataset="[^/]+",
    split="[^/]+",
    encoder="[^/]+",
    reducer="[^/]+",
    clusterer="[^/]+",
    seed=r"\d+",


include: "workflow/rules/datasets.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/reduce.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/labelfree.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/outputs.smk"
include: "workflow/rules/search.smk"


rule all:
    input:
        # the last jobs of zsc.dag's stages: the result tables and the outputs (none when a config
        # only searches: all its datasets are search datasets), and the search's params file
        [*TABLES.values()] if JOBS.jobs("aggregate") else [],
        OUTPUT_DIRS,
        [SEARCH_PARAMS] if JOBS.jobs("search_params") else [],
