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
    params:
        reducer=entry("reducer"),
        seed=lambda wildcards: int(wildcards.seed),
    script:
        "../scripts/reduce.py"
