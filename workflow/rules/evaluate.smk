# One job per (embeddings, seed) scores all its runs: the silhouettes' pass over all pairwise
# distances of a space (the embeddings, a reduction, the UMAP space) is then made once for every
# run in that space instead of once per run. Clustering stays one job per run.
rule evaluate:
    input:
        embeddings=EMBEDDINGS,
        clusters=evaluated_clusters,
        reduced=evaluated_reductions,
        umap=umap_space_input,
    output:
        metrics=METRICS,
        levels=LEVELS,
    log:
        log_file("evaluate"),
    benchmark:
        benchmark_file("evaluate")
    conda:
        "../../envs/cluster.yaml"
    threads: 4  # blocks of the silhouettes' distances side by side: the same result on any thread count (zsc.silhouette)
    resources:
        mem_mb=evaluate_mem_mb,
        runtime=evaluate_runtime,
    params:
        runs=evaluated_jobs,
        metrics=CONFIG["metrics"],
    script:
        "../scripts/evaluate.py"
