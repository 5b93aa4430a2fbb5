"""Rule prepare_dataset: fetch and verify a dataset, write its manifest (zsc.datasets.prepare)."""

from zsc.datasets import prepare
from zsc.failures import retry_network
from zsc.logs import run_logged

# a download that meets a network error is tried again here; any other error fails the job at once
run_logged(
    snakemake.log[0],
    retry_network(prepare),
    spec=snakemake.params.dataset,
    root=snakemake.params.root,
    manifest_path=snakemake.output[0],
)
