"""Rule reduce: one reduction of one embeddings file, shared by every clusterer (zsc.reducers.reduce)."""

from zsc.logs import run_logged
from zsc.reducers import reduce

run_logged(
    snakemake.log[0],
    reduce,
    embeddings_path=snakemake.input.embeddings,
    out_path=snakemake.output[0],
    reducer=snakemake.params.reducer,
    seed=snakemake.params.seed,
    embeddings=snakemake.params.embeddings,
)
