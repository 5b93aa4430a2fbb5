"""Rule search_params: every encoder's search choices as one params file (zsc.search.write_params)."""

from zsc.logs import run_logged
from zsc.search import write_params

run_logged(
    snakemake.log[0],
    write_params,
    choice_files=dict(zip(snakemake.params.encoders, snakemake.input)),
    out_path=snakemake.output[0],
    search=snakemake.params.search,
    reducers=snakemake.params.reducers,
    clusterers=snakemake.params.clusterers,
)
