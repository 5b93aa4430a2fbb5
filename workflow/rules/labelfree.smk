# Label-free scores (one job per embeddings and seed) and the labelled references they are compared
# with (kNN and linear probes, one job per embeddings): zsc.labelfree, zsc.probes, docs/labelfree.md.
rule labelfree:
    input:
        embeddings=EMBEDDINGS,
        clusters=evaluated_clusters,
        umap=umap_space_input,
    output:
        LABELFREE,
    log:
        log_file("labelfree"),
    benchmark:
        benchmark_file("labelfree")
    conda:
        "../../envs/cluster.yaml"
    resources:
        mem_mb=labelfree_mem_mb,
        runtime=labelfree_runtime,
    params:
        runs=evaluated_jobs,
        settings=CONFIG["labelfree"],
        n_clusters=lambda wildcards: CONFIG.entry("datasets", wildcards.dataset)["n_clusters"],
        seed=lambda wildcards: int(wildcards.seed),
    script:
        "../scripts/labelfree.py"


rule probes:
    input:
        queries=EMBEDDINGS,
        train=probe_train_input,
    output:
        PROBES,
    log:
        log_file("probes"),
    benchmark:
        benchmark_file("probes")
    conda:
        "../../envs/cluster.yaml"
    threads: 2  # BLAS products of the kNN search and the probe: the same result on any thread count
    resources:
        mem_mb=probes_mem_mb,
        runtime=probes_runtime,
    params:
        run=lambda wildcards: dict(wildcards.items()),
        plan=lambda wildcards: JOBS.probe_plans[wildcards.dataset],
        settings=CONFIG["probes"],
    script:
        "../scripts/probes.py"
