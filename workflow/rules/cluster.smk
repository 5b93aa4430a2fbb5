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
        n_clusters=lambda wildcards: CONFIG.entry("datasets", wildcards.dataset)["n_clusters"],
        seed=lambda wildcards: int(wildcards.seed),
    script:
        "../scripts/cluster.py"
