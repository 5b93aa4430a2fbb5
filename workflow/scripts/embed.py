"""Rule embed: embed a dataset's manifest with one encoder (zsc.encoders.embed)."""

from zsc.encoders import embed
from zsc.logs import run_logged

run_logged(
    snakemake.log[0],
    embed,
    manifest_path=snakemake.input.manifest,
    out_path=snakemake.output[0],
    dataset=snakemake.params.dataset,
    encoder=snakemake.params.encoder,
    root=snakemake.params.root,
    embedding=snakemake.params.embedding,
    weights_receipt=snakemake.input.receipt[0] if snakemake.input.receipt else None,
)
