# Fetching and verifying datasets needs the internet, which compute nodes often lack: a local rule.
localrules:
    prepare_dataset,


rule prepare_dataset:
    output:
        MANIFEST,
    log:
        log_file("prepare_dataset"),
    retries: 2
    conda:
        "../../envs/datasets.yaml"
    params:
        dataset=split_entry,
        root=dataset_root,
    script:
        "../scripts/prepare_dataset.py"
