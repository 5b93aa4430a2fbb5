"""Rule evaluate: score every run of one (embeddings, seed) and write their rows (zsc.metrics.evaluate)."""

from zsc.logs import run_logged
from zsc.metrics import evaluate

run_logged(
    snakemake.log[0],
    evaluate,
    embeddings_path=snakemake.input.embeddings,
    runs=snakemake.params.runs,
    out_path=snakemake.output.metrics,
    levels_path=snakemake.output.levels,
    metrics=snakemake.params.metrics,
    umap_path=snakemake.input.umap[0] if snakemake.input.umap else None,
)
