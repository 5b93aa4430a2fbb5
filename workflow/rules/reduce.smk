rule reduce:
    input:
        embeddings=EMBEDDINGS,
    output:
        REDUCED,
    log:
        log_file("reduce"),
    benchmark:
        benchmark_file("reduce")
    # before the cluster jobs that can start with it (the identity's): every cluster job on this
    # reduction waits for it, and a seeded UMAP runs on one thread, the longest job of the chain
    priority: 1
    conda:
        "../../envs/cluster.yaml"
    resources:
        mem_mb=reduce_mem_mb,
        runtime=reduce_runtime,
    params:
        reducer=entry("reducer"),
        seed=lambda wildcards: int(wildcards.seed),
        # names the data in the message of a reducer that cannot reduce it
        embeddings=lambda wildcards: zsc.failures.embeddings_name(wildcards.dataset, wildcards.split, wildcards.encoder),
    script:
        "../scripts/reduce.py"
