"""Rule probes: kNN and linear-probe accuracy of one embeddings (zsc.probes.probe_embeddings)."""

from zsc.probes import probe_embeddings
from zsc.logs import run_logged

run_logged(
    snakemake.log[0],
    probe_embeddings,
    queries_path=snakemake.input.queries,
    train_path=snakemake.input.train[0] if snakemake.input.train else None,
    out_path=snakemake.output[0],
    keys=snakemake.params.run,
    plan=snakemake.params.plan,
    settings=snakemake.params.settings,
)
