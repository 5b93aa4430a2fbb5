"""Rule fetch_weights: download an encoder's weights into resources/weights (zsc.weights.fetch)."""

from zsc.failures import retry_network
from zsc.logs import run_logged
from zsc.weights import fetch

# a download that meets a network error is tried again here; any other error fails the job at once
run_logged(snakemake.log[0], retry_network(fetch), source=snakemake.params.source, receipt=snakemake.output[0])
