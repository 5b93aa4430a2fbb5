localrules:
    aggregate,


rule aggregate:
    input:
        metrics=run_files(METRICS),
        embed=run_files(benchmark_file("embed")),
        reduce=run_files(benchmark_file("reduce"), skip_identity=True, with_umap_space=True),
        cluster=run_files(benchmark_file("cluster")),
        evaluate=run_files(benchmark_file("evaluate")),
    output:
        runs=TABLES["runs"],
        summary_csv=report(TABLES["summary_csv"], caption="../report/ami_summary.rst", category="Tables"),
        summary_md=TABLES["summary_md"],
        stage_times=TABLES["stage_times"],
    log:
        "results/logs/aggregate.log",
    conda:
        "../../envs/report.yaml"
    params:
        groups={name: CONFIG.info("datasets", name)["group"] for name in CONFIG["datasets"]},
    script:
        "../scripts/aggregate.py"
