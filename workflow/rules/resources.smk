# Memory (mem_mb) and wall time (runtime, minutes) of the compute rules, scaled by the data each job
# reads (zsc.resources). On SLURM they become sbatch's --mem and --time; a workstation ignores them
# unless `--resources mem_mb=...` caps the total. A job retried after a failure (an out-of-memory
# kill, a time-out: --retries, set in profiles/slurm) asks for `attempt` times as much.
#
# N always comes from the embeddings (or the manifest) the job reads. A reduction made by an earlier
# job of the same SLURM group job does not exist when the group is submitted: until it does, its
# dimension is taken as the embeddings' (a reduction never has more), so the group's request stays
# an upper bound instead of leaving the job out.
#
# Threads: one per job, so a workstation runs as many jobs side by side as it has cores, except
# evaluate (the last job of each (embeddings, seed), often alone: blocks of its distances side by
# side) and a clusterer whose registry entry asks for more (Spectral: its exact k-NN search;
# Affinity Propagation: its message passes over rows), less one core where reductions may run
# beside it (cluster_threads); each gives the same result on any thread count. Snakemake gives a
# job at most --cores, as OMP_NUM_THREADS and OPENBLAS_NUM_THREADS, and zsc.logs.run_logged gives
# numba the same count.
import zsc.choose_k
import zsc.clusterers
import zsc.resources


def _shape_or(path, fallback):
    """(rows, dim) of `path`, or `fallback` while it is not written yet."""
    return zsc.resources.table_shape(path) if os.path.exists(path) else fallback


def embed_size(wildcards, input):
    encoder = CONFIG.entry("encoders", wildcards.encoder)
    info = CONFIG.info("encoders", wildcards.encoder)
    n, _ = zsc.resources.table_shape(input.manifest)
    return n, zsc.resources.embedding_dim(encoder, info), info["neural"]


def embed_mem_mb(wildcards, input, attempt):
    # a neural encoder's job asks for a GPU (encoder_gpus), so it is planned with CUDA's host side
    # unless the config keeps embedding on the CPU
    n, dim, neural = embed_size(wildcards, input)
    encoder = CONFIG.entry("encoders", wildcards.encoder)
    settings = CONFIG["embedding"]
    mem = zsc.resources.embed_mem_mb(
        n, dim, neural, encoder["image_size"], settings["batch_size"], gpu=neural and settings["device"] != "cpu"
    )
    return attempt * mem


def embed_runtime(wildcards, input, attempt):
    return attempt * zsc.resources.embed_runtime(embed_size(wildcards, input)[0])


def reduce_mem_mb(wildcards, input, attempt):
    reducer = CONFIG.entry("reducers", wildcards.reducer)
    return attempt * zsc.resources.reduce_mem_mb(*zsc.resources.table_shape(input.embeddings), reducer)


def reduce_runtime(wildcards, input, attempt):
    return attempt * zsc.resources.reduce_runtime(*zsc.resources.table_shape(input.embeddings))


def cluster_need(wildcards, input):
    """(bytes the clusterer plans to use, N, d of the reduction it clusters)."""
    n, d = _shape_or(input.reduced, zsc.resources.table_shape(input.embeddings))
    clusterer = CONFIG.clusterer(wildcards)
    memory = zsc.clusterers.CLUSTERERS[clusterer["type"]].info["memory"]
    limit_gb = CONFIG["limits"]["memory_gb"]
    limit = None if limit_gb is None else zsc.clusterers.memory_limit(limit_gb)
    return zsc.resources.cluster_need(memory, n, d, clusterer, limit), n, d


def cluster_threads(wildcards):
    """The registry entry's threads; a clusterer of the embeddings themselves (the identity reducer)
    leaves one of --cores to the reductions, which start with it (their `priority`) and each run
    on one thread: on two cores Spectral then runs beside UMAP instead of before it, alone."""
    threads = zsc.clusterers.CLUSTERERS[CONFIG.clusterer(wildcards)["type"]].info.get("threads", 1)
    if JOBS.is_identity(wildcards.reducer):
        threads = min(threads, max(1, workflow.cores - 1))
    return threads


def cluster_mem_mb(wildcards, input, attempt):
    need, n, d = cluster_need(wildcards, input)
    if zsc.choose_k.may_choose(CONFIG, wildcards):  # its candidates' labels and their silhouettes
        need += zsc.choose_k.memory_bytes(n, CONFIG.clusterer(wildcards))
    return attempt * zsc.resources.cluster_mem_mb(need, n, d)


def cluster_runtime(wildcards, input, attempt):
    need, n, _ = cluster_need(wildcards, input)
    return attempt * zsc.resources.cluster_runtime(need, n)


def evaluate_size(wildcards, input):
    """(N, dimensions of every space scored in: the embeddings, each reduction, the UMAP space)."""
    n, dim = zsc.resources.table_shape(input.embeddings)
    spaces = dict.fromkeys([*input.reduced, *input.umap])
    return n, [dim] + [_shape_or(path, (n, dim))[1] for path in spaces if path != input.embeddings]


def evaluate_mem_mb(wildcards, input, attempt):
    silhouette_n = CONFIG["metrics"]["silhouette_max_samples"]
    return attempt * zsc.resources.evaluate_mem_mb(*evaluate_size(wildcards, input), silhouette_n)


def evaluate_runtime(wildcards, input, attempt):
    return attempt * zsc.resources.evaluate_runtime(*evaluate_size(wildcards, input))


def labelfree_mem_mb(wildcards, input, attempt):
    return attempt * zsc.resources.labelfree_mem_mb(*zsc.resources.table_shape(input.embeddings))


def labelfree_runtime(wildcards, input, attempt):
    n, d = zsc.resources.table_shape(input.embeddings)
    return attempt * zsc.resources.labelfree_runtime(n, d, CONFIG["labelfree"]["agreement_seeds"])


def probes_size(wildcards, input):
    """(train points, query points, dimension); a carve splits the clustered split."""
    n, d = zsc.resources.table_shape(input.queries)
    return (zsc.resources.table_shape(input.train[0])[0] if input.train else n), n, d


def probes_mem_mb(wildcards, input, attempt):
    return attempt * zsc.resources.probes_mem_mb(*probes_size(wildcards, input))


def probes_runtime(wildcards, input, attempt):
    return attempt * zsc.resources.probes_runtime(*probes_size(wildcards, input), len(CONFIG["probes"]["Cs"]))
