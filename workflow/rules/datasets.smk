# Fetching and verifying datasets needs the internet, which compute nodes often lack: a local rule.
localrules:
    prepare_dataset,


rule prepare_dataset:
    output:
        MANIFEST,
    log:
        log_file("prepare_dataset"),
    # a network error is retried inside the job (zsc.failures.retry_network); a deterministic error
    # (a checksum, a 404, a bug) fails once, also under a profile's retries (those are for SLURM kills)
    retries: 0
    conda:
        "../../envs/datasets.yaml"
    params:
        dataset=split_entry,
        root=dataset_root,
    script:
        "../scripts/prepare_dataset.py"
