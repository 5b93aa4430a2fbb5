"""Rule labelfree: the label-free scores of one (embeddings, seed) (zsc.labelfree.score_embeddings)."""

from zsc.labelfree import score_embeddings
from zsc.logs import run_logged

run_logged(
    snakemake.log[0],
    score_embeddings,
    embeddings_path=snakemake.input.embeddings,
    runs=snakemake.params.runs,
    out_path=snakemake.output[0],
    settings=snakemake.params.settings,
    n_clusters=snakemake.params.n_clusters,
    seed=snakemake.params.seed,
    umap_path=snakemake.input.umap[0] if snakemake.input.umap else None,
)
