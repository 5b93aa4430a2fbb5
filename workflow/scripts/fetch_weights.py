"""Rule fetch_weights: download an encoder's weights into resources/weights (zsc.weights.fetch)."""
from zsc.logs import run_logged
from zsc.weights import fetch

run_logged(snakemake.log[0], fetch, source=snakemake.params.source, receipt=snakemake.output[0])
