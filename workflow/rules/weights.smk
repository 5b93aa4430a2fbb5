# Downloading weights needs the internet, which compute nodes often lack: a local rule, run before
# the GPU job that loads them from resources/weights/.
localrules:
    fetch_weights,


rule fetch_weights:
    output:
        zsc.dag.WEIGHTS_RECEIPT,
    log:
        log_file("fetch_weights"),
    wildcard_constraints:
        source="(url|timm|torchvision)/[^/]+",
    # a network error is retried inside the job (zsc.failures.retry_network); a deterministic error
    # (a checksum, a 404, a bug) fails once, also under a profile's retries (those are for SLURM kills)
    retries: 0
    conda:
        "../../envs/embed.yaml"
    params:
        source=lambda wildcards: WEIGHT_SOURCES[wildcards.source],
    script:
        "../scripts/fetch_weights.py"
