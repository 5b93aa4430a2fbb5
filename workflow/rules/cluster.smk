rule cluster:
    input:
        reduced=reduced_input,
        embeddings=EMBEDDINGS,
    output:
        CLUSTERS,
    log:
        log_file("cluster"),
    benchmark:
        benchmark_file("cluster")
    conda:
        "../../envs/cluster.yaml"
    params:
        clusterer=entry("clusterer"),
        seed=lambda wildcards: int(wildcards.seed),
    script:
        "../scripts/cluster.py"
