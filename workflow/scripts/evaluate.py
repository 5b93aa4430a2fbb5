"""Rule evaluate: score one run and write its result row (zsc.metrics.evaluate)."""
from zsc.logs import run_logged
from zsc.metrics import evaluate

run_logged(
    snakemake.log[0],
    evaluate,
    embeddings_path=snakemake.input.embeddings,
    reduced_path=snakemake.input.reduced,
    clusters_path=snakemake.input.clusters,
    out_path=snakemake.output[0],
    run=snakemake.params.run,
    metrics=snakemake.params.metrics,
    umap_path=snakemake.input.umap[0] if snakemake.input.umap else None,
)
