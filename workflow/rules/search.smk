# The hyper-parameter search (config key `search`): one job per encoder tunes every searched clusterer
# on the search datasets' embeddings; a local job gathers the choices into one params file.


rule search:
    input:
        unpack(search_embeddings),
    output:
        choices=SEARCH_CHOICES,
        trace=SEARCH_TRACE,
    log:
        log_file("search"),
    benchmark:
        benchmark_file("search")
    conda:
        "../../envs/cluster.yaml"
    params:
        search=SEARCH,
        reducers=SEARCH_REDUCERS,
        clusterers=SEARCH_CLUSTERERS,
        n_clusters={name: CONFIG.entry("datasets", name)["n_clusters"] for name in SEARCH.get("datasets", {})},
        memory_gb=CONFIG["limits"]["memory_gb"],
    script:
        "../scripts/search.py"


localrules:
    search_params,


rule search_params:
    input:
        expand(SEARCH_CHOICES, encoder=CONFIG["encoders"]),
    output:
        SEARCH_PARAMS,
    log:
        log_file("search_params"),
    retries: 0  # local and deterministic: a profile's retries are for SLURM jobs killed for memory or time
    conda:
        "../../envs/cluster.yaml"
    params:
        encoders=list(CONFIG["encoders"]),
        search=SEARCH,
        reducers=SEARCH_REDUCERS,
        clusterers=SEARCH_CLUSTERERS,
    script:
        "../scripts/search_params.py"
