rule reduce:
    input:
        embeddings=EMBEDDINGS,
    output:
        REDUCED,
    log:
        log_file("reduce"),
    benchmark:
        benchmark_file("reduce")
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
