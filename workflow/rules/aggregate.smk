localrules:
    aggregate,


rule aggregate:
    input:
        **benchmarks(),
        metrics=run_files(METRICS),
        levels=run_files(LEVELS),
        labelfree=labelfree_files(LABELFREE),
        probes=probes_files(PROBES),
    output:
        runs=TABLES["runs"],
        labels=TABLES["labels"],
        labelfree=TABLES["labelfree"],
        probes=TABLES["probes"],
        summary_csv=TABLES["summary_csv"],
        summary_md=TABLES["summary_md"],
        stage_times=TABLES["stage_times"],
    log:
        "results/logs/aggregate.log",
    retries: 0  # local and deterministic: a profile's retries are for SLURM jobs killed for memory or time
    conda:
        "../../envs/report.yaml"
    params:
        groups={name: CONFIG.info("datasets", name)["group"] for name in CONFIG["datasets"]},
    script:
        "../scripts/aggregate.py"
