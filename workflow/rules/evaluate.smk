rule evaluate:
    input:
        embeddings=EMBEDDINGS,
        reduced=reduced_input,
        clusters=CLUSTERS,
    output:
        METRICS,
    log:
        log_file("evaluate"),
    benchmark:
        benchmark_file("evaluate")
    conda:
        "../../envs/cluster.yaml"
    params:
        run=run_of,
        metrics=CONFIG["metrics"],
    script:
        "../scripts/evaluate.py"
