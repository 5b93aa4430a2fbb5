"""Rule prepare_dataset: fetch and verify a dataset, write its manifest (zsc.datasets.prepare)."""
from zsc.datasets import prepare
from zsc.logs import run_logged

run_logged(snakemake.log[0], prepare, spec=snakemake.params.dataset, root=snakemake.params.root, manifest_path=snakemake.output[0])
