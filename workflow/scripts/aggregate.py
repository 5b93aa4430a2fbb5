"""Rule aggregate: result tables from the per-run rows and the benchmark files (zsc.aggregate)."""

import sys

from zsc import aggregate
from zsc.logs import run_logged


def main(inputs, outputs, groups):
    runs = aggregate.collect_runs(list(inputs.metrics), groups)
    levels = aggregate.collect(list(inputs.levels), aggregate.LEVEL_KEYS)
    labelfree = aggregate.labelfree_table(list(inputs.labelfree), runs)
    probes = aggregate.collect(list(inputs.probes), aggregate.PROBE_KEYS)
    times = aggregate.stage_times(
        {name.removeprefix("times_"): list(files) for name, files in inputs.items() if name.startswith("times_")}
    )
    aggregate.write_tables(
        {"runs": runs, "labels": levels, "labelfree": labelfree, "probes": probes}, times, dict(outputs.items())
    )
    for line in aggregate.not_run_summary(runs):  # on the terminal (the log has stderr)
        print(line, file=sys.__stderr__, flush=True)


run_logged(snakemake.log[0], main, inputs=snakemake.input, outputs=snakemake.output, groups=snakemake.params.groups)
