"""Rule cluster: one clusterer on one reduction (zsc.clusterers.cluster)."""

from zsc.clusterers import cluster
from zsc.logs import run_logged

run_logged(
    snakemake.log[0],
    cluster,
    reduced_path=snakemake.input.reduced,
    embeddings_path=snakemake.input.embeddings,
    out_path=snakemake.output[0],
    clusterer=snakemake.params.clusterer,
    n_clusters=snakemake.params.n_clusters,
    memory_gb=snakemake.params.memory_gb,
    seed=snakemake.params.seed,
    dataset=snakemake.wildcards.dataset,
)
