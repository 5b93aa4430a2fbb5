"""Rule search: the greedy hyper-parameter search for one encoder (zsc.search.search_encoder)."""

from zsc.logs import run_logged
from zsc.search import search_encoder

run_logged(
    snakemake.log[0],
    search_encoder,
    embeddings={name: snakemake.input[name] for name in snakemake.params.search["datasets"]},
    out_choices=snakemake.output.choices,
    out_trace=snakemake.output.trace,
    search=snakemake.params.search,
    reducers=snakemake.params.reducers,
    clusterers=snakemake.params.clusterers,
    n_clusters=snakemake.params.n_clusters,
    memory_gb=snakemake.params.memory_gb,
)
