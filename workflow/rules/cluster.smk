rule cluster:
    input:
        reduced=reduced_input,
        embeddings=EMBEDDINGS,
        umap=choose_k_space_input,
    output:
        CLUSTERS,
    log:
        log_file("cluster"),
    benchmark:
        benchmark_file("cluster")
    conda:
        "../../envs/cluster.yaml"
    threads: cluster_threads
    resources:
        mem_mb=cluster_mem_mb,
        runtime=cluster_runtime,
    params:
        clusterer=lambda wildcards: CONFIG.clusterer(wildcards),
        n_clusters=lambda wildcards: CONFIG.entry("datasets", wildcards.dataset)["n_clusters"],
        memory_gb=CONFIG["limits"]["memory_gb"],
        seed=lambda wildcards: int(wildcards.seed),
    script:
        "../scripts/cluster.py"
