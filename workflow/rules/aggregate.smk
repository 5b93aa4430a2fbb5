localrules:
    aggregate,


rule aggregate:
    input:
        **benchmarks(),
        metrics=JOBS.files(METRICS, "evaluate"),
        levels=JOBS.files(LEVELS, "evaluate"),
        labelfree=JOBS.files(LABELFREE, "labelfree"),
        probes=JOBS.files(PROBES, "probes"),
    output:
        runs=TABLES["runs"],
        labels=TABLES["labels"],
        labelfree=TABLES["labelfree"],
        probes=TABLES["probes"],
        summary_csv=TABLES["summary_csv"],
        summary_md=TABLES["summary_md"],
        stage_times=TABLES["stage_times"],
    log:
        log_file("aggregate"),
    retries: 0  # local and deterministic: a profile's retries are for SLURM jobs killed for memory or time
    conda:
        "../../envs/report.yaml"
    params:
        groups={name: CONFIG.info("datasets", name)["group"] for name in CONFIG["datasets"]},
    script:
        "../scripts/aggregate.py"
