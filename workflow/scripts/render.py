"""Rule render: one registered table or figure from the result tables (zsc.outputs.render)."""

from zsc.logs import run_logged
from zsc.outputs import DATA_TABLES, render

tables = {name: files[0] for name, files in snakemake.input.items() if name in DATA_TABLES}
files = {name: list(files) for name, files in snakemake.input.items() if name not in DATA_TABLES}
run_logged(
    snakemake.log[0],
    render,
    name=snakemake.wildcards.name,
    tables=tables,
    facts_=snakemake.params.facts,
    files=files,
    out_dir=snakemake.output[0],
)
