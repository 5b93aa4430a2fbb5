rule embed:
    input:
        manifest=MANIFEST,
        receipt=weights_receipt,
        weights_file=weights_file,
    output:
        EMBEDDINGS,
    log:
        log_file("embed"),
    benchmark:
        benchmark_file("embed")
    # a network's embeddings first: the longest jobs on a CPU, and all of their dataset's jobs wait on them
    priority: encoder_gpus
    conda:
        "../../envs/embed.yaml"
    resources:
        gpu=encoder_gpus,
        mem_mb=embed_mem_mb,
        runtime=embed_runtime,
    params:
        dataset=split_entry,
        encoder=entry("encoder"),
        root=dataset_root,
        embedding=CONFIG["embedding"],
    script:
        "../scripts/embed.py"
