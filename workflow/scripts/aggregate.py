"""Rule aggregate: result tables from the per-run rows and the benchmark files (zsc.aggregate)."""
from zsc import aggregate
from zsc.logs import run_logged


def main(inputs, outputs, groups):
    runs = aggregate.collect_runs(list(inputs.metrics), groups)
    stages = {stage: list(inputs[stage]) for stage in ("embed", "reduce", "cluster", "evaluate")}
    aggregate.write_tables(runs, aggregate.stage_times(stages), dict(outputs.items()))


run_logged(snakemake.log[0], main, inputs=snakemake.input, outputs=snakemake.output, groups=snakemake.params.groups)
